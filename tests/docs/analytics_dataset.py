"""A small, hand-built engagement dataset for checking the analytics doc's queries.

Two tenants in different time zones share account and contact ids (`globex`, `c-ann`), so a
query that forgets its tenant filter anywhere answers wrongly. The rows are written the way the
engagement assets define them (docs/analytics.md): the detail rows from a list of messages and
meetings, the rollups computed from the detail rows here. Each case a question needs is in it:
accounts never touched and touched only long ago, a thread with two inbound messages before
one reply, a contact emailed but never met, a message and a meeting engaging two accounts,
meetings over several weeks, and mail on a UTC day whose local day is the day before.

`build_dataset()` gives the rows (an `EngagementData` for analytics_answers.py);
`AnalyticsDataset.insert` writes them to a migrated warehouse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from docs.analytics_answers import Params, doc_params

from resources.warehouse import Warehouse

AS_OF = date(2026, 3, 31)
"""The day the doc's examples and contact_engagement are computed as of."""

CRM_TABLES = ("accounts", "contacts", "account_contacts")
ENGAGEMENT_TABLES = (
    "email_engagements",
    "meeting_engagements",
    "account_engagement_daily",
    "contact_engagement",
)


def utc(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Mail:
    key: str
    sent_at: datetime
    direction: str
    sender: str
    recipients: tuple[str, ...]
    thread: str | None = None


@dataclass(frozen=True)
class Invite:
    key: str
    start_at: datetime
    minutes: int
    organizer: str
    accepted: tuple[str, ...]
    declined: tuple[str, ...] = ()
    tentative: tuple[str, ...] = ()
    recurring: bool = False


@dataclass
class TenantSpec:
    tenant_id: str
    zone: str
    internal_domain: str
    accounts: dict[str, str]
    """account_id -> name."""
    contacts: dict[str, tuple[str, tuple[str, ...]]]
    """contact_id -> (email, account ids)."""
    mails: list[Mail]
    invites: list[Invite]


@dataclass
class AnalyticsDataset:
    as_of: date
    zones: dict[str, str]
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def params(self, tenant_id: str, as_of: date | None = None) -> Params:
        """The doc's parameters for one tenant, as of the dataset's day unless told."""
        return doc_params(tenant_id, as_of or self.as_of)

    def of(self, table: str, tenant_id: str) -> list[dict[str, Any]]:
        return [r for r in self.rows[table] if r["tenant_id"] == tenant_id]

    def contacts_as_of(self, tenant_id: str) -> date:
        """contact_engagement is built as of the dataset's day for every tenant."""
        return self.as_of

    def insert(self, warehouse: Warehouse) -> None:
        """Write the tenants, their CRM and the engagement rows (the tables must be empty)."""
        created = datetime(2025, 1, 1, tzinfo=UTC)
        tenants = [
            {
                "tenant_id": t,
                "name": t.title(),
                "internal_domains": [],
                "blocked_domains": [],
                "time_zone": zone,
                "created_at": created,
            }
            for t, zone in self.zones.items()
        ]
        with warehouse.write() as conn:
            conn.execute(sa.insert(warehouse.table("tenants")), tenants)
            for name in (*CRM_TABLES, *ENGAGEMENT_TABLES):
                if self.rows[name]:
                    conn.execute(sa.insert(warehouse.table(name)), self.rows[name])


def _local(at: datetime, zone: str) -> tuple[date, date]:
    day = at.astimezone(ZoneInfo(zone)).date()
    return day, day - timedelta(days=day.weekday())


def _calendar(at: datetime, zone: str) -> dict[str, date]:
    local_day, local_week = _local(at, zone)
    return {"partition_day": at.date(), "local_day": local_day, "local_week": local_week}


def _internal(addresses: Iterable[str], spec: TenantSpec) -> list[str]:
    return sorted({a for a in addresses if a.endswith("@" + spec.internal_domain)})


def _contacts_by_account(spec: TenantSpec, addresses: Iterable[str]) -> dict[str, list[str]]:
    """account -> its contacts among `addresses` (sorted contact ids)."""
    wanted = set(addresses)
    found: dict[str, list[str]] = defaultdict(list)
    for contact_id, (email, accounts) in sorted(spec.contacts.items()):
        if email in wanted:
            for account in accounts:
                found[account].append(contact_id)
    return dict(found)


def _email_rows(spec: TenantSpec) -> list[dict[str, Any]]:
    rows = []
    for m in spec.mails:
        everyone = (m.sender, *m.recipients)
        internal = _internal(everyone, spec)
        for account, contact_ids in sorted(_contacts_by_account(spec, everyone).items()):
            rows.append(
                {
                    "tenant_id": spec.tenant_id,
                    "email_key": m.key,
                    "account_id": account,
                    **_calendar(m.sent_at, spec.zone),
                    "internet_message_id": f"<{m.key}@mail.test>",
                    "thread_id": m.thread,
                    "subject": f"about {account}",
                    "sent_at": m.sent_at,
                    "direction": m.direction,
                    "from_address": m.sender,
                    "contact_ids": contact_ids,
                    "contact_emails": sorted(spec.contacts[c][0] for c in contact_ids),
                    "internal_participants": internal,
                    "seen_in_mailboxes": internal,
                }
            )
    return rows


def _meeting_rows(spec: TenantSpec) -> list[dict[str, Any]]:
    rows = []
    for m in spec.invites:
        accepted = _contacts_by_account(spec, m.accepted)
        declined = _contacts_by_account(spec, m.declined)
        tentative = _contacts_by_account(spec, m.tentative)
        internal = _internal((m.organizer, *m.accepted, *m.declined, *m.tentative), spec)
        for account, contact_ids in sorted(accepted.items()):
            rows.append(
                {
                    "tenant_id": spec.tenant_id,
                    "meeting_key": m.key,
                    "account_id": account,
                    **_calendar(m.start_at, spec.zone),
                    "ical_uid": f"{m.key}@calendar.test",
                    "subject": f"call with {account}",
                    "start_at": m.start_at,
                    "end_at": m.start_at + timedelta(minutes=m.minutes),
                    "duration_minutes": m.minutes,
                    "all_day": False,
                    "organizer_email": m.organizer,
                    "accepted_contact_ids": contact_ids,
                    "declined_contact_ids": declined.get(account, []),
                    "tentative_contact_ids": tentative.get(account, []),
                    "internal_attendees": internal,
                    "recurring": m.recurring,
                    "seen_in_calendars": [m.organizer],
                }
            )
    return rows


def account_engagement_daily(
    emails: list[dict[str, Any]], meetings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The daily rollup of detail rows, per (tenant, account, local day)."""
    cells: dict[tuple[str, str, date], dict[str, Any]] = {}

    def cell(row: dict[str, Any]) -> dict[str, Any]:
        key = (row["tenant_id"], row["account_id"], row["local_day"])
        return cells.setdefault(
            key,
            {
                "week": row["local_week"],
                "in": 0,
                "out": 0,
                "meetings": 0,
                "minutes": 0,
                "contacts": set(),
                "people": set(),
                "touches": [],
            },
        )

    for e in emails:
        c = cell(e)
        c["in" if e["direction"] == "inbound" else "out"] += 1
        c["contacts"].update(e["contact_ids"])
        c["people"].update(e["internal_participants"])
        c["touches"].append(e["sent_at"])
    for m in meetings:
        c = cell(m)
        c["meetings"] += 1
        c["minutes"] += m["duration_minutes"]
        c["contacts"].update(m["accepted_contact_ids"])
        c["people"].update(m["internal_attendees"])
        c["touches"].append(m["start_at"])
    return [
        {
            "tenant_id": tenant,
            "account_id": account,
            "local_day": day,
            "local_week": c["week"],
            "emails_in": c["in"],
            "emails_out": c["out"],
            "meetings": c["meetings"],
            "meeting_minutes": c["minutes"],
            "distinct_contacts": len(c["contacts"]),
            "distinct_internal_people": len(c["people"]),
            "first_touch_at": min(c["touches"]),
            "last_touch_at": max(c["touches"]),
        }
        for (tenant, account, day), c in sorted(cells.items())
    ]


def contact_engagement(
    spec: TenantSpec, emails: list[dict[str, Any]], meetings: list[dict[str, Any]], as_of: date
) -> list[dict[str, Any]]:
    """Every CRM contact's last touches and 7/30/90-day counts, as of `as_of` (local days)."""
    rows = []
    for contact_id, (email, _) in sorted(spec.contacts.items()):
        mail = {
            e["email_key"]: e
            for e in emails
            if contact_id in e["contact_ids"] and e["local_day"] <= as_of
        }.values()
        met = {
            m["meeting_key"]: m
            for m in meetings
            if contact_id in m["accepted_contact_ids"] and m["local_day"] <= as_of
        }.values()

        def last(rows: Iterable[dict[str, Any]], column: str) -> datetime | None:
            return max((r[column] for r in rows), default=None)

        def within(rows: Iterable[dict[str, Any]], days: int) -> int:
            return sum(1 for r in rows if r["local_day"] > as_of - timedelta(days=days))

        rows.append(
            {
                "tenant_id": spec.tenant_id,
                "contact_id": contact_id,
                "email": email,
                "as_of": as_of,
                "last_inbound_at": last(
                    (e for e in mail if e["direction"] == "inbound"), "sent_at"
                ),
                "last_outbound_at": last(
                    (e for e in mail if e["direction"] == "outbound"), "sent_at"
                ),
                "last_meeting_at": last(met, "start_at"),
                **{f"emails_{d}d": within(mail, d) for d in (7, 30, 90)},
                **{f"meetings_{d}d": within(met, d) for d in (7, 30, 90)},
            }
        )
    return rows


def _acme() -> TenantSpec:
    alice, bob, carol = "alice@acme.com", "bob@acme.com", "carol@acme.com"
    ann, ben, gus = "ann@globex.com", "ben@soylent.com", "gus@globex.com"
    uma, pat, hank = "uma@umbrella.com", "pat@umbrella.com", "hank@hooli.com"
    sam = "sam@soylent.com"
    return TenantSpec(
        tenant_id="acme",
        zone="America/New_York",
        internal_domain="acme.com",
        accounts={
            "globex": "Globex",
            "hooli": "Hooli",
            "soylent": "Soylent",
            "umbrella": "Umbrella",
            "vandelay": "Vandelay Industries",
        },
        contacts={
            "c-ann": (ann, ("globex",)),
            "c-ben": (ben, ("globex", "soylent")),  # one person, two customers
            "c-gus": (gus, ("globex",)),  # invited once, declined; never emailed
            "c-hank": (hank, ("hooli",)),
            "c-pat": (pat, ("umbrella",)),
            "c-sam": (sam, ("soylent",)),
            "c-uma": (uma, ("umbrella",)),
            "c-vic": ("vic@vandelay.com", ("vandelay",)),  # never touched
        },
        mails=[
            # globex: two inbound before one reply, a reply after 90 minutes, one unanswered.
            Mail("a01", utc("2026-03-02", "14:00"), "inbound", ann, (alice,), "t-globex-1"),
            Mail("a02", utc("2026-03-02", "15:30"), "outbound", alice, (ann,), "t-globex-1"),
            Mail("a03", utc("2026-03-03", "09:00"), "inbound", ann, (alice,), "t-globex-1"),
            Mail("a04", utc("2026-03-03", "09:10"), "inbound", ann, (alice,), "t-globex-1"),
            Mail("a05", utc("2026-03-03", "09:40"), "outbound", alice, (ann, carol), "t-globex-1"),
            Mail("a06", utc("2026-03-20", "12:00"), "inbound", ann, (alice,), "t-globex-1"),
            Mail("a07", utc("2026-02-10", "10:00"), "inbound", ann, (bob,), "t-globex-2"),
            Mail("a08", utc("2026-02-10", "12:00"), "outbound", bob, (ann,), "t-globex-2"),
            # 02:30 UTC on 03-25 is 22:30 on 03-24 in New York; ben engages globex and soylent.
            Mail("a09", utc("2026-03-25", "02:30"), "outbound", alice, (ann, ben), None),
            # umbrella: emailed, never met; only bob acts for it.
            Mail("a10", utc("2026-03-10", "16:00"), "outbound", bob, (uma,), "t-umbrella"),
            Mail("a11", utc("2026-03-11", "13:00"), "inbound", uma, (bob,), "t-umbrella"),
            Mail("a12", utc("2026-01-15", "15:00"), "outbound", bob, (uma, pat), "t-umbrella-0"),
            # hooli: touched in February only (quiet for 30 days); only carol acts for it.
            Mail("a13", utc("2026-02-01", "15:00"), "inbound", hank, (carol,), "t-hooli"),
            Mail("a14", utc("2026-02-02", "10:00"), "outbound", carol, (hank,), "t-hooli"),
            # soylent: one before the 90-day window, one after :as_of.
            Mail("a15", utc("2025-12-01", "15:00"), "inbound", sam, (alice,), "t-soylent-0"),
            Mail("a16", utc("2026-04-02", "15:00"), "outbound", alice, (sam,), "t-soylent-1"),
        ],
        invites=[
            Invite("am1", utc("2026-03-03", "15:00"), 30, alice, (ann,), declined=(gus,)),
            Invite("am2", utc("2026-03-10", "15:00"), 60, alice, (ann, ben), recurring=True),
            Invite("am3", utc("2026-03-17", "15:00"), 60, alice, (ann,), recurring=True),
            Invite("am4", utc("2026-03-12", "18:00"), 45, bob, (sam,), tentative=(ben,)),
            Invite("am5", utc("2026-02-05", "14:00"), 30, bob, (sam,)),
            # 01:00 UTC on 03-31 is 21:00 on 03-30 in New York.
            Invite("am6", utc("2026-03-31", "01:00"), 45, carol, (ben,)),
        ],
    )


def _initech() -> TenantSpec:
    dave, erin = "dave@initech.io", "erin@initech.io"
    ann, bruce = "ann@globex.com", "bruce@wayne.com"
    return TenantSpec(
        tenant_id="initech",
        zone="Europe/Berlin",
        internal_domain="initech.io",
        accounts={"globex": "Globex", "umbrella": "Umbrella Corp", "wayne": "Wayne"},
        contacts={
            "c-ann": (ann, ("globex",)),
            "c-bruce": (bruce, ("wayne",)),
            "c-uma": ("uma@umbrella.com", ("umbrella",)),
        },
        mails=[
            Mail("i01", utc("2026-03-05", "09:00"), "inbound", ann, (dave,), "x-1"),
            Mail("i02", utc("2026-03-05", "09:20"), "outbound", dave, (ann,), "x-1"),
            # 23:30 UTC on 03-29 is 01:30 on 03-30 in Berlin.
            Mail("i03", utc("2026-03-29", "23:30"), "outbound", erin, (ann,), "x-1"),
            Mail("i04", utc("2026-03-06", "08:00"), "inbound", bruce, (erin,), "x-2"),
            Mail("i05", utc("2026-01-20", "08:00"), "outbound", erin, (bruce,), "x-3"),
        ],
        invites=[
            Invite("im1", utc("2026-03-09", "10:00"), 60, dave, (ann,)),
            Invite("im2", utc("2026-03-16", "10:00"), 25, erin, (bruce,)),
            Invite("im3", utc("2026-01-12", "10:00"), 50, erin, (bruce,)),
        ],
    )


def build_dataset(as_of: date = AS_OF) -> AnalyticsDataset:
    specs = [_acme(), _initech()]
    dataset = AnalyticsDataset(as_of, {s.tenant_id: s.zone for s in specs})
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for spec in specs:
        tenant = spec.tenant_id
        rows["accounts"] += [
            {"tenant_id": tenant, "account_id": a, "name": n, "domains": [f"{a}.com"]}
            for a, n in spec.accounts.items()
        ]
        rows["contacts"] += [
            {"tenant_id": tenant, "contact_id": c, "name": None, "email": email}
            for c, (email, _) in spec.contacts.items()
        ]
        rows["account_contacts"] += [
            {"tenant_id": tenant, "account_id": a, "contact_id": c}
            for c, (_, accounts) in spec.contacts.items()
            for a in accounts
        ]
        emails, meetings = _email_rows(spec), _meeting_rows(spec)
        rows["email_engagements"] += emails
        rows["meeting_engagements"] += meetings
        rows["account_engagement_daily"] += account_engagement_daily(emails, meetings)
        rows["contact_engagement"] += contact_engagement(spec, emails, meetings, as_of)
    dataset.rows = dict(rows)
    return dataset
