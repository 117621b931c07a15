"""account_engagement_daily and contact_engagement on both backends: rebuilt from detail rows
inserted by hand, partition D rewriting exactly the local days it touches, tenants east and
west of UTC (with LA's DST changes), the contact windows, and a real Dagster run."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import sqlalchemy as sa
from engagement_rows import add_tenant, at, email, insert, meeting, rows_of

from assets.crm import crm_contacts
from assets.engagement_checks import ENGAGEMENT_CHECKS
from assets.engagement_rollup_tables import rebuild_account_daily, rebuild_contact_engagement
from assets.engagement_rollups import (
    CONTACT_ENGAGEMENT_AUTOMATION,
    account_engagement_daily,
    contact_engagement,
)
from assets.partitions import tenant_day_key, tenant_day_partitions, tenant_partitions
from assets.stream_assets import SYNC_BACKFILL_POLICY
from resources.dagster_resources import WarehouseResource
from resources.warehouse import Warehouse

DAILY = "account_engagement_daily"


def daily(warehouse: Warehouse, tenant_id: str) -> dict[tuple[str, date], dict]:
    return {(r["account_id"], r["local_day"]): r for r in rows_of(warehouse, DAILY, tenant_id)}


def stale_row(tenant_id: str, account_id: str, day: date) -> dict:
    """A row no rebuild would write (999 emails), to see which rows a rebuild replaced."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return {
        "tenant_id": tenant_id,
        "account_id": account_id,
        "local_day": day,
        "local_week": day - timedelta(days=day.weekday()),
        "emails_in": 999,
        "emails_out": 0,
        "meetings": 0,
        "meeting_minutes": 0,
        "distinct_contacts": 0,
        "distinct_internal_people": 0,
        "first_touch_at": noon,
        "last_touch_at": noon,
    }


def test_rollup_of_hand_written_detail_rows(warehouse: Warehouse) -> None:
    zone = add_tenant(warehouse, "acme", "UTC")
    insert(
        warehouse,
        "email_engagements",
        [
            email("acme", zone, "e1", at("2026-05-04T09:00"), contacts=["c-1"]),
            email(
                "acme",
                zone,
                "e2",
                at("2026-05-04T11:00"),
                contacts=["c-1", "c-2"],
                direction="outbound",
                internal=["ana@acme.example", "rep@acme.example"],
            ),
            email("acme", zone, "e2", at("2026-05-04T11:00"), "acc-2", ["c-2"], "outbound"),
        ],
    )
    insert(
        warehouse,
        "meeting_engagements",
        [
            meeting("acme", zone, "m1", at("2026-05-04T15:00"), 45, accepted=["c-2"]),
            meeting("acme", zone, "m2", at("2026-05-04T16:00"), 30, accepted=["c-1"]),
        ],
    )
    counts = rebuild_account_daily(warehouse, "acme", date(2026, 5, 4))
    assert (counts.local_days, counts.rows, counts.removed) == (1, 2, 0)
    rows = daily(warehouse, "acme")
    first = rows[("acc-1", date(2026, 5, 4))]
    assert (first["emails_in"], first["emails_out"]) == (1, 1)
    assert (first["meetings"], first["meeting_minutes"]) == (2, 75)
    assert (first["distinct_contacts"], first["distinct_internal_people"]) == (2, 2)
    assert first["first_touch_at"] == at("2026-05-04T09:00")
    assert first["last_touch_at"] == at("2026-05-04T16:00")
    assert first["local_week"] == date(2026, 5, 4)
    second = rows[("acc-2", date(2026, 5, 4))]
    assert (second["emails_in"], second["emails_out"], second["meetings"]) == (0, 1, 0)
    assert second["first_touch_at"] == second["last_touch_at"] == at("2026-05-04T11:00")


def test_partition_rewrites_both_local_days_it_touches_and_nothing_else(
    warehouse: Warehouse,
) -> None:
    tokyo = add_tenant(warehouse, "tokyo", "Asia/Tokyo")
    add_tenant(warehouse, "other", "Asia/Tokyo")
    d9, d10, d11, d12 = (date(2026, 3, d) for d in (9, 10, 11, 12))
    insert(
        warehouse,
        DAILY,
        [
            stale_row("tokyo", "acc-1", d9),
            stale_row("tokyo", "acc-1", d10),
            stale_row("tokyo", "acc-1", d11),
            stale_row("tokyo", "acc-1", d12),
            stale_row("tokyo", "acc-2", d10),  # no detail rows left: must go
            stale_row("other", "acc-1", d10),  # another tenant: untouched
        ],
    )
    insert(
        warehouse,
        "email_engagements",
        [
            # UTC day 9 (the neighbour's partition), local day 10 at 05:00.
            email("tokyo", tokyo, "early", at("2026-03-09T20:00")),
            email("tokyo", tokyo, "late", at("2026-03-10T10:00")),  # local day 10, 19:00
            # UTC day 11, local day 11 at 14:00: the neighbour's, but local day 11 is ours.
            email("tokyo", tokyo, "next", at("2026-03-11T05:00"), direction="outbound"),
            email("tokyo", tokyo, "far", at("2026-03-11T16:00")),  # local day 12: not ours
        ],
    )
    insert(
        warehouse,
        "meeting_engagements",
        [meeting("tokyo", tokyo, "m", at("2026-03-10T20:00"), 60)],  # local day 11, 05:00
    )
    counts = rebuild_account_daily(warehouse, "tokyo", d10)
    assert (counts.local_days, counts.rows, counts.removed) == (2, 2, 3)
    rows = daily(warehouse, "tokyo")
    assert set(rows) == {("acc-1", d) for d in (d9, d10, d11, d12)}
    assert rows[("acc-1", d9)]["emails_in"] == 999
    assert rows[("acc-1", d12)]["emails_in"] == 999
    tenth, eleventh = rows[("acc-1", d10)], rows[("acc-1", d11)]
    assert (tenth["emails_in"], tenth["emails_out"], tenth["meetings"]) == (2, 0, 0)
    assert tenth["first_touch_at"] == at("2026-03-09T20:00")
    assert (eleventh["emails_in"], eleventh["emails_out"], eleventh["meetings"]) == (0, 1, 1)
    assert eleventh["meeting_minutes"] == 60
    assert eleventh["first_touch_at"] == at("2026-03-10T20:00")
    assert eleventh["last_touch_at"] == at("2026-03-11T05:00")
    assert daily(warehouse, "other")[("acc-1", d10)]["emails_in"] == 999
    before = rows_of(warehouse, DAILY)
    rebuild_account_daily(warehouse, "tokyo", d10)
    assert rows_of(warehouse, DAILY) == before


def test_los_angeles_dst_days_land_touches_on_the_local_day(warehouse: Warehouse) -> None:
    la = add_tenant(warehouse, "la", "America/Los_Angeles")
    insert(
        warehouse,
        "email_engagements",
        [
            email("la", la, "mar-a", at("2026-03-08T07:30")),  # 23:30 PST, Mar 7
            email("la", la, "mar-b", at("2026-03-08T08:30")),  # 00:30 PST, Mar 8
            email("la", la, "mar-c", at("2026-03-09T06:30")),  # 23:30 PDT, Mar 8 (23-h day)
            email("la", la, "mar-d", at("2026-03-09T07:30")),  # 00:30 PDT, Mar 9
            email("la", la, "nov-a", at("2026-11-01T06:30")),  # 23:30 PDT, Oct 31
            email("la", la, "nov-b", at("2026-11-01T07:30")),  # 00:30 PDT, Nov 1
            email("la", la, "nov-c", at("2026-11-02T07:30")),  # 23:30 PST, Nov 1 (25-h day)
            email("la", la, "nov-d", at("2026-11-02T08:30")),  # 00:30 PST, Nov 2
        ],
    )
    for day in ("2026-03-08", "2026-03-09", "2026-11-01", "2026-11-02"):
        rebuild_account_daily(warehouse, "la", date.fromisoformat(day))
    emails_by_day = {day: r["emails_in"] for (_, day), r in daily(warehouse, "la").items()}
    assert emails_by_day == {
        date(2026, 3, 7): 1,
        date(2026, 3, 8): 2,
        date(2026, 3, 9): 1,
        date(2026, 10, 31): 1,
        date(2026, 11, 1): 2,
        date(2026, 11, 2): 1,
    }
    # UTC day Nov 2 rewrites Nov 1 (whole, its 25 hours) and Nov 2 only.
    counts = rebuild_account_daily(warehouse, "la", date(2026, 11, 2))
    assert (counts.local_days, counts.rows, counts.removed) == (2, 2, 2)
    nov_1 = daily(warehouse, "la")[("acc-1", date(2026, 11, 1))]
    assert (nov_1["first_touch_at"], nov_1["last_touch_at"]) == (
        at("2026-11-01T07:30"),
        at("2026-11-02T07:30"),
    )


def test_contact_engagement_windows_and_untouched_contacts(warehouse: Warehouse) -> None:
    la = add_tenant(warehouse, "la", "America/Los_Angeles")
    # 03:00Z on Jul 1 is still Jun 30 in LA: as_of is the tenant's date.
    now = at("2026-07-01T03:00")
    as_of = date(2026, 6, 30)
    insert(
        warehouse,
        "email_engagements",
        [
            email("la", la, "now", at("2026-07-01T02:00")),  # Jun 30 local
            # One message engaging both of Bob's accounts: one email to Bob.
            email("la", la, "both", at("2026-06-29T18:00"), "acc-1", ["c-1", "c-2"]),
            email("la", la, "both", at("2026-06-29T18:00"), "acc-2", ["c-2"]),
            email("la", la, "d7", at("2026-06-23T19:00")),  # Jun 23 = as_of - 7: not in 7d
            email("la", la, "d6", at("2026-06-24T19:00"), direction="outbound"),
            email("la", la, "d30", at("2026-05-31T19:00")),  # as_of - 30: not in 30d
            email("la", la, "d89", at("2026-04-02T19:00")),
            email("la", la, "d90", at("2026-04-01T19:00")),  # as_of - 90: in no window
        ],
    )
    insert(
        warehouse,
        "meeting_engagements",
        [
            meeting("la", la, "m1", at("2026-06-30T17:00"), accepted=["c-1"], declined=["c-2"]),
            meeting("la", la, "m2", at("2026-05-15T17:00"), accepted=["c-1", "c-2"]),
        ],
    )
    counts = rebuild_contact_engagement(warehouse, "la", now)
    assert (counts.rows, counts.removed) == (4, 0)
    rows = {r["contact_id"]: r for r in rows_of(warehouse, "contact_engagement", "la")}
    assert set(rows) == {"c-1", "c-2", "c-3", "c-4"}
    ann, bob, cy = rows["c-1"], rows["c-2"], rows["c-3"]
    assert ann["as_of"] == as_of and ann["email"] == "ann@globex.example"
    assert (ann["emails_7d"], ann["emails_30d"], ann["emails_90d"]) == (3, 4, 6)
    assert (ann["meetings_7d"], ann["meetings_30d"], ann["meetings_90d"]) == (1, 1, 2)
    assert ann["last_inbound_at"] == at("2026-07-01T02:00")
    assert ann["last_outbound_at"] == at("2026-06-24T19:00")
    assert ann["last_meeting_at"] == at("2026-06-30T17:00")
    assert (bob["emails_7d"], bob["meetings_7d"], bob["meetings_90d"]) == (1, 0, 1)
    assert bob["last_meeting_at"] == at("2026-05-15T17:00")  # declined m1 does not count
    assert cy["last_inbound_at"] is None and cy["last_meeting_at"] is None
    assert [cy[f"{k}_{n}d"] for k in ("emails", "meetings") for n in (7, 30, 90)] == [0] * 6
    before = rows_of(warehouse, "contact_engagement")
    again = rebuild_contact_engagement(warehouse, "la", now)
    assert (again.rows, again.removed) == (4, 4)
    assert rows_of(warehouse, "contact_engagement") == before


def detail_stand_ins() -> list[dg.AssetsDefinition]:
    """The detail assets' keys and partitions, doing nothing: the rows are inserted by hand
    (the real assets are built elsewhere), and their checks then run in the same run."""

    def stand_in(name: str) -> dg.AssetsDefinition:
        @dg.asset(
            name=name,
            partitions_def=tenant_day_partitions,
            group_name="engagement",
            backfill_policy=SYNC_BACKFILL_POLICY,
        )
        def _asset() -> None:
            return None

        return _asset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # backfill_policy, as in the real ones
        return [stand_in("email_engagements"), stand_in("meeting_engagements")]


def test_assets_and_checks_in_a_dagster_run(warehouse_url: str) -> None:
    warehouse = Warehouse(warehouse_url)
    warehouse.migrate()
    tokyo = add_tenant(warehouse, "tokyo", "Asia/Tokyo")
    insert(
        warehouse,
        "email_engagements",
        [
            email("tokyo", tokyo, "e1", at("2026-03-10T01:00")),
            email("tokyo", tokyo, "e2", at("2026-03-10T20:00"), "acc-2", ["c-3"]),
        ],
    )
    insert(warehouse, "meeting_engagements", [meeting("tokyo", tokyo, "m", at("2026-03-10T02:00"))])
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(tenant_partitions.name, ["tokyo"])
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}
    assets = [*detail_stand_ins(), account_engagement_daily, *ENGAGEMENT_CHECKS[:5]]
    result = dg.materialize(
        assets,
        partition_key=tenant_day_key("tokyo", "2026-03-10"),
        instance=instance,
        resources=resources,
    )
    assert result.success
    (built,) = result.asset_materializations_for_node("account_engagement_daily")
    assert built.metadata["local_days_rebuilt"].value == 2
    assert built.metadata["rows"].value == 2
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    assert len(evaluations) == 5
    assert all(e.passed for e in evaluations.values())
    assert evaluations[("email_engagements", "references_crm")].metadata["rows_checked"].value == 2

    before = datetime.now(UTC)
    tenant_run = dg.materialize(
        [crm_contacts, contact_engagement, ENGAGEMENT_CHECKS[5]],
        partition_key="tokyo",
        instance=instance,
        resources=resources,
    )
    assert tenant_run.success
    (check,) = tenant_run.get_asset_check_evaluations()
    assert check.passed and check.metadata["rows_checked"].value == 4
    rows = rows_of(warehouse, "contact_engagement", "tokyo")
    # The tenant's date at some instant of the run (the run may cross a midnight).
    assert rows[0]["as_of"] in {
        before.astimezone(tokyo).date(),
        datetime.now(UTC).astimezone(tokyo).date(),
    }

    # A row naming an account the CRM lacks: the next run's check fails, as an ERROR.
    broken = email("tokyo", tokyo, "e3", at("2026-03-10T03:00"), "acc-gone", ["c-1"])
    insert(warehouse, "email_engagements", [broken])
    failed = dg.materialize(
        assets,
        partition_key=tenant_day_key("tokyo", "2026-03-10"),
        instance=instance,
        resources=resources,
    )
    assert failed.success  # a failed check is reported, the run itself succeeds
    found = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in failed.get_asset_check_evaluations()
    }
    references = found[("email_engagements", "references_crm")]
    assert not references.passed
    assert references.severity == dg.AssetCheckSeverity.ERROR
    assert references.metadata["failing_rows"].value == 1
    assert references.metadata["examples"].value == [
        {"tenant": "tokyo", "row": "2026-03-10/e3/acc-gone", "problem": "unknown_account"}
    ]
    warehouse.dispose()


def test_contact_engagement_follows_any_upstream_tenant_day(warehouse_url: str) -> None:
    defs = dg.Definitions(
        assets=[*detail_stand_ins(), crm_contacts, contact_engagement],
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
    )
    key = contact_engagement.key
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, ["tokyo", "la"])
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        # Existing tenants are not requested on the first tick; crm_contacts and every day
        # are missing, which must not hold the condition back later.
        assert first.get_num_requested(key) == 0
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "email_engagements", partition=tenant_day_key("tokyo", "2026-03-10")
            )
        )
        second = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor
        )
        assert second.get_requested_partitions(key) == {"tokyo"}
        # Requested once: the update is handled, nothing new happened.
        third = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=second.cursor
        )
        assert third.get_num_requested(key) == 0
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                "meeting_engagements", partition=tenant_day_key("la", "2025-01-01")
            )
        )
        instance.add_dynamic_partitions(tenant_partitions.name, ["new"])
        fourth = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=third.cursor
        )
        # la's day was materialized; "new" appeared (its contacts, all zeros, exist at once).
        assert fourth.get_requested_partitions(key) == {"la", "new"}
    assert CONTACT_ENGAGEMENT_AUTOMATION.get_label() == "eager_despite_unsynced_days"


def test_rollup_reads_nothing_of_other_tenants(warehouse: Warehouse) -> None:
    zone = add_tenant(warehouse, "acme", "UTC")
    add_tenant(warehouse, "globex", "UTC")
    insert(warehouse, "email_engagements", [email("globex", zone, "g", at("2026-05-04T09:00"))])
    assert rebuild_account_daily(warehouse, "acme", date(2026, 5, 4)).rows == 0
    with warehouse.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(warehouse.table(DAILY))) == 0
