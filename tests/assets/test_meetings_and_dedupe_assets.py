"""Mail and meetings from Google and Microsoft 365 end to end: real Dagster runs, real msal and
google-api-python-client over HTTP against the sandbox, the warehouse on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from assets.emails import emails, raw_emails
from assets.meetings import meetings, raw_meetings
from sandbox.workload.msids import native_goid
from stack import WORKLOAD_NOW, running_stack

ALL_ASSETS = [raw_emails, emails, raw_meetings, meetings]
MEETING_ASSETS = [raw_meetings, meetings]
BACKFILL = {"dagster/backfill": "test"}


def _day(offset: int) -> str:
    return (WORKLOAD_NOW - timedelta(days=offset)).date().isoformat()


def _window(day: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


@pytest.fixture
def stack(warehouse_url):
    with running_stack(warehouse_url, providers=("google", "microsoft")) as s:
        yield s


def _owners(stack, tenant: str) -> dict[str, str]:
    return {c.connection_id: c.owner_email for c in stack.connections(tenant)}


def _meeting_rows(stack, tenant: str, day: str | None = None) -> list[dict]:
    owners = _owners(stack, tenant)
    rows = stack.rows("raw_meetings", tenant, day)
    for r in rows:
        r["owner"] = owners[r["connection_id"]]
    return rows


def _truth_events(stack, tenant: str, day: str) -> dict[tuple[str, str], dict]:
    return {
        (m.address, e["event_id"]): e
        for m in stack.workload.mailboxes
        if m.tenant == tenant
        for e in stack.sandbox.state.truth_events(m.address, *_window(day))
    }


def test_both_providers_over_several_days_equal_the_truth(stack):
    tenant = stack.workload.tenants[0].slug
    assert {c.provider for c in stack.connections(tenant)} == {"google", "microsoft"}
    for day in (_day(3), _day(2), _day(1)):
        result = stack.materialize(tenant, day, assets=ALL_ASSETS)
        assert result.success
        assert stack.synced_ids(tenant, day) == stack.truth_ids(tenant, day)

        truth = _truth_events(stack, tenant, day)
        rows = {(r["owner"], r["provider_event_id"]): r for r in _meeting_rows(stack, tenant, day)}
        assert set(rows) == set(truth)
        for key, event in truth.items():
            row = rows[key]
            assert row["start_at"] == datetime.fromisoformat(event["start"])
            assert row["status"] == event["status"]
            assert row["all_day"] == event["all_day"]
            assert row["ical_uid"] == event["ical_uid"]

        # one row per real occurrence: same iCalUID and start on several calendars is one meeting
        real = {(e["ical_uid"], datetime.fromisoformat(e["start"])) for e in truth.values()}
        merged = stack.rows("meetings", tenant, day)
        assert {(m["ical_uid"], m["start_at"]) for m in merged} == real
    for c in stack.connections(tenant):
        assert c.status == "active", (c.owner_email, c.status_cause_code)


def test_all_day_dst_and_recurring_events_land_on_their_utc_days(stack):
    tenant = stack.workload.tenants[0].slug
    by_provider = {c.provider: c.owner_email for c in stack.connections(tenant)}
    for owner in by_provider.values():
        state = stack.sandbox.state
        state.inject_event(
            owner,
            {
                "uid": f"weekly-ny-{owner}",
                "subject": "Weekly sync",
                "start": "2026-10-22T09:00",
                "duration_minutes": 30,
                "time_zone": "America/New_York",
                "rrule": "FREQ=WEEKLY;COUNT=3",
                "attendees": [{"email": "buyer@customer.example", "response": "accepted"}],
            },
        )
        state.inject_event(
            owner,
            {
                "uid": f"offsite-{owner}",
                "subject": "Offsite",
                "start": "2026-10-29",
                "all_day": True,
                "days": 2,
                "time_zone": "Asia/Kolkata",
            },
        )
        state.inject_event(
            owner,
            {
                "uid": f"kolkata-early-{owner}",
                "subject": "Early call",
                "start": "2026-10-30T02:00",
                "time_zone": "Asia/Kolkata",
            },
        )
    for day in ("2026-10-22", "2026-10-29", "2026-10-30", "2026-11-05"):
        assert stack.materialize(tenant, day, tags=BACKFILL, assets=MEETING_ASSETS).success

    for provider, owner in by_provider.items():
        mine = [r for r in _meeting_rows(stack, tenant) if r["owner"] == owner]

        weekly = sorted(
            (str(r["partition_day"]), r["start_at"].isoformat())
            for r in mine
            if r["subject"] == "Weekly sync"
        )
        # 09:00 New York is 13:00Z under daylight time and 14:00Z after 1 November 2026
        assert weekly == [
            ("2026-10-22", "2026-10-22T13:00:00+00:00"),
            ("2026-10-29", "2026-10-29T13:00:00+00:00"),
            ("2026-11-05", "2026-11-05T14:00:00+00:00"),
        ], provider
        assert len({r["provider_event_id"] for r in mine if r["subject"] == "Weekly sync"}) == 3
        offsite = [r for r in mine if r["subject"] == "Offsite"]
        assert [
            (
                str(r["partition_day"]),
                r["all_day"],
                r["start_at"].isoformat(),
                r["end_at"].isoformat(),
            )
            for r in offsite
        ] == [("2026-10-29", True, "2026-10-29T00:00:00+00:00", "2026-10-31T00:00:00+00:00")], (
            provider
        )
        early = [r for r in mine if r["subject"] == "Early call"]
        # 02:00 in Kolkata (UTC+5:30) is 20:30Z the day before
        assert [(str(r["partition_day"]), r["start_at"].isoformat()) for r in early] == [
            ("2026-10-29", "2026-10-29T20:30:00+00:00")
        ], provider


def test_rescheduled_meeting_moves_and_cancelled_one_is_kept_as_cancelled(stack):
    """Organised on Outlook, attended from Google. Cancelled: the organiser's copy is gone from
    calendarView, so its row leaves; Google then lists its copy as a deleted event (only `id`
    and `status`, no time), which cancels the row held under that id."""
    tenant = stack.workload.tenants[0].slug
    by_provider = {c.provider: c.owner_email for c in stack.connections(tenant)}
    owner, guest = by_provider["microsoft"], by_provider["google"]
    first, second = _day(2), _day(1)
    meeting = {
        "uid": "qbr-1",
        "subject": "QBR",
        "organizer": owner,
        "start": f"{first}T10:00",
        "duration_minutes": 60,
        "attendees": [
            {"email": "cfo@customer.example", "response": "accepted"},
            {"email": guest, "response": "accepted"},
        ],
    }
    for calendar in (owner, guest):
        stack.sandbox.state.inject_event(calendar, meeting)
    for day in (first, second):
        assert stack.materialize(tenant, day, assets=MEETING_ASSETS).success

    def qbr(day: str) -> list[dict]:
        return [r for r in stack.rows("meetings", tenant, day) if r["subject"] == "QBR"]

    def raw(day: str) -> dict[str, str]:
        rows = _meeting_rows(stack, tenant, day)
        return {r["owner"]: r["status"] for r in rows if r["subject"] == "QBR"}

    assert len(qbr(first)) == 1 and qbr(second) == []
    assert qbr(first)[0]["copies"] == 2

    for calendar in (owner, guest):
        stack.sandbox.state.update_event(calendar, "qbr-1", start=f"{second}T11:00")
    for day in (first, second):
        assert stack.materialize(tenant, day, assets=MEETING_ASSETS).success
    assert qbr(first) == []
    assert [r["start_at"].isoformat() for r in qbr(second)] == [f"{second}T11:00:00+00:00"]

    for calendar in (owner, guest):
        stack.sandbox.state.update_event(calendar, "qbr-1", status="cancelled")
    assert stack.materialize(tenant, second, assets=MEETING_ASSETS).success
    assert raw(second) == {guest: "cancelled"}
    assert [r["status"] for r in qbr(second)] == ["cancelled"]


def test_recurring_meetings_on_both_providers_are_one_row_per_occurrence(stack):
    """Graph v1.0 shows only `iCalUId`, which differs per occurrence; a daily series on a Google
    and an Outlook calendar (a moved exception included), organised from either side, still
    gives one `meetings` row per occurrence, seen in both calendars."""
    tenant = stack.workload.tenants[0].slug
    by_provider = {c.provider: c.owner_email for c in stack.connections(tenant)}
    both = sorted(by_provider.values())
    first, moved, last = _day(3), _day(2), _day(1)
    series = {
        "Outlook series": (native_goid("touchpoint-test", "outlook-series"), "microsoft"),
        "Google series": ("daily-7x9@google.com", "google"),
    }
    for subject, (uid, organiser) in series.items():
        for owner in both:
            stack.sandbox.state.inject_event(
                owner,
                {
                    "uid": uid,
                    "subject": subject,
                    "start": f"{first}T15:00",
                    "duration_minutes": 30,
                    "rrule": "FREQ=DAILY;COUNT=3",
                    "organizer": by_provider[organiser],
                    "attendees": [{"email": b, "response": "accepted"} for b in both],
                    "exceptions": [{"original_start": f"{moved}T15:00", "start": f"{moved}T17:00"}],
                },
            )
    for day in (first, moved, last):
        assert stack.materialize(tenant, day, assets=MEETING_ASSETS).success

    for subject, (uid, _) in series.items():
        raw = [r for r in _meeting_rows(stack, tenant) if r["subject"] == subject]
        assert sorted(r["owner"] for r in raw) == sorted(both * 3)
        assert {r["ical_uid"] for r in raw} == {uid}
        merged = [
            r
            for day in (first, moved, last)
            for r in stack.rows("meetings", tenant, day)
            if r["subject"] == subject
        ]
        assert [(r["ical_uid"], r["start_at"].isoformat()) for r in merged] == [
            (uid, f"{first}T15:00:00+00:00"),
            (uid, f"{moved}T17:00:00+00:00"),
            (uid, f"{last}T15:00:00+00:00"),
        ], subject
        assert all(r["copies"] == 2 and r["seen_in_calendars"] == both for r in merged)


def _message(message_id: str, sender: str, to: str, when: datetime) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Contract renewal"
    msg["Date"] = when.strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = message_id
    msg.set_content("See attached.")
    return bytes(msg)


def test_one_real_message_or_meeting_is_one_row_per_tenant(stack):
    day = _day(1)
    when = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(hours=14)
    tenant_a, tenant_b = (t.slug for t in stack.workload.tenants)
    a_boxes = [c.owner_email for c in stack.connections(tenant_a)]
    b_box = stack.connections(tenant_b)[0].owner_email
    raw = _message(
        "<renewal-42@customer.example>",
        "buyer@customer.example",
        ", ".join(a_boxes + [b_box]),
        when,
    )
    ms = int(when.timestamp() * 1000)
    for i, box in enumerate([*a_boxes, b_box]):
        stack.sandbox.state.inject_raw(box, raw, labels=["INBOX"], internal_date_ms=ms + i)
    for box in a_boxes:
        stack.sandbox.state.inject_event(
            box,
            {
                "uid": "kickoff-7@customer.example",
                "subject": "Kickoff",
                "start": f"{day}T16:00",
                "organizer": "buyer@customer.example",
                "attendees": [{"email": b, "response": "accepted"} for b in a_boxes],
            },
        )
    for tenant in (tenant_a, tenant_b):
        assert stack.materialize(tenant, day, assets=ALL_ASSETS).success

    def renewal(tenant: str) -> list[dict]:
        return [
            r
            for r in stack.rows("emails", tenant, day)
            if r["internet_message_id"] == "<renewal-42@customer.example>"
        ]

    copies = [
        r
        for r in stack.rows("raw_emails", tenant_a, day)
        if r["internet_message_id"] == "<renewal-42@customer.example>"
    ]
    assert len(copies) == len(a_boxes) >= 2
    (row_a,) = renewal(tenant_a)
    assert row_a["copies"] == len(a_boxes)
    assert row_a["seen_in_mailboxes"] == sorted(a_boxes)
    (row_b,) = renewal(tenant_b)
    assert row_b["seen_in_mailboxes"] == [b_box] and row_b["copies"] == 1

    kickoff = [r for r in stack.rows("meetings", tenant_a, day) if r["subject"] == "Kickoff"]
    assert len(kickoff) == 1
    assert kickoff[0]["copies"] == len(a_boxes)
    assert kickoff[0]["seen_in_calendars"] == sorted(a_boxes)

    # materializing again changes nothing but the rows' updated_at
    def snapshot() -> list[dict]:
        rows = stack.rows("emails", tenant_a, day) + stack.rows("meetings", tenant_a, day)
        return sorted(repr(sorted((k, v) for k, v in r.items() if k != "updated_at")) for r in rows)

    before = snapshot()
    assert stack.materialize(tenant_a, day, assets=ALL_ASSETS).success
    assert snapshot() == before


def test_graph_deleted_occurrence_leaves_and_cancelled_invitation_is_kept_cancelled(stack):
    """An Outlook attendee's calendar: Graph leaves a deleted occurrence out of calendarView, so
    its row goes; the copy of a meeting its organiser cancelled stays, `isCancelled: true`."""
    tenant = stack.workload.tenants[0].slug
    owner = next(c.owner_email for c in stack.connections(tenant) if c.provider == "microsoft")
    day = _day(2)
    invited = {
        "organizer": "boss@customer.example",
        "attendees": [{"email": owner, "response": "accepted"}],
    }
    state = stack.sandbox.state
    state.inject_event(
        owner,
        {
            **invited,
            "uid": "fidelity-daily",
            "subject": "Daily with customer",
            "start": f"{_day(3)}T15:00",
            "rrule": "FREQ=DAILY;COUNT=3",
        },
    )
    state.inject_event(
        owner, {**invited, "uid": "fidelity-demo", "subject": "Demo", "start": f"{day}T18:00"}
    )
    assert stack.materialize(tenant, day, assets=MEETING_ASSETS).success

    def mine() -> dict[str, str]:
        rows = _meeting_rows(stack, tenant, day)
        wanted = {"Daily with customer", "Demo"}
        return {
            r["subject"]: r["status"]
            for r in rows
            if r["owner"] == owner and r["subject"] in wanted
        }

    assert mine() == {"Daily with customer": "confirmed", "Demo": "confirmed"}
    state.update_event(
        owner, "fidelity-daily", exceptions=[{"original_start": f"{day}T15:00", "cancelled": True}]
    )
    state.update_event(owner, "fidelity-demo", status="cancelled")
    assert stack.materialize(tenant, day, assets=MEETING_ASSETS).success
    assert mine() == {"Demo": "cancelled"}
    merged = [r for r in stack.rows("meetings", tenant, day) if r["subject"] == "Demo"]
    assert [r["status"] for r in merged] == ["cancelled"]
