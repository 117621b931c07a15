"""How Touchpoint reaches Entra and Graph and how hard it pushes: one `GraphSettings` per
deployment, shared by every Graph connector (mail and calendar) so both sign in, pace and retry
alike."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from resources.rate_limit import ChargeAt

MICROSOFT_LOGIN_URL = "https://login.microsoftonline.com"
"""msal only accepts https authorities; requests to this root are rewritten to `login_base_url`."""
DEFAULT_TENANT = "organizations"
MAX_BATCH_SIZE = 20
"""Graph's limit of requests per `$batch`."""
REQUESTS_PER_WINDOW = 10_000
WINDOW_SECONDS = 600.0
"""Graph's Outlook limit: 10,000 requests per mailbox per 10 minutes."""

ENV_VARS = {
    "graph_base_url": "TOUCHPOINT_MICROSOFT_GRAPH_BASE_URL",
    "login_base_url": "TOUCHPOINT_MICROSOFT_LOGIN_BASE_URL",
    "client_id": "TOUCHPOINT_MICROSOFT_CLIENT_ID",
    "client_secret": "TOUCHPOINT_MICROSOFT_CLIENT_SECRET",
}
"""Where a deployment puts its settings (`login_base_url` is optional: Entra by default)."""


MAX_PAGE_SIZE = 1000
"""Graph's largest `$top` for messages and calendarView."""


@dataclass(frozen=True)
class GraphSettings:
    """How to reach Entra and Graph and how hard to push them: one per deployment, shared by
    every Graph connector (mail and calendar) so both pace, retry and sign in alike."""

    graph_base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    login_base_url: str = MICROSOFT_LOGIN_URL
    tenant: str = DEFAULT_TENANT
    page_size: int = MAX_PAGE_SIZE
    batch_size: int = MAX_BATCH_SIZE
    requests_per_ten_minutes: int = REQUESTS_PER_WINDOW
    throttle_window_seconds: float = WINDOW_SECONDS
    quota_charge_at: ChargeAt = "send"
    """When the pacer charges a call (resources/rate_limit.py); "answer" is the old, slower way."""
    max_attempts: int = 8
    max_retry_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random | None = None

    @property
    def top(self) -> int:
        """`$top` of listings, within what Graph accepts."""
        return max(1, min(self.page_size, MAX_PAGE_SIZE))


def sandbox_env(root_url: str, client_id: str, client_secret: str) -> dict[str, str]:
    """The environment that points a deployment at one stand-in root serving Entra's and
    Graph's paths (Graph under /v1.0, as at graph.microsoft.com)."""
    values = {
        "graph_base_url": root_url + "/v1.0",
        "login_base_url": root_url,
        "client_id": client_id,
        "client_secret": client_secret,
    }
    return {ENV_VARS[key]: value for key, value in values.items()}
