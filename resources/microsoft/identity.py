"""Who a Microsoft refresh token belongs to, and whether it still works: Graph's user resource
(`/me` or `/users/{owner}`) with a narrow `$select`, the cheapest authenticated call that names
the user."""

from __future__ import annotations

from resources.microsoft.auth import GRAPH_MAIL_SCOPES, TokenUnavailable
from resources.microsoft.client import open_graph_client, user_path
from resources.microsoft.errors import classify_graph_error, failure
from resources.microsoft.settings import GraphSettings
from vocabulary.connectors import ApiStats, MailboxCredentials
from vocabulary.status import ConnectionStatus


def token_addresses(settings: GraphSettings, mailbox: MailboxCredentials) -> tuple[str, ...]:
    """The user's mail address and principal name (raises ConnectionFailure when Entra or Graph
    refuses the token)."""
    client = open_graph_client(
        mailbox.owner_email,
        mailbox.refresh_token,
        None,  # a token cache belongs to a verified connection, and this one is not yet
        None,
        scopes=GRAPH_MAIL_SCOPES,
        settings=settings,
        stats=ApiStats(),
    )
    try:
        url = client.url("me", {"$select": "id,mail,userPrincipalName"})
        answer = client.get(url, "graph.users.get")
    finally:
        client.close()
    if answer.body is None or not answer.ok:
        raise failure(ConnectionStatus.SYNC_ERROR, "profile_unreadable")
    found = (answer.body.get("mail"), answer.body.get("userPrincipalName"))
    return tuple(dict.fromkeys(str(a).strip().lower() for a in found if a))


def probe(settings: GraphSettings, mailbox: MailboxCredentials) -> None:
    """A token refresh and `GET /users/{owner}?$select=id,mail`, as the sync addresses the
    mailbox: raises the ConnectionFailure a sync would (another user's token included, through
    the client's `/me` check)."""
    client = open_graph_client(
        mailbox.owner_email,
        mailbox.refresh_token,
        mailbox.token_cache,
        mailbox.save_token_cache,
        scopes=GRAPH_MAIL_SCOPES,
        settings=settings,
        stats=ApiStats(),
    )
    try:
        try:
            # Refresh even when the cache holds a valid access token: a revoked grant must show
            # now, not when that access token expires up to an hour later.
            client.tokens.access_token(force_refresh=True)
        except TokenUnavailable as unavailable:
            # An outage of the token endpoint gets the client's retries below; the rest is final.
            if not unavailable.retryable:
                raise unavailable.failure from None
        answer = client.get(
            client.url(user_path(mailbox.owner_email), {"$select": "id,mail"}), "graph.users.get"
        )
    finally:
        client.close()
    if not answer.ok:
        # 404 comes back unraised (callers decide what "gone" means): here the user is gone.
        raise classify_graph_error(answer.status, answer.body)
