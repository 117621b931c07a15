"""Who a Microsoft refresh token belongs to: Graph's `GET /me` with `$select=id,mail,
userPrincipalName`, the cheapest authenticated call that names the user."""

from __future__ import annotations

from resources.microsoft.auth import GRAPH_MAIL_SCOPES
from resources.microsoft.client import open_graph_client
from resources.microsoft.errors import failure
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
