"""Microsoft 365 as a Dagster resource: the app's settings, handing out Graph connectors."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
from pydantic import Field

from resources.graph_client import GraphSettings
from resources.microsoft_auth import DEFAULT_TENANT, MICROSOFT_LOGIN_URL
from resources.microsoft_calendar import GraphCalendarConnector
from resources.microsoft_mail import GraphMailConnector


class MicrosoftGraphResource(dg.ConfigurableResource):
    """Touchpoint's Entra ID app and Graph pacing settings.

    `graph_base_url` has no default on purpose: nothing may reach a real provider unless the
    deployment says so. Pass `client_secret` as `dg.EnvVar` so it never lands in run config.
    """

    graph_base_url: str = Field(
        description="Versioned root of Microsoft Graph, e.g. https://graph.microsoft.com/v1.0."
    )
    login_base_url: str = Field(
        default=MICROSOFT_LOGIN_URL,
        description="Where msal's https://login.microsoftonline.com requests go (the sandbox).",
    )
    client_id: str = Field(description="Application (client) id of Touchpoint's Entra app.")
    client_secret: str = Field(description="Client secret of the Entra app; pass as dg.EnvVar.")
    tenant: str = Field(
        default=DEFAULT_TENANT,
        description="Authority tenant: 'organizations' (any work account) or a tenant id.",
    )
    batch_size: int = Field(default=20, ge=1, le=20, description="Requests per $batch.")
    page_size: int = Field(default=1000, ge=1, le=1000, description="$top of listings.")
    requests_per_ten_minutes: int = Field(
        default=10_000,
        ge=20,
        description="Graph requests per mailbox per 10 minutes to stay below.",
    )
    max_attempts: int = Field(default=8, ge=1, description="Tries per request before giving up.")
    max_retry_wait_seconds: float = Field(
        default=60.0, gt=0, description="Longest single wait before a retry."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="HTTP timeout per request.")

    def settings(self) -> GraphSettings:
        """What every Graph connector of this deployment signs in and paces with."""
        return GraphSettings(
            graph_base_url=self.graph_base_url,
            login_base_url=self.login_base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            tenant=self.tenant,
            page_size=self.page_size,
            requests_per_ten_minutes=self.requests_per_ten_minutes,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            timeout_seconds=self.timeout_seconds,
        )

    def mail_connector(
        self,
        owner_email: str,
        refresh_token: str,
        token_cache: str | None = None,
        save_token_cache: Callable[[str], None] | None = None,
    ) -> GraphMailConnector:
        """A mail connector for one mailbox: its (decrypted) refresh token, msal cache and the
        callback that stores the cache back (encrypted) when msal changed it."""
        return GraphMailConnector(
            owner_email,
            refresh_token,
            token_cache,
            save_token_cache,
            settings=self.settings(),
            batch_size=self.batch_size,
        )

    def calendar_connector(
        self,
        owner_email: str,
        refresh_token: str,
        token_cache: str | None = None,
        save_token_cache: Callable[[str], None] | None = None,
    ) -> GraphCalendarConnector:
        """A calendar connector for one mailbox; same arguments as `mail_connector`."""
        return GraphCalendarConnector(
            owner_email, refresh_token, token_cache, save_token_cache, settings=self.settings()
        )
