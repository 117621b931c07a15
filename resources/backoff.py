"""When to try a provider call again: Retry-After headers and capped, jittered backoff.

Provider-neutral (no client library), so the Google and Microsoft connectors wait the same way.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

BASE_BACKOFF_SECONDS = 0.5


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After value (delta-seconds or an HTTP date); never negative."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after_from_headers(
    headers: Mapping[str, str] | None, now: datetime | None = None
) -> float | None:
    """The Retry-After of a header mapping, whatever the case of its name."""
    if not headers:
        return None
    for name, value in headers.items():
        if str(name).lower() == "retry-after":
            return parse_retry_after(str(value), now)
    return None


class Backoff:
    """Waits before retry `attempt` (1-based): exponential from `base_seconds`, capped at
    `max_wait_seconds`, jittered to 50-100% so many mailboxes do not retry in step, and never
    shorter than the provider's Retry-After.
    """

    def __init__(
        self,
        max_wait_seconds: float,
        *,
        base_seconds: float = BASE_BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.max_wait_seconds = max_wait_seconds
        self.base_seconds = base_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()

    def too_long(self, retry_after: float | None) -> bool:
        """True when the provider asks for a longer wait than we are willing to spend."""
        return retry_after is not None and retry_after > self.max_wait_seconds

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_wait_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return max(retry_after or 0.0, backoff * self._rng.uniform(0.5, 1.0))

    def wait(self, attempt: int, retry_after: float | None) -> float:
        """Sleeps the delay for `attempt` and returns it."""
        seconds = self.delay(attempt, retry_after)
        self._sleep(seconds)
        return seconds
