"""Event specs: building a `MasterEvent` from the JSON the control API (or a test) sends, and
applying later changes to it, as `SandboxState.inject_event` / `update_event` do.

Validation errors raise `EventSpecError` (a 400 on the control API); the field names are
listed in sandbox/README.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.workload.calendar_model import (
    RESPONSES,
    STATUSES,
    EventSpecError,
    Invitee,
    MasterEvent,
    Override,
    as_naive,
    expand,
    local_to_utc,
    occurrence_key,
    parse_rrule,
)


def _parse_when(value: Any, zone: ZoneInfo, all_day: bool) -> datetime | date:
    """A spec time: a date for all-day; else local wall time, or an instant (offset/Z) that is
    converted to wall time in the event's zone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        if not all_day:
            raise EventSpecError("a timed event needs date-times, not dates")
        return value
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text) if "T" in text else None
            if parsed is None:
                day = date.fromisoformat(text)
                if not all_day:
                    raise EventSpecError("a timed event needs date-times, not dates")
                return day
        except ValueError:
            raise EventSpecError(f"not an ISO date or time: {value!r}") from None
    else:
        raise EventSpecError(f"not a date or time: {value!r}")
    if all_day:
        raise EventSpecError("an all-day event takes dates, not date-times")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(zone).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def _invitees(raw: Any) -> list[Invitee]:
    out = []
    for item in raw or []:
        if isinstance(item, str):
            item = {"email": item}
        if isinstance(item, Invitee):
            out.append(item)
            continue
        response = str(item.get("response", "none"))
        if response not in RESPONSES:
            raise EventSpecError(f"attendee response must be one of {RESPONSES}")
        out.append(
            Invitee(
                str(item["email"]).lower(),
                str(item.get("name") or ""),
                response,
                bool(item.get("optional", False)),
            )
        )
    return out


def build_event(
    spec: dict[str, Any], owner_email: str, owner_name: str, now: datetime
) -> MasterEvent:
    """A MasterEvent from an inject spec (see sandbox/README.md for the fields)."""
    known = {
        "uid", "subject", "organizer", "attendees", "start", "end", "duration_minutes",
        "time_zone", "all_day", "days", "rrule", "exceptions", "status", "location",
        "description",
    }  # fmt: skip
    unknown = set(spec) - known
    if unknown:
        raise EventSpecError(f"unknown event fields {sorted(unknown)}")
    zone_name = str(spec.get("time_zone") or "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except Exception:  # zoneinfo raises several types for bad keys
        raise EventSpecError(f"unknown time zone {zone_name!r}") from None
    all_day = bool(spec.get("all_day", False))
    if "start" not in spec:
        raise EventSpecError("start is required")
    start = _parse_when(spec["start"], zone, all_day)
    if spec.get("end") is not None:
        end = _parse_when(spec["end"], zone, all_day)
    elif all_day:
        end = start + timedelta(days=int(spec.get("days", 1)))
    else:
        end = start + timedelta(minutes=int(spec.get("duration_minutes", 30)))
    if as_naive(end) <= as_naive(start):
        raise EventSpecError("end must be after start")
    organizer = spec.get("organizer") or {"email": owner_email, "name": owner_name}
    if isinstance(organizer, str):
        organizer = {"email": organizer, "name": owner_name if organizer == owner_email else ""}
    status = str(spec.get("status", "confirmed"))
    if status not in STATUSES:
        raise EventSpecError(f"status must be one of {STATUSES}")
    rrule = spec.get("rrule")
    if rrule:
        parse_rrule(str(rrule))
    uid = str(spec.get("uid") or f"sbx-{_token(owner_email, now.isoformat(), repr(spec))}@sandbox")
    event = MasterEvent(
        uid=uid,
        subject=str(spec.get("subject", "")),
        organizer_email=str(organizer["email"]).lower(),
        organizer_name=str(organizer.get("name") or ""),
        start=start,
        end=end,
        time_zone=zone_name,
        attendees=_invitees(spec.get("attendees")),
        rrule=str(rrule) if rrule else None,
        status=status,
        location=spec.get("location"),
        description=str(spec.get("description", "")),
        created=now,
        updated=now,
    )
    add_exceptions(event, spec.get("exceptions") or [])
    return event


def add_exceptions(event: MasterEvent, items: list[dict[str, Any]]) -> None:
    """Adds (or replaces) exceptions: {"original_start", "cancelled"?, "start"?, "end"?,
    "subject"?}; `original_start` must be an occurrence of the series."""
    if items and event.rrule is None:
        raise EventSpecError("exceptions need a recurring event")
    zone = event.zone
    for item in items:
        original = _parse_when(item["original_start"], zone, event.all_day)
        key = occurrence_key(original)
        horizon = local_to_utc(as_naive(original), zone) + timedelta(days=1)
        if key not in {o.original_key for o in expand(replace(event, exceptions={}), horizon)}:
            raise EventSpecError(f"{item['original_start']!r} is not an occurrence of the series")
        new_start = _parse_when(item["start"], zone, event.all_day) if item.get("start") else None
        new_end = _parse_when(item["end"], zone, event.all_day) if item.get("end") else None
        event.exceptions[key] = Override(
            new_start, new_end, item.get("subject"), bool(item.get("cancelled", False))
        )


def apply_changes(event: MasterEvent, changes: dict[str, Any], now: datetime) -> None:
    """update_event: reschedule, rename, cancel, re-invite, or add exceptions, in place."""
    allowed = {
        "subject", "start", "end", "time_zone", "status", "attendees", "rrule", "location",
        "description", "exceptions", "organizer",
    }  # fmt: skip
    unknown = set(changes) - allowed
    if unknown:
        raise EventSpecError(f"cannot change {sorted(unknown)}")
    if "time_zone" in changes:
        ZoneInfo(str(changes["time_zone"]))
        event.time_zone = str(changes["time_zone"])
    zone = event.zone
    duration = as_naive(event.end) - as_naive(event.start)
    if "start" in changes:
        event.start = _parse_when(changes["start"], zone, event.all_day)
        if "end" not in changes:
            event.end = event.start + duration
    if "end" in changes:
        event.end = _parse_when(changes["end"], zone, event.all_day)
    if as_naive(event.end) <= as_naive(event.start):
        raise EventSpecError("end must be after start")
    if "status" in changes:
        if changes["status"] not in STATUSES:
            raise EventSpecError(f"status must be one of {STATUSES}")
        event.status = str(changes["status"])
    if "attendees" in changes:
        event.attendees = _invitees(changes["attendees"])
    if "rrule" in changes:
        if changes["rrule"]:
            parse_rrule(str(changes["rrule"]))
        event.rrule = str(changes["rrule"]) if changes["rrule"] else None
        event.exceptions = {}
    if "organizer" in changes:
        organizer = changes["organizer"]
        if isinstance(organizer, str):
            organizer = {"email": organizer}
        event.organizer_email = str(organizer["email"]).lower()
        event.organizer_name = str(organizer.get("name") or "")
    for name in ("subject", "location", "description"):
        if name in changes:
            setattr(event, name, changes[name])
    if "exceptions" in changes:
        add_exceptions(event, list(changes["exceptions"]))
    event.sequence += 1
    event.updated = now


def _token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]
