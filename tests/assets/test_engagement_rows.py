"""The engagement rows (assets/engagement_rows.py) of hand-made `emails` and `meetings` rows: one
case per rule, the columns each row carries, and local days in far-apart zones (pure, no
warehouse)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from assets.engagement_rows import (
    build_email_engagements,
    build_meeting_engagements,
    email_engagement_rows,
    meeting_engagement_rows,
)
from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot
from resources.registry.engagement_context import EngagementContext
from resources.registry.records import Connection, Tenant
from vocabulary.engagement import Authorization, TenantPeople
from vocabulary.status import ConnectionStatus

AUTHORIZED = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
AFTER = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
OWNER, ALIAS, SECOND = "owner@acme.example", "o@acme-alias.example", "second@acme.example"
COLLEAGUE = "pat@acme.example"
CONTACTS = {
    "ann@globex.example": ("con-ann", ("globex",)),
    "bob@initech.example": ("con-bob", ("initech",)),
    "cat@initech.example": ("con-cat", ("initech",)),
    "eve@both.example": ("con-eve", ("globex", "initech")),
    "spy@rival.example": ("con-spy", ("initech",)),
}


def _connection(connection_id: str, owner: str, aliases: tuple[str, ...]) -> Connection:
    return Connection(
        connection_id,
        "acme",
        owner,
        aliases,
        "google",
        (),
        AUTHORIZED,
        ConnectionStatus.ACTIVE,
        AUTHORIZED,
        None,
        None,
    )


def context(
    time_zone: str = "Europe/Berlin",
    back_synced: frozenset[date] = frozenset(),
    contacts: dict[str, tuple[str, tuple[str, ...]]] = CONTACTS,
) -> EngagementContext:
    """Tenant acme: two connections (the second authorized five days after the first)."""
    crm = CrmSnapshot(
        (
            CrmAccount("globex", "Globex", ("globex.example",)),
            CrmAccount("initech", "Initech", ("initech.example",)),
        ),
        tuple(
            CrmContact(cid, None, email, accounts)
            for email, (cid, accounts) in sorted(contacts.items(), key=lambda c: c[1][0])
        ),
    )
    first = _connection("c1", OWNER, (ALIAS,))
    second = _connection("c2", SECOND, ())
    return EngagementContext(
        tenant=Tenant("acme", "Acme", ("acme.example",), ("rival.example",), time_zone),
        people=TenantPeople.of(["acme.example"], ["rival.example"], [OWNER, ALIAS, SECOND]),
        connections={"c1": first, "c2": second},
        authorizations={
            "c1": Authorization(AUTHORIZED, back_synced),
            "c2": Authorization(AUTHORIZED + timedelta(days=5)),
        },
        crm=crm,
        accounts_by_email=crm.accounts_by_email(),
        contact_ids_by_email={c.email: c.contact_id for c in crm.contacts},
    )


CTX = context()


def email(
    sender: str | None = "Ann@Globex.example",
    to: tuple[str, ...] = (OWNER,),
    cc: tuple[str, ...] = (),
    received: datetime = AFTER,
    sent: datetime | None = None,
    seen: tuple[str, ...] = ("c1",),
    key: str = "<m1@globex.example>",
) -> dict[str, Any]:
    """An `emails` row as the warehouse returns it."""
    return {
        "tenant_id": "acme",
        "email_key": key,
        "partition_day": received.date(),
        "internet_message_id": key,
        "thread_id": "t1",
        "subject": "Renewal",
        "from_address": sender,
        "from_name": None,
        "to_addresses": list(to),
        "cc_addresses": list(cc),
        "bcc_addresses": [],
        "sent_at": sent if sent is not None else received - timedelta(seconds=30),
        "received_at": received,
        "seen_in_connections": list(seen),
        "seen_in_mailboxes": [SECOND, OWNER][: len(seen)],
        "copies": len(seen),
        "message_id_conflict": False,
    }


def meeting(
    attendees: dict[str, str],
    organizer: str | None = OWNER,
    start: datetime = datetime(2026, 11, 19, 14, 0, tzinfo=UTC),
    minutes: int = 45,
    status: str = "confirmed",
    all_day: bool = False,
    series_id: str | None = None,
) -> dict[str, Any]:
    """A `meetings` row as the warehouse returns it (attendees: address -> response)."""
    return {
        "tenant_id": "acme",
        "meeting_key": f"uid-1|{start.isoformat()}",
        "partition_day": start.date(),
        "ical_uid": "uid-1",
        "start_at": start,
        "end_at": start + timedelta(minutes=minutes),
        "all_day": all_day,
        "subject": "QBR",
        "status": status,
        "organizer_email": organizer,
        "attendees": [{"email": a, "name": None, "response": r} for a, r in attendees.items()],
        "series_id": series_id,
        "seen_in_connections": ["c2", "c1"],
        "seen_in_calendars": [SECOND, OWNER],
        "copies": 2,
    }


def by_account(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["account_id"]: r for r in rows}


def not_engaged(row: dict[str, Any], ctx: EngagementContext = CTX) -> dict[str, int]:
    built = build_email_engagements([row], ctx)
    assert built.rows == []
    return dict(built.not_engaged)


# ---- emails ----------------------------------------------------------------------------------


def test_a_contact_on_a_message_engages_its_account_with_every_column() -> None:
    row = email(
        sender="Ann@Globex.example",
        to=(OWNER, "stranger@elsewhere.example"),
        cc=(COLLEAGUE,),
        seen=("c1", "c2"),
    )
    assert email_engagement_rows([row], CTX) == [
        {
            "tenant_id": "acme",
            "email_key": "<m1@globex.example>",
            "account_id": "globex",
            "partition_day": date(2026, 11, 18),
            "local_day": date(2026, 11, 18),
            "local_week": date(2026, 11, 16),
            "internet_message_id": "<m1@globex.example>",
            "thread_id": "t1",
            "subject": "Renewal",
            "sent_at": AFTER - timedelta(seconds=30),
            "direction": "inbound",
            "from_address": "Ann@Globex.example",
            "contact_ids": ["con-ann"],
            "contact_emails": ["ann@globex.example"],
            "internal_participants": [OWNER, COLLEAGUE],
            "seen_in_mailboxes": [OWNER, SECOND],
        }
    ]


def test_internal_only_mail_engages_nothing() -> None:
    assert not_engaged(email(sender=COLLEAGUE, to=(OWNER, ALIAS))) == {"internal_only": 1}


def test_blocked_only_mail_engages_nothing_even_from_a_blocked_contact() -> None:
    assert not_engaged(email(sender="spy@rival.example")) == {"blocked_only": 1}
    assert not_engaged(email(sender="anyone@sub.rival.example")) == {"blocked_only": 1}


def test_mail_with_no_contact_engages_nothing() -> None:
    assert not_engaged(email(sender="stranger@elsewhere.example")) == {"no_contact_of_account": 1}


def test_a_blocked_contact_beside_a_stranger_is_reported_as_such() -> None:
    row = email(sender="stranger@elsewhere.example", cc=("spy@rival.example",))
    assert not_engaged(row) == {"contact_on_blocked_domain": 1}


def test_mail_before_authorization_engages_nothing_unless_a_mailbox_that_saw_it_allowed_it() -> (
    None
):
    early = AUTHORIZED + timedelta(days=1)  # c1 was authorized, c2 not yet
    assert not_engaged(email(received=early, seen=("c2",))) == {"before_authorization": 1}
    assert not_engaged(email(received=AUTHORIZED - timedelta(hours=1))) == {
        "before_authorization": 1
    }
    assert by_account(email_engagement_rows([email(received=early, seen=("c2", "c1"))], CTX))
    # a mailbox no connection of the tenant knows never lets mail count
    assert not_engaged(email(seen=("gone",))) == {"before_authorization": 1}


def test_a_back_synced_day_counts_and_only_that_day() -> None:
    day = (AUTHORIZED - timedelta(days=3)).date()
    ctx = context(back_synced=frozenset({day}))
    on_day = email(received=datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=23))
    next_day = email(received=on_day["received_at"] + timedelta(hours=2))
    assert [r["partition_day"] for r in email_engagement_rows([on_day], ctx)] == [day]
    assert not_engaged(next_day, ctx) == {"before_authorization": 1}


def test_a_contact_in_two_accounts_engages_both_and_two_contacts_two_accounts() -> None:
    rows = by_account(email_engagement_rows([email(sender="eve@both.example")], CTX))
    assert {a: r["contact_ids"] for a, r in rows.items()} == {
        "globex": ["con-eve"],
        "initech": ["con-eve"],
    }
    rows = by_account(
        email_engagement_rows(
            [email(to=(OWNER, "cat@initech.example", "bob@initech.example"))], CTX
        )
    )
    assert {a: r["contact_emails"] for a, r in rows.items()} == {
        "globex": ["ann@globex.example"],
        "initech": ["bob@initech.example", "cat@initech.example"],
    }
    assert rows["initech"]["contact_ids"] == ["con-bob", "con-cat"]


def test_a_blocked_contact_is_left_out_of_the_accounts_contacts() -> None:
    rows = by_account(
        email_engagement_rows([email(sender="bob@initech.example", cc=("spy@rival.example",))], CTX)
    )
    assert rows["initech"]["contact_ids"] == ["con-bob"]


@pytest.mark.parametrize(
    ("sender", "direction"),
    [
        (OWNER, "outbound"),
        ("O@Acme-Alias.example", "outbound"),  # the owner's alias
        (COLLEAGUE, "outbound"),  # any internal colleague
        ("ann@globex.example", "inbound"),
        (None, "inbound"),  # no usable sender
    ],
)
def test_direction(sender: str | None, direction: str) -> None:
    row = email(sender=sender, to=("ann@globex.example", OWNER))
    assert [r["direction"] for r in email_engagement_rows([row], CTX)] == [direction]


def test_sent_at_falls_back_to_the_receipt_and_decides_the_local_day() -> None:
    late = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)  # 00:30 the next day in Berlin
    row = email(received=late)
    row["sent_at"] = None
    (out,) = email_engagement_rows([row], CTX)
    assert (out["sent_at"], out["partition_day"], out["local_day"]) == (
        late,
        date(2026, 11, 18),
        date(2026, 11, 19),
    )


def test_rows_depend_only_on_the_inputs_not_on_header_order_or_case() -> None:
    rows = [
        email(to=(OWNER, "eve@both.example", "cat@initech.example"), key=f"<{n}@x>") for n in (1, 2)
    ]
    first = email_engagement_rows(rows, CTX)
    shuffled = [dict(r, to_addresses=list(reversed(r["to_addresses"]))) for r in rows]
    shuffled[0]["to_addresses"] = [a.upper() for a in shuffled[0]["to_addresses"]]
    assert email_engagement_rows(shuffled, CTX) == first
    assert email_engagement_rows(rows, context()) == first
    assert len(first) == 4


def test_without_a_crm_nothing_engages_and_the_message_rule_is_still_reported() -> None:
    ctx = context(contacts={})
    built = build_email_engagements(
        [
            email(),
            email(sender=COLLEAGUE, key="<2@x>"),
            email(sender="spy@rival.example", key="<3@x>"),
        ],
        ctx,
    )
    assert built.rows == []
    assert dict(built.not_engaged) == {
        "no_contact_of_account": 1,
        "internal_only": 1,
        "blocked_only": 1,
    }


# ---- local days ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "sent", "local_day", "local_week"),
    [
        # Tokyo (UTC+9): 16:30 UTC is 01:30 the next day
        (
            "Asia/Tokyo",
            datetime(2026, 11, 15, 16, 30, tzinfo=UTC),
            date(2026, 11, 16),
            date(2026, 11, 16),
        ),
        (
            "Asia/Tokyo",
            datetime(2026, 11, 15, 14, 30, tzinfo=UTC),
            date(2026, 11, 15),
            date(2026, 11, 9),
        ),
        # Los Angeles: 05:00 UTC is the evening before
        (
            "America/Los_Angeles",
            datetime(2026, 11, 20, 5, 0, tzinfo=UTC),
            date(2026, 11, 19),
            date(2026, 11, 16),
        ),
        # DST ends in Los Angeles on Sunday 2026-11-01 at 02:00 PDT: 07:30 UTC is 00:30 PDT that
        # Sunday, but the next day 07:30 UTC is 23:30 PST, still Sunday (a fixed -7 h would say
        # Monday and the next week)
        (
            "America/Los_Angeles",
            datetime(2026, 11, 1, 7, 30, tzinfo=UTC),
            date(2026, 11, 1),
            date(2026, 10, 26),
        ),
        (
            "America/Los_Angeles",
            datetime(2026, 11, 2, 7, 30, tzinfo=UTC),
            date(2026, 11, 1),
            date(2026, 10, 26),
        ),
        (
            "America/Los_Angeles",
            datetime(2026, 11, 2, 8, 30, tzinfo=UTC),
            date(2026, 11, 2),
            date(2026, 11, 2),
        ),
    ],
)
def test_local_day_and_week_in_the_tenant_zone(
    zone: str, sent: datetime, local_day: date, local_week: date
) -> None:
    ctx = context(time_zone=zone)
    (mail,) = email_engagement_rows([email(received=sent + timedelta(minutes=1), sent=sent)], ctx)
    assert (mail["local_day"], mail["local_week"]) == (local_day, local_week)
    assert mail["partition_day"] == (sent + timedelta(minutes=1)).date()
    (met,) = meeting_engagement_rows(
        [meeting({"ann@globex.example": "accepted"}, start=sent)], ctx, NOW
    )
    assert (met["local_day"], met["local_week"]) == (local_day, local_week)


def test_an_all_day_meeting_keeps_its_date_west_of_utc() -> None:
    start = datetime(2026, 11, 16, tzinfo=UTC)  # all-day on Monday 16th, stored at UTC midnight
    row = meeting({"ann@globex.example": "accepted"}, start=start, minutes=24 * 60, all_day=True)
    for zone in ("America/Los_Angeles", "Asia/Tokyo"):
        (out,) = meeting_engagement_rows([row], context(time_zone=zone), NOW)
        assert (out["local_day"], out["local_week"], out["all_day"]) == (
            start.date(),
            start.date(),
            True,
        )
        assert out["duration_minutes"] == 24 * 60


# ---- meetings --------------------------------------------------------------------------------


def test_an_accepted_meeting_engages_with_contacts_by_response_and_every_column() -> None:
    row = meeting(
        {
            "Ann@Globex.example": "accepted",
            "eve@both.example": "declined",
            "bob@initech.example": "tentative",
            "cat@initech.example": "accepted",
            COLLEAGUE: "accepted",
            SECOND: "declined",
            "spy@rival.example": "accepted",
        },
        organizer="O@acme-alias.example",
    )
    rows = by_account(meeting_engagement_rows([row], CTX, NOW))
    assert rows["globex"] == {
        "tenant_id": "acme",
        "meeting_key": row["meeting_key"],
        "account_id": "globex",
        "partition_day": date(2026, 11, 19),
        "local_day": date(2026, 11, 19),
        "local_week": date(2026, 11, 16),
        "ical_uid": "uid-1",
        "subject": "QBR",
        "start_at": row["start_at"],
        "end_at": row["end_at"],
        "duration_minutes": 45,
        "all_day": False,
        "organizer_email": "O@acme-alias.example",
        "accepted_contact_ids": ["con-ann"],
        "declined_contact_ids": ["con-eve"],
        "tentative_contact_ids": [],
        # the organiser and the colleagues who did not decline
        "internal_attendees": [ALIAS, COLLEAGUE],
        "recurring": False,
        "seen_in_calendars": [OWNER, SECOND],
    }
    initech = rows["initech"]
    assert (
        initech["accepted_contact_ids"],
        initech["declined_contact_ids"],
        initech["tentative_contact_ids"],
    ) == (["con-cat"], ["con-eve"], ["con-bob"])


def test_a_meeting_the_owner_did_not_organise_engages_nothing() -> None:
    row = meeting(
        {"ann@globex.example": "accepted", OWNER: "accepted"}, organizer="ann@globex.example"
    )
    built = build_meeting_engagements([row], CTX, NOW)
    assert (built.rows, dict(built.not_engaged)) == ([], {"not_organised_by_owner": 1})
    colleague = meeting({"ann@globex.example": "accepted"}, organizer=COLLEAGUE)
    assert meeting_engagement_rows([colleague], CTX, NOW) == []
    assert (
        meeting_engagement_rows(
            [meeting({"ann@globex.example": "accepted"}, organizer=None)], CTX, NOW
        )
        == []
    )


def test_a_cancelled_meeting_engages_nothing() -> None:
    row = meeting({"ann@globex.example": "accepted"}, status="cancelled")
    assert dict(build_meeting_engagements([row], CTX, NOW).not_engaged) == {"cancelled": 1}


def test_a_meeting_counts_once_it_has_started() -> None:
    row = meeting({"ann@globex.example": "accepted"}, start=NOW)
    assert len(meeting_engagement_rows([row], CTX, NOW)) == 1
    built = build_meeting_engagements([row], CTX, NOW - timedelta(seconds=1))
    assert (built.rows, dict(built.not_engaged)) == ([], {"not_started": 1})


def test_a_meeting_no_contact_accepted_engages_nothing() -> None:
    row = meeting(
        {
            "ann@globex.example": "declined",
            "bob@initech.example": "none",
            "eve@both.example": "tentative",
        }
    )
    built = build_meeting_engagements([row], CTX, NOW)
    assert (built.rows, dict(built.not_engaged)) == ([], {"no_contact_accepted": 1})
    internal = meeting({COLLEAGUE: "accepted"})
    assert dict(build_meeting_engagements([internal], CTX, NOW).not_engaged) == {
        "no_contact_of_account": 1
    }


def test_only_the_accounts_whose_contact_accepted_are_engaged() -> None:
    row = meeting({"ann@globex.example": "accepted", "bob@initech.example": "declined"})
    assert list(by_account(meeting_engagement_rows([row], CTX, NOW))) == ["globex"]


def test_an_occurrence_of_a_series_is_recurring() -> None:
    rows = meeting_engagement_rows(
        [meeting({"ann@globex.example": "accepted"}, series_id="series-1")], CTX, NOW
    )
    assert [r["recurring"] for r in rows] == [True]


def test_meeting_rows_are_deterministic() -> None:
    attendees = {
        "eve@both.example": "accepted",
        "cat@initech.example": "tentative",
        COLLEAGUE: "none",
    }
    row = meeting(attendees)
    reordered = meeting(dict(reversed(list(attendees.items()))))
    first = meeting_engagement_rows([row], CTX, NOW)
    assert meeting_engagement_rows([reordered], context(), NOW) == first
    assert len(first) == 2


def test_build_counts_what_it_read_and_the_accounts() -> None:
    built = build_email_engagements(
        [
            email(),
            email(sender="eve@both.example", key="<2@x>"),
            email(sender=COLLEAGUE, key="<3@x>"),
        ],
        CTX,
    )
    assert (built.read, len(built.rows), built.accounts) == (3, 3, {"globex", "initech"})
    assert dict(built.not_engaged) == {"internal_only": 1}
    shuffled = [meeting({"ann@globex.example": "accepted"}), meeting({}, status="cancelled")]
    random.Random(1).shuffle(shuffled)
    met = build_meeting_engagements(shuffled, CTX, NOW)
    assert (met.read, len(met.rows), dict(met.not_engaged)) == (2, 1, {"cancelled": 1})
