"""Builds each connection's provider connector from the Dagster resources and the registry."""

from __future__ import annotations

from resources.google_resource import GoogleWorkspaceResource
from resources.microsoft_resource import MicrosoftGraphResource
from resources.provider import CalendarConnector, MailConnector
from resources.registry import Connection, ConnectionStore


class ConnectorFactory:
    """Decrypts a connection's credentials and hands them to its provider's connector.

    Microsoft connections also carry msal's token cache, stored encrypted beside the refresh
    token and saved back whenever msal changes it.
    """

    def __init__(
        self,
        registry: ConnectionStore,
        google: GoogleWorkspaceResource,
        microsoft: MicrosoftGraphResource,
    ) -> None:
        self.registry = registry
        self.google = google
        self.microsoft = microsoft

    def _microsoft_args(self, conn: Connection) -> tuple:
        def save(cache: str) -> None:
            self.registry.save_token_cache(conn.connection_id, cache)

        return (
            conn.owner_email,
            self.registry.refresh_token(conn.connection_id),
            self.registry.token_cache(conn.connection_id),
            save,
        )

    def mail(self, conn: Connection) -> MailConnector:
        if conn.provider == "microsoft":
            return self.microsoft.mail_connector(*self._microsoft_args(conn))
        return self.google.mail_connector(
            conn.owner_email, self.registry.refresh_token(conn.connection_id)
        )

    def calendar(self, conn: Connection) -> CalendarConnector:
        if conn.provider == "microsoft":
            return self.microsoft.calendar_connector(*self._microsoft_args(conn))
        return self.google.calendar_connector(
            conn.owner_email, self.registry.refresh_token(conn.connection_id)
        )
