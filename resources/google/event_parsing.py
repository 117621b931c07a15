"""Google Calendar event occurrences (events.list, singleEvents) as `MeetingRecord`s, without
I/O. The rules shared with other providers are in vocabulary.events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from vocabulary.events import (
    Unusable,
    address_or_none,
    display_name,
    normalize_ical_uid,
    owner_set,
    text_or_none,
    zone,
)
from vocabulary.records import (
    Attendee,
    DeletedEvent,
    MeetingRecord,
    QuarantinedRecord,
    RawEvent,
    unusable_payload,
)
from vocabulary.text import json_excerpt, normalize_address
from vocabulary.times import parse_iso_datetime, utc_midnight

GOOGLE_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "none",
}


def _google_time(value: Any, what: str) -> tuple[datetime, bool, str | None]:
    """`(UTC start, all_day, zone)` of a Google `EventDateTime` (`date` or `dateTime`)."""
    if not isinstance(value, Mapping):
        raise Unusable(f"missing_{what}")
    zone_name = text_or_none(value.get("timeZone"))
    if value.get("dateTime") not in (None, ""):
        text = value["dateTime"]
        parsed = None
        if isinstance(text, str):
            try:
                parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            except ValueError:
                parsed = None
        if parsed is None:
            raise Unusable(f"invalid_{what}")
        if parsed.tzinfo is None:  # RFC 3339 requires an offset; fall back to the named zone
            tz = zone(zone_name)
            if tz is None:
                raise Unusable(f"invalid_{what}")
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC), False, zone_name
    if value.get("date") not in (None, ""):
        try:
            day = date.fromisoformat(str(value["date"]).strip())
        except ValueError:
            raise Unusable(f"invalid_{what}") from None
        return utc_midnight(day), True, zone_name
    raise Unusable(f"missing_{what}")


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
        address = address_or_none(item.get("email"))
        if address is None or address in seen:
            continue
        seen.add(address)
        response = GOOGLE_RESPONSES.get(str(item.get("responseStatus")), "none")
        attendees.append(
            Attendee(
                email=address,
                name=display_name(item.get("displayName"), address),
                response=response,
                optional=item.get("optional") is True,
            )
        )
    return attendees


def parse_google_event(
    raw: RawEvent, owner_addresses: Iterable[str]
) -> MeetingRecord | QuarantinedRecord | DeletedEvent:
    """A Google Calendar event occurrence (events.list with singleEvents) as a MeetingRecord.

    A cancelled occurrence of a series may carry only its id, status, recurringEventId and
    originalStartTime; it is recorded at its original start (with no duration). A deleted event
    carries only its id and status: a DeletedEvent.
    """
    bad = unusable_payload(raw.provider_event_id, raw)
    if bad is not None:
        return bad
    payload: Mapping[str, Any] = raw.payload  # type: ignore[assignment]
    status = {"cancelled": "cancelled", "tentative": "tentative"}.get(
        str(payload.get("status")), "confirmed"
    )
    # Google quirk: a deleted event or series is "only guaranteed to have the id field
    # populated"; with no time it belongs to no day, so it only cancels what is held.
    timeless = payload.get("start") is None and payload.get("originalStartTime") is None
    if status == "cancelled" and timeless:
        return DeletedEvent(raw.provider_event_id)
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
                raise Unusable("mixed_all_day")
    except Unusable as problem:
        return QuarantinedRecord(
            raw.provider_event_id, problem.reason, excerpt=json_excerpt(payload)
        )
    if end_at < start_at:
        return QuarantinedRecord(
            raw.provider_event_id, "end_before_start", start_at, json_excerpt(payload)
        )

    owners = owner_set(owner_addresses)
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
        subject=text_or_none(payload.get("summary")),
        all_day=all_day,
        start_time_zone=tz,
        status=status,
        organizer_email=organizer_email,
        organizer_name=display_name(organizer.get("displayName"), organizer_email),
        organized_by_owner=organizer.get("self") is True or organizer_email in owners,
        attendees=_google_attendees(payload.get("attendees"), organizer_email),
        series_id=text_or_none(payload.get("recurringEventId")),
        original_start_at=original_start_at,
        location=text_or_none(payload.get("location")),
        updated_at=parse_iso_datetime(payload.get("updated")),
    )


def google_event_start(payload: Mapping[str, Any]) -> datetime | None:
    """The UTC start a Google occurrence is filed under (as `parse_google_event` reads it), or
    None when unreadable."""
    record = parse_google_event(RawEvent(str(payload.get("id")), dict(payload)), ())
    return record.start_at if isinstance(record, MeetingRecord) else None
