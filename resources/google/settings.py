"""How Touchpoint reaches Google and how hard it pushes: one `GoogleSettings` per deployment,
shared by every Gmail and Calendar connector so both sign in, pace and retry alike."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from resources.rate_limit import ChargeAt

BatchFraming = Literal["touchpoint", "library"]

GMAIL_QUOTA_UNITS_PER_SECOND = 250
"""Gmail's per-user quota (new projects get 100)."""
MAX_BATCH_SIZE = 100
"""Gmail's largest batch; Google recommends 50."""
CALENDAR_REQUESTS_PER_MINUTE = 600
"""Google Calendar's per-user limit."""
CALENDAR_PAGE_SIZE = 2500
"""events.list's largest page."""

ENV_VARS = {
    "base_url": "TOUCHPOINT_GOOGLE_BASE_URL",
    "client_id": "TOUCHPOINT_GOOGLE_CLIENT_ID",
    "client_secret": "TOUCHPOINT_GOOGLE_CLIENT_SECRET",
}
"""Where a deployment puts the settings that have no default."""

OPTIONAL_ENV_VARS = {
    "batch_framing": "TOUCHPOINT_GOOGLE_BATCH_FRAMING",
    "quota_charge_at": "TOUCHPOINT_GOOGLE_QUOTA_CHARGE_AT",
}
"""Switches a deployment may flip without a code change (unset: the default)."""


@dataclass(frozen=True)
class GoogleSettings:
    """Plain settings (no Dagster): the connectors and tests build them directly.

    `base_url` has no default on purpose: nothing may reach a real provider unless the
    deployment says so. `sleep`, `clock` and `rng` are there so tests can drive pacing and
    backoff without waiting.
    """

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    token_uri: str | None = None
    auth_uri: str | None = None
    batch_size: int = 50
    quota_units_per_second: int = GMAIL_QUOTA_UNITS_PER_SECOND
    calendar_requests_per_minute: int = CALENDAR_REQUESTS_PER_MINUTE
    calendar_page_size: int = CALENDAR_PAGE_SIZE
    quota_charge_at: ChargeAt = "send"
    """When the pacer charges a call (resources/rate_limit.py); "answer" is the old, slower way."""
    batch_framing: BatchFraming = "touchpoint"
    """Who writes and reads Gmail's multipart batches (resources/google/batch.py): "library" is
    googleapiclient's BatchHttpRequest, the same wire format at about twice the sync's CPU."""
    max_attempts: int = 8
    max_retry_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def token_endpoint(self) -> str:
        """The OAuth token endpoint: configured, or Google's path under `base_url`."""
        return self.token_uri or self.root + "/token"

    @property
    def authorization_endpoint(self) -> str:
        """The OAuth consent endpoint: configured (Google's is
        https://accounts.google.com/o/oauth2/v2/auth), or Google's path under `base_url`."""
        return self.auth_uri or self.root + "/o/oauth2/v2/auth"


def sandbox_env(root_url: str, client_id: str, client_secret: str) -> dict[str, str]:
    """The environment that points a deployment at one stand-in root serving Google's paths."""
    values = {"base_url": root_url, "client_id": client_id, "client_secret": client_secret}
    return {ENV_VARS[key]: value for key, value in values.items()}
