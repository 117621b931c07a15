"""Who a Google refresh token belongs to, and whether it still works: Gmail's
`users.getProfile`, the cheapest authenticated call (1 quota unit) that names the account."""

from __future__ import annotations

from typing import Any

from googleapiclient.discovery import build

from resources.google.client import GoogleApiSession, UndecodedJsonModel, decode_json_object
from resources.google.errors import failure
from resources.google.settings import GoogleSettings
from vocabulary.connectors import ApiStats, MailboxCredentials
from vocabulary.status import ConnectionStatus


def _profile(settings: GoogleSettings, mailbox: MailboxCredentials, user_id: str) -> dict[str, Any]:
    """`users.getProfile` of `user_id` after a fresh token refresh (the session starts with no
    access token); raises the classified ConnectionFailure the sync would."""
    session = GoogleApiSession(
        mailbox.refresh_token,
        settings,
        stats=ApiStats(),
        units_per_window=settings.quota_units_per_second,
    )
    try:
        service = build(
            "gmail",
            "v1",
            http=session.authorized_http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": settings.root + "/"},
            model=UndecodedJsonModel(),
        )

        def send() -> Any:
            return service.users().getProfile(userId=user_id).execute(num_retries=0)

        profile, error, _ = decode_json_object(session.call(send, 1, "gmail.users.getProfile"))
    finally:
        session.close()
    if profile is None:
        raise failure(ConnectionStatus.SYNC_ERROR, f"profile_{error}")
    return profile


def token_addresses(settings: GoogleSettings, mailbox: MailboxCredentials) -> tuple[str, ...]:
    """The address of the account the token was granted by (raises ConnectionFailure when
    Google refuses the token)."""
    # `me` on purpose: the question is whose token this is.
    profile = _profile(settings, mailbox, "me")
    address = str(profile.get("emailAddress") or "").strip().lower()
    return (address,) if address else ()


def probe(settings: GoogleSettings, mailbox: MailboxCredentials) -> None:
    """One token refresh and `users.getProfile` of the owner's address, as the sync addresses it:
    a revoked grant, a suspended mailbox or another account's token ("Delegation denied") raise
    the same ConnectionFailure a sync would."""
    _profile(settings, mailbox, mailbox.owner_email)
