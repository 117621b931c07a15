"""Microsoft 365 (Graph mail and calendar, Entra sign-in) as a provider kit: the folder's one
entry point."""

from __future__ import annotations

from resources.kit import ProviderKit
from resources.microsoft.authorization import MicrosoftAuthorization
from resources.microsoft.calendar_connector import GraphCalendarConnector
from resources.microsoft.event_parsing import parse_graph_event
from resources.microsoft.identity import probe, token_addresses
from resources.microsoft.mail_connector import GraphMailConnector
from resources.microsoft.mail_parsing import parse_graph_message
from resources.microsoft.resource import MicrosoftGraphResource
from resources.microsoft.settings import GraphSettings, sandbox_env
from vocabulary.connectors import MailboxCredentials


def mail_connector(settings: GraphSettings, mailbox: MailboxCredentials) -> GraphMailConnector:
    # msal keeps its own token cache; it travels encrypted with the connection.
    return GraphMailConnector(
        mailbox.owner_email,
        mailbox.refresh_token,
        mailbox.token_cache,
        mailbox.save_token_cache,
        settings=settings,
    )


def calendar_connector(
    settings: GraphSettings, mailbox: MailboxCredentials
) -> GraphCalendarConnector:
    return GraphCalendarConnector(
        mailbox.owner_email,
        mailbox.refresh_token,
        mailbox.token_cache,
        mailbox.save_token_cache,
        settings=settings,
    )


MICROSOFT = ProviderKit(
    name="microsoft",
    label="Microsoft 365",
    resource=MicrosoftGraphResource.from_env,
    mail_connector=mail_connector,
    calendar_connector=calendar_connector,
    token_addresses=token_addresses,
    probe=probe,
    parse_message=parse_graph_message,
    parse_event=parse_graph_event,
    mail_kind="outlook",
    calendar_kind="outlook",
    authorization=MicrosoftAuthorization,
    sandbox_env=sandbox_env,
)
