"""Provider-neutral calendar events and the one place their occurrences are computed.

A `MasterEvent` is what an organiser scheduled: wall-clock start/end in an IANA zone (or all-day
dates), an optional RRULE (DAILY/WEEKLY subset of RFC 5545) and exceptions keyed by the original
start of the occurrence they replace or cancel. `occurrences()` expands it with zoneinfo, so a
weekly 09:00 America/New_York meeting is 14:00 UTC in October and 15:00 UTC in November. Google
and Graph handlers and the truth all render these occurrences; none of them recomputes times.
Building and changing events from JSON specs is `sandbox.workload.event_spec`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    duration = as_naive(event.end) - as_naive(event.start)
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


def as_naive(value: datetime | date) -> datetime:
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
