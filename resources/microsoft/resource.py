"""Microsoft 365 as a Dagster resource: Touchpoint's Entra app settings, and nothing else.

Thin on purpose: connectors are built by the provider kit from the plain `GraphSettings` this
resource hands out, so they test without Dagster.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from resources.microsoft.settings import (
    DEFAULT_TENANT,
    ENV_VARS,
    MAX_BATCH_SIZE,
    MICROSOFT_LOGIN_URL,
    GraphSettings,
)


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
    batch_size: int = Field(
        default=MAX_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE, description="Requests per $batch."
    )
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

    @classmethod
    def from_env(cls) -> MicrosoftGraphResource:
        """The deployment's resource: every setting named in ENV_VARS comes from the environment."""
        return cls(**{key: dg.EnvVar(name) for key, name in ENV_VARS.items()})

    def settings(self) -> GraphSettings:
        """What every Graph connector of this deployment signs in and paces with."""
        return GraphSettings(
            graph_base_url=self.graph_base_url,
            login_base_url=self.login_base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            tenant=self.tenant,
            page_size=self.page_size,
            batch_size=self.batch_size,
            requests_per_ten_minutes=self.requests_per_ten_minutes,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            timeout_seconds=self.timeout_seconds,
        )
