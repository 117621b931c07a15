"""Each engagement check passes on good rows and fails, as an ERROR naming the rows, on
deliberately broken ones, on both backends."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from engagement_rows import add_tenant, at, email, insert, meeting

from assets.engagement_checks import (
    account_daily_findings,
    check_result,
    contact_engagement_findings,
    internal_only_findings,
    reference_findings,
)
from assets.engagement_rollup_tables import rebuild_account_daily, rebuild_contact_engagement
from resources.warehouse import Warehouse

DAY = date(2026, 3, 10)
SCOPE = {"acme": {DAY}}


def good_rows(warehouse: Warehouse):
    zone = add_tenant(warehouse, "acme", "America/Los_Angeles")
    insert(
        warehouse,
        "email_engagements",
        [
            email("acme", zone, "e1", at("2026-03-10T17:00"), contacts=["c-1", "c-2"]),
            email("acme", zone, "e2", at("2026-03-10T18:00"), "acc-2", ["c-3"], "outbound"),
        ],
    )
    insert(
        warehouse,
        "meeting_engagements",
        [meeting("acme", zone, "m1", at("2026-03-10T19:00"), accepted=["c-1"], declined=["c-2"])],
    )
    return zone


def problems(findings: list) -> list[tuple[str, str]]:
    return sorted((f.key, f.problem) for f in findings)


def test_reference_check(warehouse: Warehouse) -> None:
    zone = good_rows(warehouse)
    for table in ("email_engagements", "meeting_engagements"):
        findings, checked = reference_findings(warehouse, table, SCOPE)
        assert findings == [] and checked > 0
        assert check_result(findings, checked, "x").passed
    insert(
        warehouse,
        "email_engagements",
        [
            email("acme", zone, "gone", at("2026-03-10T17:00"), "acc-9", ["c-1"]),
            # c-3 exists but is a contact of acc-2 only; c-99 does not exist.
            email("acme", zone, "wrong", at("2026-03-10T17:00"), "acc-1", ["c-1", "c-3"]),
            email("acme", zone, "ghost", at("2026-03-10T17:00"), "acc-1", ["c-1"]),
        ],
    )
    with warehouse.write() as conn:
        table = warehouse.table("email_engagements")
        conn.execute(
            sa.update(table).where(table.c.email_key == "ghost").values(contact_ids=["c-99"])
        )
    insert(
        warehouse,
        "meeting_engagements",
        [meeting("acme", zone, "m2", at("2026-03-10T20:00"), accepted=["c-1"], declined=["c-4"])],
    )
    # A row of a day outside the scope is not this run's business.
    insert(
        warehouse,
        "email_engagements",
        [email("acme", zone, "old", at("2026-03-01T17:00"), "acc-9", ["c-1"])],
    )
    findings, checked = reference_findings(warehouse, "email_engagements", SCOPE)
    assert problems(findings) == [
        ("2026-03-10/ghost/acc-1", "unknown_contact:c-99"),
        ("2026-03-10/gone/acc-9", "unknown_account"),
        ("2026-03-10/wrong/acc-1", "contact_not_in_account:c-3"),
    ]
    assert checked == 5
    result = check_result(findings, checked, "do not match the CRM")
    assert not result.passed
    assert result.severity.value == "ERROR"
    assert result.metadata["failing_rows"].value == 3
    assert len(result.metadata["examples"].value) == 3
    meetings, _ = reference_findings(warehouse, "meeting_engagements", SCOPE)
    assert problems(meetings) == [("2026-03-10/m2/acc-1", "contact_not_in_account:c-4")]
    everything, _ = reference_findings(warehouse, "email_engagements", {"acme": None})
    assert len(everything) == 4


def test_internal_only_check(warehouse: Warehouse) -> None:
    zone = good_rows(warehouse)
    for table in ("email_engagements", "meeting_engagements"):
        assert internal_only_findings(warehouse, table, SCOPE)[0] == []
    insert(
        warehouse,
        "email_engagements",
        [
            email(
                "acme",
                zone,
                "internal",
                at("2026-03-10T17:00"),
                contact_emails=["Ana@ACME.example", "bo@eu.acme.example"],
            )
        ],
    )
    insert(
        warehouse,
        "meeting_engagements",
        [meeting("acme", zone, "m2", at("2026-03-10T20:00"), accepted=[])],
    )
    emails, checked = internal_only_findings(warehouse, "email_engagements", SCOPE)
    assert problems(emails) == [("2026-03-10/internal/acc-1", "internal_only")]
    assert checked == 3
    meetings, _ = internal_only_findings(warehouse, "meeting_engagements", SCOPE)
    assert problems(meetings) == [("2026-03-10/m2/acc-1", "no_accepted_contact")]
    assert not check_result(emails, checked, "have no external contact").passed


def test_account_daily_check(warehouse: Warehouse) -> None:
    good_rows(warehouse)
    # Before any rebuild the rollup lacks the day's rows.
    missing, _ = account_daily_findings(warehouse, SCOPE)
    assert {f.problem for f in missing} == {"missing"}
    rebuild_account_daily(warehouse, "acme", DAY)
    assert account_daily_findings(warehouse, SCOPE) == ([], 2)
    assert account_daily_findings(warehouse, {"acme": None}) == ([], 2)
    table = warehouse.table("account_engagement_daily")
    with warehouse.write() as conn:
        conn.execute(
            sa.update(table).where(table.c.account_id == "acc-1").values(emails_in=7, meetings=0)
        )
    # A detail row deleted after the rebuild leaves a rollup row with nothing behind it.
    detail = warehouse.table("email_engagements")
    with warehouse.write() as conn:
        conn.execute(sa.delete(detail).where(detail.c.account_id == "acc-2"))
    findings, checked = account_daily_findings(warehouse, SCOPE)
    assert problems(findings) == [
        ("acc-1/2026-03-10", "differs:emails_in,meetings"),
        ("acc-2/2026-03-10", "no_detail_rows"),
    ]
    assert checked == 2
    assert not check_result(findings, checked, "differ").passed


def test_contact_engagement_check(warehouse: Warehouse) -> None:
    good_rows(warehouse)
    # Never built: nothing to compare yet.
    assert contact_engagement_findings(warehouse, {"acme": None}) == ([], 0)
    rebuild_contact_engagement(warehouse, "acme", at("2026-03-12T12:00"))
    assert contact_engagement_findings(warehouse, {"acme": None}) == ([], 4)
    table = warehouse.table("contact_engagement")
    with warehouse.write() as conn:
        conn.execute(sa.update(table).where(table.c.contact_id == "c-1").values(emails_7d=0))
        conn.execute(sa.delete(table).where(table.c.contact_id == "c-4"))
    findings, checked = contact_engagement_findings(warehouse, {"acme": None})
    assert problems(findings) == [("c-1", "differs:emails_7d"), ("c-4", "missing")]
    assert checked == 3
    with warehouse.write() as conn:
        conn.execute(
            sa.update(table).where(table.c.contact_id == "c-2").values(as_of=date(2026, 3, 1))
        )
    several, _ = contact_engagement_findings(warehouse, {"acme": None})
    assert problems(several) == [("*", "several_as_of")]
