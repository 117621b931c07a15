"""Calendar rules every provider shares, without I/O.

- Times become aware UTC. An all-day event is a calendar date, not an instant: it starts at the
  UTC midnight of its first date and ends at the UTC midnight after its last, whatever zone the
  calendar is in, so it lands on its own date's partition.
- `ical_uid` is the organiser's UID as other calendars see it. Outlook writes UIDs as global
  object ids (hex, with the occurrence's date inside); the date is zeroed and a wrapped foreign
  UID (`vCal-Uid`) is unwrapped, so a meeting on a Google and an Outlook calendar gets the same
  `ical_uid`, and every occurrence of a series shares it.
- Zones are reported as IANA names, whichever way the provider spells them.
- A payload without an id or a readable start is quarantined, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from vocabulary.records import RawEvent
from vocabulary.text import identify_listed_item, normalize_address, one_line
from vocabulary.windows import SyncWindow

GOID_CLASS_ID = "040000008200E00074C5B7101A82E008"
"""First 16 bytes (hex) of every Outlook meeting's global object id (MS-OXOCAL 2.2.1.27)."""
_VCAL_MARKER = b"vCal-Uid\x01\x00\x00\x00"

_UTC_NAMES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "z", "coordinated universal time"})
WINDOWS_ZONES: dict[str, str] = {
    "Dateline Standard Time": "Etc/GMT+12",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "SA Pacific Standard Time": "America/Bogota",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "GTB Standard Time": "Europe/Bucharest",
    "FLE Standard Time": "Europe/Kyiv",
    "E. Europe Standard Time": "Europe/Chisinau",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arabian Standard Time": "Asia/Dubai",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "New Zealand Standard Time": "Pacific/Auckland",
}
"""Outlook names zones by their Windows ids; the common ones (CLDR's windowsZones, territory
001, with current IANA spellings) as IANA names, so both providers report a meeting's zone the
same way."""


class Unusable(Exception):
    """A payload the record cannot be built from; `reason` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def text_or_none(value: Any) -> str | None:
    """Stripped single-line text (see `one_line`), or None when there is none."""
    return one_line(value)[0].strip() or None if isinstance(value, str) else None


def address_or_none(value: Any) -> str | None:
    return normalize_address(value) if isinstance(value, str) else None


def display_name(value: Any, address: str | None) -> str | None:
    """A display name, or None when there is none (providers repeat the address instead)."""
    name = text_or_none(value)
    return None if name is None or name.lower() == address else name


def iana_zone_name(name: Any) -> str | None:
    """An IANA name for `name` (Windows ids translated, UTC spelled any common way)."""
    if not isinstance(name, str) or not name.strip():
        return None
    name = name.strip()
    if name.lower() in _UTC_NAMES:
        return "UTC"
    return WINDOWS_ZONES.get(name, name)


def zone(name: Any) -> ZoneInfo | None:
    """The zone `name` (IANA or Windows id), or None when unknown."""
    iana = iana_zone_name(name)
    if iana is None:
        return None
    try:
        return ZoneInfo(iana)
    except (ValueError, KeyError, OSError):
        return None


def normalize_ical_uid(value: Any) -> str | None:
    """The organiser's UID: an Outlook global object id loses its occurrence date (upper-case
    hex), a wrapped foreign UID is unwrapped; anything else is kept as is."""
    uid = text_or_none(value)
    if uid is None:
        return None
    if not uid.upper().startswith(GOID_CLASS_ID):
        return uid
    try:
        raw = bytes.fromhex(uid)
    except ValueError:
        return uid
    if len(raw) < 40:
        return uid
    data = raw[40:]
    if data.startswith(_VCAL_MARKER):
        try:
            return data[len(_VCAL_MARKER) :].rstrip(b"\x00").decode("utf-8") or uid
        except UnicodeDecodeError:
            return uid
    return (raw[:16] + b"\x00\x00\x00\x00" + raw[20:]).hex().upper()


def owner_set(owner_addresses: Iterable[str]) -> set[str]:
    return {a.strip().lower() for a in owner_addresses if isinstance(a, str) and a.strip()}


def events_in_window(
    items: Iterable[Any],
    window: SyncWindow,
    start_of: Callable[[Mapping[str, Any]], datetime | None],
) -> list[RawEvent]:
    """Listed occurrences as RawEvents, each once, kept only when `start_of` files it in
    `window`. Providers list by overlap, so this is what puts every occurrence in exactly one
    window. Unreadable items are kept (the sync quarantines them) under the id they carry or a
    stable stand-in (`identify_listed_item`)."""
    out: dict[str, RawEvent] = {}
    for item in items:
        event_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(event_id, str) or not event_id:
            key, error, excerpt = identify_listed_item(item)
            if isinstance(item, dict):
                out.setdefault(key, RawEvent(key, item))
            else:
                out.setdefault(key, RawEvent(key, None, error, excerpt))
            continue
        start = start_of(item)
        if start is None or window.start <= start < window.end:
            out.setdefault(event_id, RawEvent(event_id, item))
    return list(out.values())
