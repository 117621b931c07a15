"""One tenant's year of mail and meetings, written to PostgreSQL with COPY.

Realistic proportions, deterministic (seeded): 60% of threads are with customers (a CRM
contact), 1 in 20 of those copies a contact of a second account (two engagement rows); a
customer thread leads to a meeting one time in 15; 2% of accounts are never touched and 10%
only before the last 45 days; 30% of accounts are handled by their CSM alone. The rollups
(`account_engagement_daily`, `contact_engagement`) are computed here from the same rows, as the
engagement assets would. Rows go out in COPY text format (tab-separated, no value holds a tab
or a backslash), through psycopg2's `copy_expert`, the driver the warehouse uses.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot

CONTACTS_PER_ACCOUNT = 5
FLUSH_ROWS = 50_000
WINDOWS = (7, 30, 90)

Copy = Callable[[str, tuple[str, ...], str], None]
"""(table, columns, COPY text) -> None."""

COLUMNS: dict[str, tuple[str, ...]] = {
    "emails": (
        "tenant_id", "email_key", "partition_day", "internet_message_id", "thread_id", "subject",
        "from_address", "from_name", "to_addresses", "cc_addresses", "bcc_addresses", "sent_at",
        "received_at", "message_id_conflict", "seen_in_connections", "seen_in_mailboxes",
        "copies", "updated_at",
    ),
    "email_engagements": (
        "tenant_id", "email_key", "account_id", "partition_day", "local_day", "local_week",
        "internet_message_id", "thread_id", "subject", "sent_at", "direction", "from_address",
        "contact_ids", "contact_emails", "internal_participants", "seen_in_mailboxes",
    ),
    "meeting_engagements": (
        "tenant_id", "meeting_key", "account_id", "partition_day", "local_day", "local_week",
        "ical_uid", "subject", "start_at", "end_at", "duration_minutes", "all_day",
        "organizer_email", "accepted_contact_ids", "declined_contact_ids",
        "tentative_contact_ids", "internal_attendees", "recurring", "seen_in_calendars",
    ),
    "account_engagement_daily": (
        "tenant_id", "account_id", "local_day", "local_week", "emails_in", "emails_out",
        "meetings", "meeting_minutes", "distinct_contacts", "distinct_internal_people",
        "first_touch_at", "last_touch_at",
    ),
    "contact_engagement": (
        "tenant_id", "contact_id", "email", "as_of", "last_inbound_at", "last_outbound_at",
        "last_meeting_at", "emails_7d", "emails_30d", "emails_90d", "meetings_7d",
        "meetings_30d", "meetings_90d",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Scale:
    emails: int
    days: int = 365
    accounts: int = 0
    csms: int = 0

    @classmethod
    def of(cls, emails: int) -> Scale:
        """A tenant sized to its mail: one account per 500 emails a year, one CSM per 40."""
        accounts = max(50, emails // 500)
        return cls(emails=emails, accounts=accounts, csms=max(5, accounts // 40))


def _js(items: list[str]) -> str:
    return "[" + ",".join(f'"{i}"' for i in items) + "]"


def _ts(value: datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


@dataclass
class _Cell:
    week: date
    inbound: int = 0
    outbound: int = 0
    meetings: int = 0
    minutes: int = 0
    contacts: int = 0
    people: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def touch(self, at: datetime, contact_bit: int, person_bit: int) -> None:
        self.contacts |= contact_bit
        self.people |= person_bit
        self.first = at if self.first is None or at < self.first else self.first
        self.last = at if self.last is None or at > self.last else self.last


@dataclass
class _Contact:
    last_in: datetime | None = None
    last_out: datetime | None = None
    last_met: datetime | None = None
    emails: list[int] = field(default_factory=lambda: [0, 0, 0])
    meetings: list[int] = field(default_factory=lambda: [0, 0, 0])


@dataclass
class Generated:
    rows: dict[str, int]
    as_of: date


class TenantYear:
    """The rows of one tenant over `scale.days` UTC days ending on `as_of`."""

    def __init__(
        self, tenant_id: str, zone: str, as_of: date, scale: Scale, seed: int = 42
    ) -> None:
        self.tenant_id, self.zone, self.as_of, self.scale = tenant_id, ZoneInfo(zone), as_of, scale
        self.rng = random.Random(seed)
        self.first_day = as_of - timedelta(days=scale.days - 1)
        self.domain = f"{tenant_id}.test"
        self.csm = [f"csm{i:03d}@{self.domain}" for i in range(scale.csms)]
        self.never = max(1, scale.accounts // 50)
        self.dormant = max(1, scale.accounts // 10)
        self.primary = [a % scale.csms for a in range(scale.accounts)]
        self.solo = [self.rng.random() < 0.3 for _ in range(scale.accounts)]

    def account_id(self, a: int) -> str:
        return f"acc-{a:05d}"

    def contact_id(self, a: int, k: int) -> str:
        return f"con-{a:05d}-{k}"

    def contact_email(self, a: int, k: int) -> str:
        return f"person{k}@customer{a:05d}.example"

    def crm(self) -> CrmSnapshot:
        accounts = tuple(
            CrmAccount(self.account_id(a), f"Customer {a}", (f"customer{a:05d}.example",))
            for a in range(self.scale.accounts)
        )
        contacts = tuple(
            CrmContact(self.contact_id(a, k), None, self.contact_email(a, k), (self.account_id(a),))
            for a in range(self.scale.accounts)
            for k in range(CONTACTS_PER_ACCOUNT)
        )
        return CrmSnapshot(accounts, contacts)

    def _calendar(self, at: datetime) -> tuple[str, date, date]:
        local = at.astimezone(self.zone).date()
        return at.date().isoformat(), local, local - timedelta(days=local.weekday())

    def write(self, copy: Copy) -> Generated:
        """Generate everything and hand it to `copy` in chunks; returns the row counts."""
        out = {name: io.StringIO() for name in COLUMNS}
        pending = dict.fromkeys(COLUMNS, 0)
        counts = dict.fromkeys(COLUMNS, 0)

        def emit(table: str, values: tuple[object, ...]) -> None:
            out[table].write("\t".join(map(str, values)) + "\n")
            pending[table] += 1
            counts[table] += 1
            if pending[table] >= FLUSH_ROWS:
                flush(table)

        def flush(table: str) -> None:
            if pending[table]:
                copy(table, COLUMNS[table], out[table].getvalue())
                out[table] = io.StringIO()
                pending[table] = 0

        cells: dict[tuple[int, date], _Cell] = {}
        people: dict[tuple[int, int], _Contact] = {}
        self._mail_and_meetings(emit, cells, people)
        self._rollups(emit, cells, people)
        for table in COLUMNS:
            flush(table)
        return Generated(counts, self.as_of)

    def _account_for(self, weights: list[int], day: int) -> int:
        """A touched account for a thread on day `day` (dormant ones only before the cutoff)."""
        rng = self.rng
        while True:
            a = rng.choices(range(self.scale.accounts), cum_weights=weights)[0]
            if a >= self.never + self.dormant or day < self.scale.days - 45:
                return a

    def _mail_and_meetings(
        self,
        emit: Callable[[str, tuple[object, ...]], None],
        cells: dict[tuple[int, date], _Cell],
        people: dict[tuple[int, int], _Contact],
    ) -> None:
        rng, t, scale = self.rng, self.tenant_id, self.scale
        weights, total = [], 0
        for a in range(scale.accounts):
            total += 0 if a < self.never else 1 + a % 7
            weights.append(total)
        sent_total, thread, meeting = 0, 0, 0
        while sent_total < scale.emails:
            thread += 1
            day = rng.randrange(scale.days)
            at = datetime.combine(self.first_day + timedelta(days=day), time(), UTC) + timedelta(
                seconds=rng.randint(11 * 3600, 23 * 3600)
            )
            customer = rng.random() < 0.6
            a = self._account_for(weights, day) if customer else -1
            csm = (
                self.primary[a]
                if a < 0 or self.solo[a] or rng.random() < 0.8
                else (rng.randrange(scale.csms))
            )
            csm_email = self.csm[csm]
            k = rng.randrange(CONTACTS_PER_ACCOUNT)
            parties = [(a, k)] if customer else []
            if customer and rng.random() < 0.05:
                second = self._account_for(weights, day)
                if second != a:
                    parties.append((second, rng.randrange(CONTACTS_PER_ACCOUNT)))
            other = (
                self.contact_email(a, k) if customer else f"someone{thread % 997}@elsewhere.example"
            )
            inbound = rng.random() < 0.55
            for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
                if sent_total >= scale.emails:
                    break
                sent_total += 1
                key = f"m{sent_total:08d}"
                sender, to = (other, csm_email) if inbound else (csm_email, other)
                partition_day, local_day, week = self._calendar(at)
                imid, tid, subject = f"<{key}@bench.example>", f"t{thread:08d}", f"thread {thread}"
                emit("emails", (
                    t, key, partition_day, imid, tid, subject, sender, "\\N", _js([to]), "[]",
                    "[]", at.isoformat(), (at + timedelta(seconds=4)).isoformat(), "f",
                    _js([f"conn{csm:03d}"]), _js([csm_email]), 1, at.isoformat(),
                ))  # fmt: skip
                for pa, pk in parties:
                    emit("email_engagements", (
                        t, key, self.account_id(pa), partition_day, local_day, week, imid, tid,
                        subject, at.isoformat(), "inbound" if inbound else "outbound", sender,
                        _js([self.contact_id(pa, pk)]), _js([self.contact_email(pa, pk)]),
                        _js([csm_email]), _js([csm_email]),
                    ))  # fmt: skip
                    cell = cells.get((pa, local_day)) or cells.setdefault(
                        (pa, local_day), _Cell(week)
                    )
                    cell.touch(at, 1 << pk, 1 << csm)
                    contact = people.get((pa, pk)) or people.setdefault((pa, pk), _Contact())
                    if inbound:
                        cell.inbound += 1
                        if local_day <= self.as_of:
                            contact.last_in = max(contact.last_in or at, at)
                    else:
                        cell.outbound += 1
                        if local_day <= self.as_of:
                            contact.last_out = max(contact.last_out or at, at)
                    self._count(contact.emails, local_day)
                inbound = not inbound
                at += timedelta(seconds=rng.randint(300, 8 * 3600))
            if customer and rng.random() < 1 / 15:
                meeting += 1
                self._meeting(emit, cells, people, meeting, a, k, csm, day)

    def _count(self, windows: list[int], local_day: date) -> None:
        age = (self.as_of - local_day).days
        for index, days in enumerate(WINDOWS):
            if 0 <= age < days:
                windows[index] += 1

    def _meeting(
        self,
        emit: Callable[[str, tuple[object, ...]], None],
        cells: dict[tuple[int, date], _Cell],
        people: dict[tuple[int, int], _Contact],
        number: int,
        a: int,
        k: int,
        csm: int,
        day: int,
    ) -> None:
        rng = self.rng
        offset = min(day + rng.randint(1, 7), self.scale.days - 1)
        start_day = self.first_day + timedelta(days=offset)
        start = datetime.combine(start_day, time(rng.randint(14, 21), rng.choice((0, 30))), UTC)
        if rng.random() < 0.15:
            return  # the contact declined: not an engagement
        minutes = rng.choice((30, 30, 45, 60))
        partition_day, local_day, week = self._calendar(start)
        organizer = self.csm[csm]
        key = f"mt{number:07d}"
        emit("meeting_engagements", (
            self.tenant_id, key, self.account_id(a), partition_day, local_day, week,
            f"{key}@bench.example", f"call {number}", start.isoformat(),
            (start + timedelta(minutes=minutes)).isoformat(), minutes, "f", organizer,
            _js([self.contact_id(a, k)]), "[]", "[]", _js([organizer]),
            "t" if rng.random() < 0.3 else "f", _js([organizer]),
        ))  # fmt: skip
        cell = cells.get((a, local_day)) or cells.setdefault((a, local_day), _Cell(week))
        cell.touch(start, 1 << k, 1 << csm)
        cell.meetings += 1
        cell.minutes += minutes
        contact = people.get((a, k)) or people.setdefault((a, k), _Contact())
        if local_day <= self.as_of:
            contact.last_met = max(contact.last_met or start, start)
        self._count(contact.meetings, local_day)

    def _rollups(
        self,
        emit: Callable[[str, tuple[object, ...]], None],
        cells: dict[tuple[int, date], _Cell],
        people: dict[tuple[int, int], _Contact],
    ) -> None:
        t = self.tenant_id
        for (a, day), c in sorted(cells.items()):
            emit("account_engagement_daily", (
                t, self.account_id(a), day, c.week, c.inbound, c.outbound, c.meetings, c.minutes,
                c.contacts.bit_count(), c.people.bit_count(), _ts(c.first), _ts(c.last),
            ))  # fmt: skip
        for a in range(self.scale.accounts):
            for k in range(CONTACTS_PER_ACCOUNT):
                p = people.get((a, k)) or _Contact()
                emit("contact_engagement", (
                    t, self.contact_id(a, k), self.contact_email(a, k), self.as_of,
                    _ts(p.last_in), _ts(p.last_out), _ts(p.last_met), *p.emails, *p.meetings,
                ))  # fmt: skip
