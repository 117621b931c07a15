"""The code location loads; the schedule ticks and the sensor evaluates against a real registry."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.definitions import defs
from orchestration.schedules import (
    MAX_RUNTIME_TAG,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    TENANTS_PER_RUN_ENV,
    covered_tenants,
    days_to_sync,
    hourly_sync_schedule,
    shards,
)
from paths import ROOT
from resources.dagster_resources import WarehouseResource
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sensors.tenant_partitions import tenant_partitions_sensor
from vocabulary.status import ConnectionStatus


def test_definitions_have_what_the_product_needs():
    dg.Definitions.validate_loadable(defs)
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {
        "raw_emails",
        "emails",
        "raw_meetings",
        "meetings",
        "archive/raw_emails",
        "archive/emails",
        "archive/raw_meetings",
        "archive/meetings",
        "crm_accounts",
        "crm_contacts",
        "email_engagements",
        "meeting_engagements",
        "account_engagement_daily",
        "contact_engagement",
    }
    assert defs.resolve_job_def("tenant_sync_job") is not None
    schedule = defs.resolve_schedule_def("hourly_sync_schedule")
    assert schedule.cron_schedule == "5 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert defs.resolve_sensor_def("tenant_partitions_sensor") is not None
    assert set(defs.resources) >= {"warehouse", "vault", "google", "microsoft"}
    job = defs.resolve_job_def("tenant_sync_job")
    # the four assets, the one step of both engagement tables, the daily rollup, and the
    # checks that run beside them (contact_engagement is tenant-partitioned: not in this job)
    assert {n.name for n in job.nodes} == {
        "raw_emails",
        "emails",
        "raw_meetings",
        "meetings",
        "engagements",
        "account_engagement_daily",
        "raw_emails_no_open_missed_windows",
        "raw_meetings_no_open_missed_windows",
        "email_engagements_references_crm",
        "email_engagements_has_external_contact",
        "meeting_engagements_references_crm",
        "meeting_engagements_has_external_contact",
        "account_engagement_daily_matches_detail_rows",
    }


def test_workspace_loads_with_the_dagster_cli(tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), TOUCHPOINT_HOME=str(tmp_path / "state"))
    (tmp_path / "dagster.yaml").touch()
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "touchpoint" in done.stdout + done.stderr


def test_days_to_sync_adds_yesterday_in_the_first_hour():
    assert days_to_sync(datetime(2026, 11, 22, 0, 5, tzinfo=UTC)) == ["2026-11-21", "2026-11-22"]
    assert days_to_sync(datetime(2026, 11, 22, 13, 5, tzinfo=UTC)) == ["2026-11-22"]


@pytest.fixture
def three_tenants(warehouse_url):
    warehouse = Warehouse(warehouse_url)
    warehouse.migrate()
    reg = Registry(warehouse, TokenCipher(generate_key()))
    reg.tenants.add_tenant("acme", "Acme", ["acme.com"])
    reg.tenants.add_tenant("globex", "Globex", ["globex.com"])
    reg.tenants.add_tenant("initech", "Initech", ["initech.com"])
    reg.connections.add_connection("acme", "ana@acme.com", "google", "1//token-a")
    reg.connections.add_connection("globex", "gil@globex.com", "google", "1//token-g")
    stopped = reg.connections.add_connection("initech", "ian@initech.com", "google", "1//token-i")
    reg.health.set_status(
        stopped.connection_id, ConnectionStatus.STOPPED, "disconnected", "by admin"
    )
    yield reg
    warehouse.dispose()


def test_sensor_keeps_tenant_partitions_in_step(three_tenants, warehouse_url):
    resources = {"warehouse": WarehouseResource(url=warehouse_url)}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, ["acme", "old-tenant"])
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = tenant_partitions_sensor(context)
        requests = result.dynamic_partitions_requests
        added = [r for r in requests if isinstance(r, dg.AddDynamicPartitionsRequest)]
        deleted = [r for r in requests if isinstance(r, dg.DeleteDynamicPartitionsRequest)]
        assert [list(r.partition_keys) for r in added] == [["globex", "initech"]]
        assert [list(r.partition_keys) for r in deleted] == [["old-tenant"]]


def test_schedule_tick_requests_active_tenants(three_tenants, warehouse_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, ["acme", "globex", "initech"])
        at_midnight = _tick(instance, warehouse_url, datetime(2026, 11, 22, 0, 5, tzinfo=UTC))
        requests = hourly_sync_schedule.evaluate_tick(at_midnight).run_requests
        # One run for the block of tenants: yesterday and today x acme..globex (initech has no
        # active connection, so the range stops before it).
        assert [ranges(r) for r in requests] == [
            (str(tenant_day_key("acme", "2026-11-21")), str(tenant_day_key("globex", "2026-11-22")))
        ]
        assert all(r.partition_key is None for r in requests)
        # A block of several tenants is no one tenant's: no per-tenant tag.
        assert all("touchpoint/tenant" not in r.tags for r in requests)

        midday = _tick(instance, warehouse_url, datetime(2026, 11, 22, 13, 5, tzinfo=UTC))
        requests = hourly_sync_schedule.evaluate_tick(midday).run_requests
        assert [ranges(r) for r in requests] == [
            (str(tenant_day_key("acme", "2026-11-22")), str(tenant_day_key("globex", "2026-11-22")))
        ]


def _tick(instance: dg.DagsterInstance, warehouse_url: str, at: datetime):
    """The schedule's context for the tick at `at`, on the test's registry."""
    return dg.build_schedule_context(
        instance=instance,
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
        repository_def=defs.get_repository_def(),
        scheduled_execution_time=at,
    )


def ranges(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def test_schedule_splits_tenants_into_blocks(three_tenants, warehouse_url, monkeypatch):
    monkeypatch.setenv(TENANTS_PER_RUN_ENV, "1")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, ["acme", "globex", "initech"])
        context = _tick(instance, warehouse_url, datetime(2026, 11, 22, 13, 5, tzinfo=UTC))
        requests = hourly_sync_schedule.evaluate_tick(context).run_requests
        day = "2026-11-22"
        assert [ranges(r) for r in requests] == [
            (str(tenant_day_key(t, day)), str(tenant_day_key(t, day))) for t in ("acme", "globex")
        ]
        assert len({r.run_key for r in requests}) == 2


def test_shards_keep_partition_order_and_skip_idle_blocks():
    ordered = ["t1", "t2", "t3", "t4", "t5", "t6", "t7"]
    assert shards(ordered, {"t1", "t3", "t4", "t7"}, 3) == [
        ("t1", "t3"),
        ("t4", "t4"),
        ("t7", "t7"),
    ]
    assert shards(ordered, {"t5"}, 3) == [("t5", "t5")]
    assert shards(ordered, set(), 3) == []
    assert shards(ordered, set(ordered), 10) == [("t1", "t7")]


def test_schedule_skips_until_partitions_exist(three_tenants, warehouse_url):
    with dg.instance_for_test() as instance:
        context = _tick(instance, warehouse_url, datetime(2026, 11, 22, 13, 5, tzinfo=UTC))
        data = hourly_sync_schedule.evaluate_tick(context)
        assert not data.run_requests
        assert "partition" in data.skip_message


def test_shards_split_around_busy_tenants():
    ordered = ["t1", "t2", "t3", "t4", "t5", "t6", "t7"]
    active = set(ordered) - {"t6"}
    assert shards(ordered, active, 10, frozenset({"t3"})) == [("t1", "t2"), ("t4", "t7")]
    # an inactive tenant may lie inside a range, a busy one never
    assert shards(ordered, active, 4, frozenset({"t4", "t7"})) == [("t1", "t3"), ("t5", "t5")]
    assert shards(ordered, {"t2"}, 10, frozenset({"t2"})) == []


TENANTS = ["t1", "t2", "t3", "t4"]
TODAY = [date(2026, 11, 22)]


@pytest.mark.parametrize(
    ("tags", "months", "busy"),
    [
        ({PARTITION_TAG: "2026-11-22|t2"}, False, {"t2"}),
        ({PARTITION_TAG: "2026-11-21|t2"}, False, set()),
        # a backfill of t2..t3 over a month: today lies inside it, at neither end
        ({RANGE_START_TAG: "2026-11-01|t2", RANGE_END_TAG: "2026-11-30|t3"}, False, {"t2", "t3"}),
        ({RANGE_START_TAG: "2026-11-01|t1", RANGE_END_TAG: "2026-11-21|t4"}, False, set()),
        # an archive run's dates are months: November holds the 22nd
        ({RANGE_START_TAG: "2026-10-01|t4", RANGE_END_TAG: "2026-11-01|t4"}, True, {"t4"}),
        ({RANGE_START_TAG: "2026-10-01|t4", RANGE_END_TAG: "2026-11-01|t4"}, False, set()),
        ({PARTITION_TAG: "2026-11-22|gone"}, False, set()),
        ({PARTITION_TAG: "some-other-partition"}, False, set()),
        ({"touchpoint/trigger": "hourly"}, False, set()),
    ],
)
def test_covered_tenants(tags, months, busy):
    assert covered_tenants(tags, months, TENANTS, TODAY) == busy


def test_schedule_leaves_out_tenants_an_unfinished_run_covers(three_tenants, warehouse_url):
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(tenant_partitions.name, ["acme", "globex", "initech"])
        # A backfill run of globex's last days, being launched, and a finished run of acme's day.
        backfill = {
            RANGE_START_TAG: str(tenant_day_key("globex", "2026-11-20")),
            RANGE_END_TAG: str(tenant_day_key("globex", "2026-11-22")),
        }
        instance.add_run(
            dg.DagsterRun("__ASSET_JOB", status=dg.DagsterRunStatus.STARTING, tags=backfill)
        )
        done = {PARTITION_TAG: str(tenant_day_key("acme", "2026-11-22"))}
        instance.add_run(
            dg.DagsterRun("__ASSET_JOB", status=dg.DagsterRunStatus.SUCCESS, tags=done)
        )
        context = _tick(instance, warehouse_url, datetime(2026, 11, 22, 13, 5, tzinfo=UTC))
        requests = hourly_sync_schedule.evaluate_tick(context).run_requests
        day = "2026-11-22"
        assert [ranges(r) for r in requests] == [
            (str(tenant_day_key("acme", day)), str(tenant_day_key("acme", day)))
        ]
        assert requests[0].tags[MAX_RUNTIME_TAG] == "10800"
        # A block of one tenant counts against the run queue's per-tenant limit.
        assert requests[0].tags["touchpoint/tenant"] == "acme"

        # Once a run holds acme's day too, the tick has nothing left to request.
        instance.add_run(
            dg.DagsterRun("tenant_sync_job", status=dg.DagsterRunStatus.STARTED, tags=done)
        )
        data = hourly_sync_schedule.evaluate_tick(context)
        assert not data.run_requests
        assert "already covers" in data.skip_message
