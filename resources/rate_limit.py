"""A sliding-window pacer for provider quota units, so a connector never earns a 429 itself.

Providers meter units per rolling window at the moment *they* handle each call, which is some
time between our send and our receipt of the answer. Charging a call at the moment its answer
arrives (`record` after the call) and admitting a new call only when the units of the last
window plus its own fit (`acquire` before it) therefore keeps every window the provider can
see within the limit, for one sequential caller.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class QuotaPacer:
    """Keeps quota units per `window_seconds` at or below `units_per_window`.

    `clock` and `sleep` are injectable so tests run without waiting; `margin_seconds` absorbs
    clock granularity between us and the provider.
    """

    def __init__(
        self,
        units_per_window: int,
        *,
        window_seconds: float = 1.0,
        margin_seconds: float = 0.01,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if units_per_window <= 0:
            raise ValueError("units_per_window must be positive")
        self.units_per_window = units_per_window
        self.window_seconds = window_seconds
        self.margin_seconds = margin_seconds
        self._clock = clock
        self._sleep = sleep
        self._charges: deque[tuple[float, int]] = deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        while self._charges and self._charges[0][0] <= horizon:
            self._used -= self._charges.popleft()[1]

    def used(self) -> int:
        """Units charged within the current window."""
        self._expire(self._clock())
        return self._used

    def wait_needed(self, units: int) -> float:
        """Seconds until `units` more fit in the window (0 when they fit now)."""
        if units > self.units_per_window:
            raise ValueError(f"{units} units can never fit a window of {self.units_per_window}")
        now = self._clock()
        self._expire(now)
        excess = self._used + units - self.units_per_window
        if excess <= 0:
            return 0.0
        freed = 0
        for charged_at, charged in self._charges:
            freed += charged
            if freed >= excess:
                return charged_at + self.window_seconds - now + self.margin_seconds
        return self._charges[-1][0] + self.window_seconds - now + self.margin_seconds

    def acquire(self, units: int) -> float:
        """Blocks until `units` fit; returns the seconds spent waiting."""
        waited = 0.0
        while (delay := self.wait_needed(units)) > 0:
            self._sleep(delay)
            waited += delay
        return waited

    def record(self, units: int) -> None:
        """Charges `units` now; call it when the provider's answer has arrived."""
        now = self._clock()
        self._expire(now)
        self._charges.append((now, units))
        self._used += units
