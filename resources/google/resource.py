"""Google Workspace as a Dagster resource: Touchpoint's Google app settings, and nothing else.

Thin on purpose: connectors are built by the provider kit from the plain `GoogleSettings` this
resource hands out, so they test without Dagster.
"""

from __future__ import annotations

import os
from typing import get_args

import dagster as dg
from pydantic import Field

from resources.google.settings import (
    CALENDAR_PAGE_SIZE,
    CALENDAR_REQUESTS_PER_MINUTE,
    ENV_VARS,
    GMAIL_QUOTA_UNITS_PER_SECOND,
    MAX_BATCH_SIZE,
    OPTIONAL_ENV_VARS,
    BatchFraming,
    GoogleSettings,
)
from resources.rate_limit import ChargeAt


class GoogleWorkspaceResource(dg.ConfigurableResource):
    """Touchpoint's Google OAuth app and pacing settings.

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
    auth_uri: str | None = Field(
        default=None,
        description="OAuth consent endpoint (reconnect); default base_url + '/o/oauth2/v2/auth'.",
    )
    batch_size: int = Field(
        default=50, ge=1, le=MAX_BATCH_SIZE, description="Gmail calls per batch."
    )
    quota_units_per_second: int = Field(
        default=GMAIL_QUOTA_UNITS_PER_SECOND,
        ge=5,
        description="Gmail quota units per second per user to stay under.",
    )
    calendar_requests_per_minute: int = Field(
        default=CALENDAR_REQUESTS_PER_MINUTE,
        ge=1,
        description="Google Calendar requests per minute per user to stay under.",
    )
    calendar_page_size: int = Field(
        default=CALENDAR_PAGE_SIZE, ge=1, le=CALENDAR_PAGE_SIZE, description="events.list page."
    )
    max_attempts: int = Field(default=8, ge=1, description="Tries per call before giving up.")
    max_retry_wait_seconds: float = Field(
        default=60.0, gt=0, description="Longest single wait before a retry."
    )
    timeout_seconds: float = Field(default=30.0, gt=0, description="HTTP timeout per request.")
    batch_framing: BatchFraming = Field(
        default="touchpoint",
        description="Who frames Gmail batches: 'touchpoint' (resources/google/batch.py) or "
        "'library' (googleapiclient's BatchHttpRequest, same wire format, more CPU).",
    )
    quota_charge_at: ChargeAt = Field(
        default="send",
        description="When the pacer charges a call: 'send' or 'answer' (slower, never early).",
    )

    @classmethod
    def from_env(cls) -> GoogleWorkspaceResource:
        """The deployment's resource: the settings without defaults come from the environment,
        and so may the switches in OPTIONAL_ENV_VARS; a value they do not know is one clear
        error at load."""
        switches = {}
        for key, name in OPTIONAL_ENV_VARS.items():
            value = os.environ.get(name, "").strip()
            if not value:
                continue
            allowed = get_args(cls.model_fields[key].annotation)
            if value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
            switches[key] = value
        return cls(**{key: dg.EnvVar(name) for key, name in ENV_VARS.items()}, **switches)

    def settings(self) -> GoogleSettings:
        """What every Google connector of this deployment signs in and paces with."""
        return GoogleSettings(
            base_url=self.base_url,
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_uri=self.token_uri,
            auth_uri=self.auth_uri,
            batch_size=self.batch_size,
            quota_units_per_second=self.quota_units_per_second,
            calendar_requests_per_minute=self.calendar_requests_per_minute,
            calendar_page_size=self.calendar_page_size,
            max_attempts=self.max_attempts,
            max_retry_wait_seconds=self.max_retry_wait_seconds,
            timeout_seconds=self.timeout_seconds,
            batch_framing=self.batch_framing,
            quota_charge_at=self.quota_charge_at,
        )
