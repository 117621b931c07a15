"""Provider-neutral calendar events and the one place their occurrences are computed.

A `MasterEvent` is what an organiser scheduled: wall-clock start/end in an IANA zone (or all-day
dates), an optional RRULE (DAILY/WEEKLY subset of RFC 5545) and exceptions keyed by the original
start of the occurrence they replace or cancel. `occurrences()` expands it with zoneinfo, so a
weekly 09:00 America/New_York meeting is 14:00 UTC in October and 15:00 UTC in November. Google
and Graph handlers and the truth all render these occurrences; none of them recomputes times.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

RESPONSES = ("accepted", "declined", "tentative", "none")
STATUSES = ("confirmed", "cancelled")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
MAX_MOVE = timedelta(days=60)
"""How far an exception may move an occurrence from its original start (bounds expansion)."""


class EventSpecError(ValueError):
    """An event description the sandbox cannot model (answered with HTTP 400)."""


@dataclass
class Invitee:
    email: str
    name: str = ""
    response: str = "none"  # one of RESPONSES
    optional: bool = False


@dataclass
class Override:
    """One occurrence changed: moved (new local start/end), renamed, or cancelled."""

    start: datetime | date | None = None
    end: datetime | date | None = None
    subject: str | None = None
    cancelled: bool = False


@dataclass
class MasterEvent:
    """An event as its organiser scheduled it; `start`/`end` are naive wall-clock times in
    `time_zone` (all-day: `date`s, `end` exclusive)."""

    uid: str
    subject: str
    organizer_email: str
    organizer_name: str
    start: datetime | date
    end: datetime | date
    time_zone: str = "UTC"
    attendees: list[Invitee] = field(default_factory=list)
    rrule: str | None = None
    exceptions: dict[str, Override] = field(default_factory=dict)
    status: str = "confirmed"
    location: str | None = None
    description: str = ""
    created: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    updated: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    sequence: int = 0
    kind: str = "injected"

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, datetime)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def recurring(self) -> bool:
        return self.rrule is not None


@dataclass(frozen=True)
class Occurrence:
    """One occurrence (or the single instance) of a master event, in UTC and local time.

    For all-day events `start`/`end` are the UTC midnights of the first day and of the day after
    the last; `start_local`/`end_local` are the dates. `original_key` names the occurrence in
    `MasterEvent.exceptions` (None for non-recurring events).
    """

    event: MasterEvent
    original_key: str | None
    original_start: datetime | date | None
    start_local: datetime | date
    end_local: datetime | date
    start: datetime
    end: datetime
    subject: str
    status: str
    is_exception: bool

    @property
    def all_day(self) -> bool:
        return self.event.all_day


def occurrence_key(value: datetime | date) -> str:
    """The key of an occurrence: its original local start as ISO text (a date for all-day)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="seconds")
    return value.isoformat()


def utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def local_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in `zone` to UTC; a time skipped by DST uses the offset before the gap."""
    return value.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Rule:
    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | date | None = None  # aware UTC datetime, or a date (inclusive)
    by_day: tuple[int, ...] = ()


def parse_rrule(text: str) -> Rule:
    """The DAILY/WEEKLY subset of RFC 5545 RRULE (INTERVAL, COUNT, UNTIL, BYDAY, WKST)."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    parts: dict[str, str] = {}
    for item in body.split(";"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise EventSpecError(f"bad RRULE part {item!r}")
        parts[name.strip().upper()] = value.strip().upper()
    unknown = set(parts) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "WKST"}
    if unknown:
        raise EventSpecError(f"RRULE parts not supported: {sorted(unknown)}")
    freq = parts.get("FREQ")
    if freq not in ("DAILY", "WEEKLY"):
        raise EventSpecError("RRULE FREQ must be DAILY or WEEKLY")
    if "COUNT" in parts and "UNTIL" in parts:
        raise EventSpecError("RRULE may not have both COUNT and UNTIL")
    try:
        interval = int(parts.get("INTERVAL", "1"))
        count = int(parts["COUNT"]) if "COUNT" in parts else None
    except ValueError:
        raise EventSpecError("RRULE INTERVAL and COUNT must be integers") from None
    if interval < 1 or (count is not None and count < 1):
        raise EventSpecError("RRULE INTERVAL and COUNT must be positive")
    until: datetime | date | None = None
    if "UNTIL" in parts:
        raw = parts["UNTIL"]
        try:
            if "T" in raw:
                until = datetime.strptime(raw.rstrip("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
            else:
                until = datetime.strptime(raw, "%Y%m%d").date()
        except ValueError:
            raise EventSpecError(f"bad RRULE UNTIL {raw!r}") from None
    by_day: tuple[int, ...] = ()
    if "BYDAY" in parts:
        try:
            by_day = tuple(sorted({WEEKDAYS.index(d) for d in parts["BYDAY"].split(",")}))
        except ValueError:
            raise EventSpecError(f"bad RRULE BYDAY {parts['BYDAY']!r}") from None
    return Rule(freq, interval, count, until, by_day)


def _candidate_dates(rule: Rule, first: date) -> Any:
    """Dates of the rule's occurrences in order, starting with `first` (the DTSTART date)."""
    if rule.freq == "DAILY":
        day = first
        while True:
            if not rule.by_day or day.weekday() in rule.by_day:
                yield day
            day += timedelta(days=rule.interval)
    week = first - timedelta(days=first.weekday())
    days = rule.by_day or (first.weekday(),)
    while True:
        for weekday in days:
            day = week + timedelta(days=weekday)
            if day >= first:
                yield day
        week += timedelta(weeks=rule.interval)


def occurrences(event: MasterEvent, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences that overlap [start, end) (aware datetimes), cancelled ones included."""
    return [o for o in expand(event, end + MAX_MOVE) if o.start < end and o.end > start]


def occurrences_starting(event: MasterEvent, start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences whose start lies in [start, end) (all-day: their first UTC midnight)."""
    return [o for o in expand(event, end + MAX_MOVE) if start <= o.start < end]


def expand(event: MasterEvent, horizon: datetime) -> list[Occurrence]:
    """Every occurrence whose original start is at or before `horizon`, in series order."""
    zone = event.zone
    if event.rrule is None:
        return [_single(event, zone)]
    rule = parse_rrule(event.rrule)
    out: list[Occurrence] = []
    first_day = event.start.date() if isinstance(event.start, datetime) else event.start
    duration = _as_naive(event.end) - _as_naive(event.start)
    for produced, day in enumerate(_candidate_dates(rule, first_day)):
        if rule.count is not None and produced >= rule.count:
            break
        if isinstance(event.start, datetime):
            original: datetime | date = datetime.combine(day, event.start.time())
            original_utc = local_to_utc(original, zone)  # type: ignore[arg-type]
        else:
            original, original_utc = day, utc_midnight(day)
        if _past_until(rule.until, day, original_utc):
            break
        if original_utc > horizon:
            break
        key = occurrence_key(original)
        override = event.exceptions.get(key)
        out.append(_occurrence(event, zone, key, original, duration, override))
    return out


def _past_until(until: datetime | date | None, day: date, original_utc: datetime) -> bool:
    if until is None:
        return False
    if isinstance(until, datetime):
        return original_utc > until
    return day > until


def _as_naive(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time())


def _single(event: MasterEvent, zone: ZoneInfo) -> Occurrence:
    start_utc, end_utc = _bounds(event.start, event.end, zone)
    return Occurrence(
        event,
        None,
        None,
        event.start,
        event.end,
        start_utc,
        end_utc,
        event.subject,
        event.status,
        False,
    )


def _bounds(
    start: datetime | date, end: datetime | date, zone: ZoneInfo
) -> tuple[datetime, datetime]:
    if isinstance(start, datetime):
        return local_to_utc(start, zone), local_to_utc(end, zone)  # type: ignore[arg-type]
    return utc_midnight(start), utc_midnight(end)  # type: ignore[arg-type]


def _occurrence(
    event: MasterEvent,
    zone: ZoneInfo,
    key: str,
    original: datetime | date,
    duration: timedelta,
    override: Override | None,
) -> Occurrence:
    if isinstance(original, datetime):
        start_local: datetime | date = original
        end_local: datetime | date = original + duration
        original_value: datetime | date = local_to_utc(original, zone)
    else:
        start_local, end_local = original, original + duration
        original_value = original
    subject, status, changed = event.subject, event.status, False
    if override is not None:
        changed = True
        if override.start is not None:
            start_local = override.start
            end_local = override.end if override.end is not None else override.start + duration
        if override.subject is not None:
            subject = override.subject
        if override.cancelled:
            status = "cancelled"
    start_utc, end_utc = _bounds(start_local, end_local, zone)
    return Occurrence(
        event,
        key,
        original_value,
        start_local,
        end_local,
        start_utc,
        end_utc,
        subject,
        status,
        changed,
    )


# ---- specs (inject/update) --------------------------------------------------------------------


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
    if _as_naive(end) <= _as_naive(start):
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
        horizon = local_to_utc(_as_naive(original), zone) + timedelta(days=1)
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
    duration = _as_naive(event.end) - _as_naive(event.start)
    if "start" in changes:
        event.start = _parse_when(changes["start"], zone, event.all_day)
        if "end" not in changes:
            event.end = event.start + duration
    if "end" in changes:
        event.end = _parse_when(changes["end"], zone, event.all_day)
    if _as_naive(event.end) <= _as_naive(event.start):
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
