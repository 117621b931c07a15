"""The half-open UTC window a sync works on; one tenant-day partition is one window."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SyncWindow:
    """A half-open UTC interval `[start, end)`; a tenant-day partition is one of these."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("SyncWindow needs timezone-aware datetimes (UTC)")
        if self.end <= self.start:
            raise ValueError(f"SyncWindow end {self.end} is not after start {self.start}")

    @classmethod
    def for_day(cls, day: datetime) -> SyncWindow:
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(start, start + timedelta(days=1))

    def days(self) -> Iterator[SyncWindow]:
        """The UTC days of the window, each as its own window."""
        day = self.start
        while day < self.end:
            yield SyncWindow.for_day(day)
            day += timedelta(days=1)
