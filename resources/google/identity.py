"""Who a Google refresh token belongs to: Gmail's `users.getProfile` of `me`, the cheapest
authenticated call (1 quota unit) that names the account."""

from __future__ import annotations

from typing import Any

from googleapiclient.discovery import build

from resources.google.client import GoogleApiSession, UndecodedJsonModel, decode_json_object
from resources.google.errors import failure
from resources.google.settings import GoogleSettings
from vocabulary.connectors import ApiStats, MailboxCredentials
from vocabulary.status import ConnectionStatus


def token_addresses(settings: GoogleSettings, mailbox: MailboxCredentials) -> tuple[str, ...]:
    """The address of the account the token was granted by (raises ConnectionFailure when
    Google refuses the token)."""
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
            # `me` on purpose: the question is whose token this is.
            return service.users().getProfile(userId="me").execute(num_retries=0)

        profile, error, _ = decode_json_object(session.call(send, 1))
    finally:
        session.close()
    if profile is None:
        raise failure(ConnectionStatus.SYNC_ERROR, f"profile_{error}")
    address = str(profile.get("emailAddress") or "").strip().lower()
    return (address,) if address else ()
