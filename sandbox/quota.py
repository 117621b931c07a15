"""Quota and throttling: the providers' limits and the per-mailbox sliding windows that meter them.

Providers state their limits as units per rolling window (Gmail: 250 units per user per
second), so each meter keeps every charge of the last window and always knows the busiest window
seen, which is what benchmarks compare against the limit. `Meters` holds Google's and Graph's
limits and one window per (mailbox, meter); `SandboxState` locks around it and counts the stats.
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


class Meters:
    """The limits in force and every mailbox's windows; not thread-safe (the state locks it).

    Meters: "gmail" (units per 1 s), "calendar" (Google Calendar, requests per 60 s), "graph"
    (requests per Graph window). A limit is only enforced while its provider's switch is on.
    """

    def __init__(self) -> None:
        self.google = QuotaConfig()
        self.graph = GraphLimits()
        self._windows: dict[tuple[str, str], SlidingWindow] = {}

    def configure_google(
        self,
        enabled: bool,
        units_per_second: int | None = None,
        calendar_requests_per_minute: int | None = None,
    ) -> None:
        quota = self.google
        quota.enabled = bool(enabled)
        if units_per_second is not None:
            if int(units_per_second) <= 0:
                raise ValueError("units_per_second must be positive")
            quota.units_per_second = int(units_per_second)
        if calendar_requests_per_minute is not None:
            if int(calendar_requests_per_minute) <= 0:
                raise ValueError("calendar_requests_per_minute must be positive")
            quota.calendar_requests_per_minute = int(calendar_requests_per_minute)

    def google_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.google.enabled,
            "units_per_second": self.google.units_per_second,
            "calendar_requests_per_minute": self.google.calendar_requests_per_minute,
        }

    def configure_graph(
        self,
        enabled: bool,
        max_concurrent: int | None = None,
        requests_per_window: int | None = None,
        window_seconds: float | None = None,
    ) -> None:
        limits = self.graph
        limits.enabled = bool(enabled)
        for name, value in (
            ("max_concurrent", max_concurrent),
            ("requests_per_window", requests_per_window),
        ):
            if value is not None:
                if int(value) <= 0:
                    raise ValueError(f"{name} must be positive")
                setattr(limits, name, int(value))
        if window_seconds is not None:
            if float(window_seconds) <= 0:
                raise ValueError("window_seconds must be positive")
            limits.window_seconds = float(window_seconds)
            for key in [k for k in self._windows if k[1] == "graph"]:
                del self._windows[key]

    def window(self, mailbox: str, meter: str) -> tuple[SlidingWindow, int | None]:
        """The mailbox's window for `meter` (created on first use) and the limit to enforce
        (None while the provider's limits are off)."""
        window_s, limit = self._limits(meter)
        window = self._windows.get((mailbox, meter))
        if window is None:
            window = self._windows[(mailbox, meter)] = SlidingWindow(window_s)
        return window, limit

    def _limits(self, meter: str) -> tuple[float, int | None]:
        quota, graph = self.google, self.graph
        if meter == "gmail":
            return 1.0, quota.units_per_second if quota.enabled else None
        if meter == "calendar":
            return 60.0, quota.calendar_requests_per_minute if quota.enabled else None
        if meter == "graph":
            return graph.window_seconds, graph.requests_per_window if graph.enabled else None
        raise ValueError(f"unknown meter {meter!r}")

    def reset(self) -> None:
        for window in self._windows.values():
            window.reset()
