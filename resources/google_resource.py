"""Google Workspace as a Dagster resource: the app's settings, handing out mailbox and calendar
connectors."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resources.google_calendar import GoogleCalendarConnector
from resources.google_mail import GoogleMailConnector


class GoogleWorkspaceResource(dg.ConfigurableResource):
    """Touchpoint's Google OAuth app and Gmail pacing settings.

    `base_url` has no default on purpose: nothing may reach a real provider unless the
    deployment says so (the sandbox URL comes from the environment). Pass `client_secret` as
    `dg.EnvVar` so it never lands in run config.
    """

    base_url: str = Field(description="Root of Google's APIs, e.g. the sandbox's base URL.")
    client_id: str = Field(description="OAuth client id of Touchpoint's Google app.")
    client_secret: str = Field(description="OAuth client secret; pass as dg.EnvVar.")
    token_uri: str | None = Field(
        default=None, description="OAuth token endpoint; default base_url + '/token'."
    )
    batch_size: int = Field(default=50, ge=1, le=100, description="Gmail calls per batch.")
    quota_units_per_second: int = Field(
        default=250, ge=5, description="Gmail quota units per second per user to stay under."
    )
    max_attempts: int = Field(default=8, ge=1, description="Tries per call before giving up.")
    max_retry_wait_seconds: float = Field(
        default=60.0, gt=0, description="Longest single wait before a retry."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="HTTP timeout per request.")

    def mail_connector(self, owner_email: str, refresh_token: str) -> GoogleMailConnector:
        """A connector for one mailbox, authorised by its (decrypted) refresh token."""
        return GoogleMailConnector(
            owner_email,
            refresh_token,
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_uri=self.token_uri,
            batch_size=self.batch_size,
            quota_units_per_second=self.quota_units_per_second,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            timeout_seconds=self.timeout_seconds,
        )

    def calendar_connector(self, owner_email: str, refresh_token: str) -> GoogleCalendarConnector:
        """A connector for one user's primary calendar, authorised by the same refresh token."""
        return GoogleCalendarConnector(
            owner_email,
            refresh_token,
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_uri=self.token_uri,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            timeout_seconds=self.timeout_seconds,
        )
