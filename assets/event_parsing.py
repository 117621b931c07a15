"""Turning Google Calendar and Microsoft Graph event occurrences into `MeetingRecord`s, without
I/O.

Both providers hand over occurrences already expanded from their series. The rules the two
parsers share:
- Times become aware UTC. An all-day event is a calendar date, not an instant: it starts at the
  UTC midnight of its first date and ends at the UTC midnight after its last, whatever zone the
  calendar is in, so it lands on its own date's partition.
- `ical_uid` is the organiser's UID as other calendars see it. Graph writes UIDs as Outlook
  global object ids (hex, with the occurrence's date inside `iCalUId`); the date is zeroed and a
  wrapped foreign UID (`vCal-Uid`) is unwrapped, so a meeting on a Google and an Outlook
  calendar gets the same `ical_uid`, and every occurrence of a series shares it.
- Attendees are the invitees: the organiser (whom Google lists among them) is kept apart in
  `organizer_email`, rooms and other resources are left out, and responses map onto RESPONSES
  (needsAction / notResponded -> none).
A payload without an id or a readable start is quarantined, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assets.email_parsing import normalize_address, safe_excerpt
from assets.email_records import QuarantinedRecord
from assets.graph_parsing import identify_listed_item, parse_graph_datetime
from assets.meeting_records import Attendee, MeetingRecord
from resources.provider import RawEvent, SyncWindow

GOID_CLASS_ID = "040000008200E00074C5B7101A82E008"
"""First 16 bytes (hex) of every Outlook meeting's global object id (MS-OXOCAL 2.2.1.27)."""
_VCAL_MARKER = b"vCal-Uid\x01\x00\x00\x00"

GOOGLE_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "none",
}
GRAPH_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "organizer": "organizer",
    "notResponded": "none",
    "none": "none",
}
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


class _Unusable(Exception):
    """A payload the record cannot be built from; `reason` is the quarantine reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _json_excerpt(payload: Any) -> str:
    try:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(payload)
    return safe_excerpt(text)


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _address(value: Any) -> str | None:
    return normalize_address(value) if isinstance(value, str) else None


def _name(value: Any, address: str | None) -> str | None:
    """A display name, or None when there is none (providers repeat the address instead)."""
    name = _text(value)
    return None if name is None or name.lower() == address else name


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


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
    uid = _text(value)
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


def _owner_set(owner_addresses: Iterable[str]) -> set[str]:
    return {a.strip().lower() for a in owner_addresses if isinstance(a, str) and a.strip()}


def _quarantine(raw: RawEvent) -> QuarantinedRecord | None:
    if raw.payload is None:
        excerpt = safe_excerpt(raw.excerpt) if raw.excerpt is not None else None
        return QuarantinedRecord(raw.provider_event_id, raw.error or "no_payload", excerpt=excerpt)
    if not isinstance(raw.payload, Mapping):
        return QuarantinedRecord(
            raw.provider_event_id, "not_object", excerpt=_json_excerpt(raw.payload)
        )
    payload = raw.payload
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        return QuarantinedRecord(
            raw.provider_event_id, "missing_id", excerpt=_json_excerpt(payload)
        )
    if payload["id"] != raw.provider_event_id:
        return QuarantinedRecord(
            raw.provider_event_id, "id_mismatch", excerpt=_json_excerpt(payload)
        )
    return None


# ---- Google Calendar ------------------------------------------------------------------------


def _google_time(value: Any, what: str) -> tuple[datetime, bool, str | None]:
    """`(UTC start, all_day, zone)` of a Google `EventDateTime` (`date` or `dateTime`)."""
    if not isinstance(value, Mapping):
        raise _Unusable(f"missing_{what}")
    zone_name = _text(value.get("timeZone"))
    if value.get("dateTime") not in (None, ""):
        text = value["dateTime"]
        parsed = None
        if isinstance(text, str):
            try:
                parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                parsed = None
        if parsed is None:
            raise _Unusable(f"invalid_{what}")
        if parsed.tzinfo is None:  # RFC 3339 requires an offset; fall back to the named zone
            tz = zone(zone_name)
            if tz is None:
                raise _Unusable(f"invalid_{what}")
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC), False, zone_name
    if value.get("date") not in (None, ""):
        try:
            day = date.fromisoformat(str(value["date"]).strip())
        except ValueError:
            raise _Unusable(f"invalid_{what}") from None
        return utc_midnight(day), True, zone_name
    raise _Unusable(f"missing_{what}")


def _google_attendees(items: Any, organizer: str | None) -> list[Attendee]:
    attendees: list[Attendee] = []
    seen: set[str] = {organizer} if organizer else set()
    for item in items if isinstance(items, list) else []:
        if (
            not isinstance(item, Mapping)
            or item.get("resource") is True
            or item.get("organizer") is True
        ):
            continue
        address = _address(item.get("email"))
        if address is None or address in seen:
            continue
        seen.add(address)
        response = GOOGLE_RESPONSES.get(str(item.get("responseStatus")), "none")
        attendees.append(
            Attendee(
                email=address,
                name=_name(item.get("displayName"), address),
                response=response,
                optional=item.get("optional") is True,
            )
        )
    return attendees


def parse_google_event(
    raw: RawEvent, owner_addresses: Iterable[str]
) -> MeetingRecord | QuarantinedRecord:
    """A Google Calendar event occurrence (events.list with singleEvents) as a MeetingRecord.

    A cancelled occurrence of a series may carry only its id, status, recurringEventId and
    originalStartTime; it is recorded at its original start (with no duration).
    """
    bad = _quarantine(raw)
    if bad is not None:
        return bad
    payload: Mapping[str, Any] = raw.payload  # type: ignore[assignment]
    status = {"cancelled": "cancelled", "tentative": "tentative"}.get(
        str(payload.get("status")), "confirmed"
    )
    try:
        original_start_at = None
        if payload.get("originalStartTime") is not None:
            original_start_at = _google_time(payload["originalStartTime"], "original_start")[0]
        if payload.get("start") is None and status == "cancelled" and original_start_at:
            start_at, all_day, tz = _google_time(payload["originalStartTime"], "start")
            end_at = start_at + (timedelta(days=1) if all_day else timedelta(0))
        else:
            start_at, all_day, tz = _google_time(payload.get("start"), "start")
            end_at, end_all_day, _ = _google_time(payload.get("end"), "end")
            if end_all_day != all_day:
                raise _Unusable("mixed_all_day")
    except _Unusable as problem:
        return QuarantinedRecord(
            raw.provider_event_id, problem.reason, excerpt=_json_excerpt(payload)
        )
    if end_at < start_at:
        return QuarantinedRecord(
            raw.provider_event_id, "end_before_start", start_at, _json_excerpt(payload)
        )

    owners = _owner_set(owner_addresses)
    organizer = payload.get("organizer") if isinstance(payload.get("organizer"), Mapping) else {}
    organizer_email = organizer.get("email")
    organizer_email = (
        normalize_address(organizer_email) if isinstance(organizer_email, str) else None
    )
    return MeetingRecord(
        provider_event_id=raw.provider_event_id,
        start_at=start_at,
        end_at=end_at,
        ical_uid=normalize_ical_uid(payload.get("iCalUID")),
        subject=_text(payload.get("summary")),
        all_day=all_day,
        start_time_zone=tz,
        status=status,
        organizer_email=organizer_email,
        organizer_name=_name(organizer.get("displayName"), organizer_email),
        organized_by_owner=organizer.get("self") is True or organizer_email in owners,
        attendees=_google_attendees(payload.get("attendees"), organizer_email),
        series_id=_text(payload.get("recurringEventId")),
        original_start_at=original_start_at,
        location=_text(payload.get("location")),
        updated_at=parse_graph_datetime(payload.get("updated")),
    )


# ---- Microsoft Graph ------------------------------------------------------------------------


def _graph_local(value: Any, what: str) -> tuple[datetime, ZoneInfo | None]:
    """A Graph `dateTimeTimeZone` as (naive wall-clock time, its zone or None if unknown)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("dateTime"), str):
        raise _Unusable(f"missing_{what}")
    tz = zone(value.get("timeZone") or "UTC")
    try:
        parsed = datetime.fromisoformat(value["dateTime"].strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Unusable(f"invalid_{what}") from None
    if parsed.tzinfo is not None:
        tz = tz or ZoneInfo("UTC")
        parsed = parsed.astimezone(tz).replace(tzinfo=None)
    return parsed, tz


def _all_day_date(local: datetime, tz: ZoneInfo | None, event_zone: ZoneInfo | None) -> date:
    """The calendar date an all-day boundary stands for.

    Graph keeps all-day events at midnights of the event's own zone; a client that converts them
    to another zone sees them shifted. Back in the event's zone the boundary is midnight again;
    failing that, the nearest midnight is the one meant.
    """
    if local.time() != time(0) and tz is not None and event_zone is not None:
        in_event_zone = local.replace(tzinfo=tz).astimezone(event_zone)
        if in_event_zone.time() == time(0):
            return in_event_zone.date()
    return (local + timedelta(hours=12)).date()


def _graph_attendees(items: Any, organizer: str | None) -> list[Attendee]:
    attendees: list[Attendee] = []
    seen: set[str] = {organizer} if organizer else set()
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping) or item.get("type") == "resource":
            continue
        email = item.get("emailAddress") if isinstance(item.get("emailAddress"), Mapping) else {}
        address = _address(email.get("address"))
        if address is None or address in seen:
            continue
        seen.add(address)
        status = item.get("status") if isinstance(item.get("status"), Mapping) else {}
        attendees.append(
            Attendee(
                email=address,
                name=_name(email.get("name"), address),
                response=GRAPH_RESPONSES.get(str(status.get("response")), "none"),
                optional=item.get("type") == "optional",
            )
        )
    return attendees


def parse_graph_event(
    raw: RawEvent, owner_addresses: Iterable[str]
) -> MeetingRecord | QuarantinedRecord:
    """A Graph calendarView event occurrence as a MeetingRecord.

    Times are read in the zone each `dateTimeTimeZone` names (the connector asks for UTC);
    `start_time_zone` keeps `originalStartTimeZone`, the zone the organiser scheduled in.
    """
    bad = _quarantine(raw)
    if bad is not None:
        return bad
    payload: Mapping[str, Any] = raw.payload  # type: ignore[assignment]
    all_day = payload.get("isAllDay") is True
    original_zone = iana_zone_name(payload.get("originalStartTimeZone"))
    try:
        start_local, start_tz = _graph_local(payload.get("start"), "start")
        end_local, end_tz = _graph_local(payload.get("end"), "end")
    except _Unusable as problem:
        return QuarantinedRecord(
            raw.provider_event_id, problem.reason, excerpt=_json_excerpt(payload)
        )
    if all_day:
        start_at = utc_midnight(_all_day_date(start_local, start_tz, zone(original_zone)))
        end_zone = zone(payload.get("originalEndTimeZone") or original_zone)
        end_at = utc_midnight(_all_day_date(end_local, end_tz, end_zone))
    elif start_tz is None or end_tz is None:
        return QuarantinedRecord(
            raw.provider_event_id, "unknown_time_zone", excerpt=_json_excerpt(payload)
        )
    else:
        start_at = start_local.replace(tzinfo=start_tz).astimezone(UTC)
        end_at = end_local.replace(tzinfo=end_tz).astimezone(UTC)
    if end_at < start_at:
        return QuarantinedRecord(
            raw.provider_event_id, "end_before_start", start_at, _json_excerpt(payload)
        )

    owners = _owner_set(owner_addresses)
    organizer = payload.get("organizer") if isinstance(payload.get("organizer"), Mapping) else {}
    organizer_address = organizer.get("emailAddress")
    organizer_address = organizer_address if isinstance(organizer_address, Mapping) else {}
    organizer_email = organizer_address.get("address")
    organizer_email = (
        normalize_address(organizer_email) if isinstance(organizer_email, str) else None
    )
    location = payload.get("location")
    location_name = _text(location.get("displayName")) if isinstance(location, Mapping) else None
    status = "cancelled" if payload.get("isCancelled") is True else "confirmed"
    return MeetingRecord(
        provider_event_id=raw.provider_event_id,
        start_at=start_at,
        end_at=end_at,
        ical_uid=normalize_ical_uid(payload.get("uid") or payload.get("iCalUId")),
        subject=_text(payload.get("subject")),
        all_day=all_day,
        start_time_zone=original_zone,
        status=status,
        organizer_email=organizer_email,
        organizer_name=_name(organizer_address.get("name"), organizer_email),
        organized_by_owner=payload.get("isOrganizer") is True or organizer_email in owners,
        attendees=_graph_attendees(payload.get("attendees"), organizer_email),
        series_id=_text(payload.get("seriesMasterId")),
        original_start_at=parse_graph_datetime(payload.get("originalStart")),
        location=location_name,
        updated_at=parse_graph_datetime(payload.get("lastModifiedDateTime")),
    )


# ---- window filing ---------------------------------------------------------------------------


def google_event_start(payload: Mapping[str, Any]) -> datetime | None:
    """The UTC start a Google occurrence is filed under (as `parse_google_event` reads it), or
    None when unreadable."""
    record = parse_google_event(RawEvent(str(payload.get("id")), dict(payload)), ())
    return record.start_at if isinstance(record, MeetingRecord) else None


def graph_event_start(payload: Mapping[str, Any]) -> datetime | None:
    """The UTC start a Graph occurrence is filed under (as `parse_graph_event` reads it), or
    None when unreadable."""
    record = parse_graph_event(RawEvent(str(payload.get("id")), dict(payload)), ())
    return record.start_at if isinstance(record, MeetingRecord) else None


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
