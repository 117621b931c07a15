"""Google (Gmail and Google Calendar) as a provider kit: the folder's one entry point."""

from __future__ import annotations

from resources.google.authorization import GoogleAuthorization
from resources.google.calendar_connector import GoogleCalendarConnector
from resources.google.event_parsing import parse_google_event
from resources.google.identity import probe, token_addresses
from resources.google.mail_connector import GoogleMailConnector
from resources.google.mail_parsing import parse_gmail_message
from resources.google.resource import GoogleWorkspaceResource
from resources.google.settings import GoogleSettings, sandbox_env
from resources.kit import ProviderKit
from vocabulary.connectors import MailboxCredentials


def mail_connector(settings: GoogleSettings, mailbox: MailboxCredentials) -> GoogleMailConnector:
    return GoogleMailConnector(mailbox.owner_email, mailbox.refresh_token, settings=settings)


def calendar_connector(
    settings: GoogleSettings, mailbox: MailboxCredentials
) -> GoogleCalendarConnector:
    # Same refresh token as the mailbox: one consent grants both scopes.
    return GoogleCalendarConnector(mailbox.owner_email, mailbox.refresh_token, settings=settings)


GOOGLE = ProviderKit(
    name="google",
    label="Google Workspace",
    resource=GoogleWorkspaceResource.from_env,
    mail_connector=mail_connector,
    calendar_connector=calendar_connector,
    token_addresses=token_addresses,
    probe=probe,
    parse_message=parse_gmail_message,
    parse_event=parse_google_event,
    mail_kind="gmail",
    calendar_kind="googlecalendar",
    authorization=GoogleAuthorization,
    sandbox_env=sandbox_env,
)
