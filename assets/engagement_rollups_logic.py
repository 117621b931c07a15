"""The engagement rollups as pure functions: which tenant-local days a UTC day touches, and
the rows of `account_engagement_daily` and `contact_engagement` computed from detail rows.

No database and no Dagster, so the rules test on hand-written rows, and the assets and their
checks compute the same rows the same way (a check recomputes and compares).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

CONTACT_WINDOWS = (7, 30, 90)
"""The trailing windows of `contact_engagement`, in tenant-local days ending with as_of."""


@dataclass(frozen=True)
class EmailTouch:
    """What the rollups read of one email_engagements row (one message and one account)."""

    email_key: str
    account_id: str
    local_day: date
    sent_at: datetime
    direction: str
    contact_ids: tuple[str, ...]
    internal_participants: tuple[str, ...]


@dataclass(frozen=True)
class MeetingTouch:
    """What the rollups read of one meeting_engagements row (one occurrence and one account)."""

    meeting_key: str
    account_id: str
    local_day: date
    start_at: datetime
    duration_minutes: int
    accepted_contact_ids: tuple[str, ...]
    internal_attendees: tuple[str, ...]


def local_week(day: date) -> date:
    """The Monday of `day`'s week (ISO weeks, which analysts group by)."""
    return day - timedelta(days=day.weekday())


def local_days_of_utc_day(utc_day: date, zone: ZoneInfo) -> list[date]:
    """The tenant-local dates that overlap the UTC day [utc_day, utc_day + 1) in `zone`, in
    order: one for a UTC tenant, two elsewhere (offsets stay within a day, so never three).

    Computed from the two instants, so a local day of 23 or 25 hours (a DST change) needs no
    special case: only the instants' local dates matter.
    """
    start = datetime.combine(utc_day, time(), tzinfo=UTC)
    # The last instant inside the UTC day: the end itself is the next UTC day's.
    last = start + timedelta(days=1) - timedelta(microseconds=1)
    first_local, last_local = start.astimezone(zone).date(), last.astimezone(zone).date()
    return [first_local + timedelta(days=n) for n in range((last_local - first_local).days + 1)]


def local_date(instant: datetime, zone: ZoneInfo) -> date:
    """The tenant-local date of an aware instant."""
    return instant.astimezone(zone).date()


@dataclass
class _DayTotals:
    emails_in: int = 0
    emails_out: int = 0
    meetings: int = 0
    meeting_minutes: int = 0
    first_touch_at: datetime | None = None
    last_touch_at: datetime | None = None
    contacts: set[str] = field(default_factory=set)
    internal: set[str] = field(default_factory=set)

    def touch(self, at: datetime) -> None:
        self.first_touch_at = at if self.first_touch_at is None else min(self.first_touch_at, at)
        self.last_touch_at = at if self.last_touch_at is None else max(self.last_touch_at, at)


def account_daily_rows(
    tenant_id: str, emails: Iterable[EmailTouch], meetings: Iterable[MeetingTouch]
) -> list[dict[str, Any]]:
    """One `account_engagement_daily` row per (account, local_day) with at least one touch,
    sorted by account then day. Counts are of detail rows, which are already one per message
    (or meeting) and account, so no message is counted twice for one account."""
    totals: dict[tuple[str, date], _DayTotals] = {}
    for email in emails:
        day = totals.setdefault((email.account_id, email.local_day), _DayTotals())
        if email.direction == "outbound":
            day.emails_out += 1
        else:
            day.emails_in += 1
        day.contacts.update(email.contact_ids)
        day.internal.update(email.internal_participants)
        day.touch(email.sent_at)
    for meeting in meetings:
        day = totals.setdefault((meeting.account_id, meeting.local_day), _DayTotals())
        day.meetings += 1
        day.meeting_minutes += meeting.duration_minutes
        day.contacts.update(meeting.accepted_contact_ids)
        day.internal.update(meeting.internal_attendees)
        day.touch(meeting.start_at)
    return [
        {
            "tenant_id": tenant_id,
            "account_id": account_id,
            "local_day": local_day,
            "local_week": local_week(local_day),
            "emails_in": t.emails_in,
            "emails_out": t.emails_out,
            "meetings": t.meetings,
            "meeting_minutes": t.meeting_minutes,
            "distinct_contacts": len(t.contacts),
            "distinct_internal_people": len(t.internal),
            "first_touch_at": t.first_touch_at,
            "last_touch_at": t.last_touch_at,
        }
        for (account_id, local_day), t in sorted(totals.items())
    ]


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None else max(current, candidate)


def contact_engagement_rows(
    tenant_id: str,
    contacts: Sequence[tuple[str, str]],
    emails: Iterable[EmailTouch],
    meetings: Iterable[MeetingTouch],
    as_of: date,
) -> list[dict[str, Any]]:
    """One `contact_engagement` row per CRM contact ((contact_id, email) pairs), touched or
    not, sorted by contact id.

    Only touches on a local day up to as_of count, for the last touches as for the windows
    (the doc's definition): a table built as of a day never shows a later touch, such as a
    message whose sender's clock dated it tomorrow. A window of N days holds the local days in
    (as_of - N, as_of]. Counts are of distinct
    messages and meetings: a message engaging two accounts the contact belongs to has two
    detail rows but is one email to that contact. Only accepted meetings count, as for the
    engagement itself. Touches of unknown contacts (a CRM changed since) are ignored here;
    the detail tables' reference check reports them.
    """
    known = {contact_id for contact_id, _ in contacts}
    emails_on: dict[str, dict[str, date]] = {c: {} for c in known}
    meetings_on: dict[str, dict[str, date]] = {c: {} for c in known}
    last: dict[tuple[str, str], datetime] = {}
    for email in (e for e in emails if e.local_day <= as_of):
        for contact_id in set(email.contact_ids) & known:
            emails_on[contact_id][email.email_key] = email.local_day
            kind = "outbound" if email.direction == "outbound" else "inbound"
            last[(contact_id, kind)] = _latest(last.get((contact_id, kind)), email.sent_at)
    for meeting in (m for m in meetings if m.local_day <= as_of):
        for contact_id in set(meeting.accepted_contact_ids) & known:
            meetings_on[contact_id][meeting.meeting_key] = meeting.local_day
            last[(contact_id, "meeting")] = _latest(
                last.get((contact_id, "meeting")), meeting.start_at
            )
    rows = []
    for contact_id, email_address in sorted(contacts):
        row: dict[str, Any] = {
            "tenant_id": tenant_id,
            "contact_id": contact_id,
            "email": email_address,
            "as_of": as_of,
            "last_inbound_at": last.get((contact_id, "inbound")),
            "last_outbound_at": last.get((contact_id, "outbound")),
            "last_meeting_at": last.get((contact_id, "meeting")),
        }
        for days in CONTACT_WINDOWS:
            row[f"emails_{days}d"] = _in_window(emails_on[contact_id], as_of, days)
            row[f"meetings_{days}d"] = _in_window(meetings_on[contact_id], as_of, days)
        rows.append(row)
    return rows


def _in_window(day_by_key: Mapping[str, date], as_of: date, days: int) -> int:
    """How many keys fall on a local day in (as_of - days, as_of]."""
    after = as_of - timedelta(days=days)
    return sum(after < day <= as_of for day in day_by_key.values())
