"""Reading provider times as aware UTC datetimes: the one rule every parser applies."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def utc_midnight(day: date) -> datetime:
    """The UTC midnight that starts `day`: where an all-day event or a partition begins."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def parse_iso_datetime(value: Any, zone_name: str | None = "UTC") -> datetime | None:
    """An ISO 8601 time (Graph, Google) as an aware UTC datetime, or None.

    Takes `...Z`, explicit offsets, and Graph's offset-less `dateTimeTimeZone` text with seven
    fractional digits; an offset-less value is read in `zone_name` (UTC unless told; callers
    with another zone convert it themselves).
    """
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if zone_name not in (None, "UTC", "Etc/UTC", "GMT", "Etc/GMT"):
            return None
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
