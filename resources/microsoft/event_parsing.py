"""Microsoft Graph calendarView event occurrences as `MeetingRecord`s, without I/O. The rules
shared with other providers are in vocabulary.events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from vocabulary.events import (
    Unusable,
    address_or_none,
    display_name,
    iana_zone_name,
    normalize_ical_uid,
    owner_set,
    text_or_none,
    zone,
)
from vocabulary.records import (
    Attendee,
    MeetingRecord,
    QuarantinedRecord,
    RawEvent,
    unusable_payload,
)
from vocabulary.text import json_excerpt, normalize_address
from vocabulary.times import parse_iso_datetime, utc_midnight

GRAPH_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "organizer": "organizer",
    "notResponded": "none",
    "none": "none",
}


def _graph_local(value: Any, what: str) -> tuple[datetime, ZoneInfo | None]:
    """A Graph `dateTimeTimeZone` as (naive wall-clock time, its zone or None if unknown)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("dateTime"), str):
        raise Unusable(f"missing_{what}")
    tz = zone(value.get("timeZone") or "UTC")
    try:
        parsed = datetime.fromisoformat(value["dateTime"].strip().replace("Z", "+00:00"))
    except ValueError:
        raise Unusable(f"invalid_{what}") from None
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
        address = address_or_none(email.get("address"))
        if address is None or address in seen:
            continue
        seen.add(address)
        status = item.get("status") if isinstance(item.get("status"), Mapping) else {}
        attendees.append(
            Attendee(
                email=address,
                name=display_name(email.get("name"), address),
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
    bad = unusable_payload(raw.provider_event_id, raw)
    if bad is not None:
        return bad
    payload: Mapping[str, Any] = raw.payload  # type: ignore[assignment]
    all_day = payload.get("isAllDay") is True
    original_zone = iana_zone_name(payload.get("originalStartTimeZone"))
    try:
        start_local, start_tz = _graph_local(payload.get("start"), "start")
        end_local, end_tz = _graph_local(payload.get("end"), "end")
    except Unusable as problem:
        return QuarantinedRecord(
            raw.provider_event_id, problem.reason, excerpt=json_excerpt(payload)
        )
    if all_day:
        start_at = utc_midnight(_all_day_date(start_local, start_tz, zone(original_zone)))
        end_zone = zone(payload.get("originalEndTimeZone") or original_zone)
        end_at = utc_midnight(_all_day_date(end_local, end_tz, end_zone))
    elif start_tz is None or end_tz is None:
        return QuarantinedRecord(
            raw.provider_event_id, "unknown_time_zone", excerpt=json_excerpt(payload)
        )
    else:
        start_at = start_local.replace(tzinfo=start_tz).astimezone(UTC)
        end_at = end_local.replace(tzinfo=end_tz).astimezone(UTC)
    if end_at < start_at:
        return QuarantinedRecord(
            raw.provider_event_id, "end_before_start", start_at, json_excerpt(payload)
        )

    owners = owner_set(owner_addresses)
    organizer = payload.get("organizer") if isinstance(payload.get("organizer"), Mapping) else {}
    organizer_address = organizer.get("emailAddress")
    organizer_address = organizer_address if isinstance(organizer_address, Mapping) else {}
    organizer_email = organizer_address.get("address")
    organizer_email = (
        normalize_address(organizer_email) if isinstance(organizer_email, str) else None
    )
    location = payload.get("location")
    location_name = (
        text_or_none(location.get("displayName")) if isinstance(location, Mapping) else None
    )
    status = "cancelled" if payload.get("isCancelled") is True else "confirmed"
    return MeetingRecord(
        provider_event_id=raw.provider_event_id,
        start_at=start_at,
        end_at=end_at,
        # Graph quirk: v1.0 has only `iCalUId` (the series-wide `uid` is beta), and it carries
        # the occurrence's date; normalising zeroes that date (or unwraps a foreign UID), so
        # every occurrence and exception gets the series' UID, as Google reports it.
        ical_uid=normalize_ical_uid(payload.get("iCalUId")),
        subject=text_or_none(payload.get("subject")),
        all_day=all_day,
        start_time_zone=original_zone,
        status=status,
        organizer_email=organizer_email,
        organizer_name=display_name(organizer_address.get("name"), organizer_email),
        organized_by_owner=payload.get("isOrganizer") is True or organizer_email in owners,
        attendees=_graph_attendees(payload.get("attendees"), organizer_email),
        series_id=text_or_none(payload.get("seriesMasterId")),
        original_start_at=parse_iso_datetime(payload.get("originalStart")),
        location=location_name,
        updated_at=parse_iso_datetime(payload.get("lastModifiedDateTime")),
    )


def graph_event_start(payload: Mapping[str, Any]) -> datetime | None:
    """The UTC start a Graph occurrence is filed under (as `parse_graph_event` reads it), or
    None when unreadable."""
    record = parse_graph_event(RawEvent(str(payload.get("id")), dict(payload)), ())
    return record.start_at if isinstance(record, MeetingRecord) else None
