"""A per-mailbox sliding-window meter of quota units, enforcing a limit when asked.

Providers state their limits as units per rolling window (Gmail: 250 units per user per
second), so the meter keeps every charge of the last window and always knows the busiest window
seen, which is what benchmarks compare against the limit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class QuotaConfig:
    """Google's per-user limits: Gmail units per second, Calendar requests per minute."""

    enabled: bool = False
    units_per_second: int = 250
    calendar_requests_per_minute: int = 600


@dataclass
class GraphLimits:
    """Outlook's per-mailbox limits behind Microsoft Graph (enforced only when `enabled`)."""

    enabled: bool = False
    max_concurrent: int = 4
    requests_per_window: int = 10_000
    window_seconds: float = 600.0

    def to_dict(self) -> dict[str, Any]:
        return {"provider": "microsoft", **asdict(self)}


class SlidingWindow:
    """Units charged in the last `window_s` seconds; not thread-safe (the state locks it)."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._charges: deque[tuple[float, int]] = deque()
        self._total = 0
        self.max_units = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self._charges and self._charges[0][0] <= horizon:
            _, units = self._charges.popleft()
            self._total -= units

    def used(self, now: float) -> int:
        self._expire(now)
        return self._total

    def try_charge(self, units: int, now: float, limit: int | None) -> bool:
        """Charges `units` unless that would exceed `limit` within the window (None: no limit)."""
        self._expire(now)
        if limit is not None and self._total + units > limit:
            return False
        self._charges.append((now, units))
        self._total += units
        self.max_units = max(self.max_units, self._total)
        return True

    def retry_after(self, now: float) -> int:
        """Whole seconds until the oldest charge leaves the window (at least 1)."""
        self._expire(now)
        if not self._charges:
            return 1
        return max(1, math.ceil(self._charges[0][0] + self.window_s - now))

    def reset(self) -> None:
        self._charges.clear()
        self._total = 0
        self.max_units = 0
