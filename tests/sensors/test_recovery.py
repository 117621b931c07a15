"""`reconnect_recovery_sensor` evaluated against a real Dagster instance, after real runs of the
sync against the sandbox over HTTP, on SQLite and PostgreSQL warehouses: what it requests, once.

The daemon's side (launching the backfill and running it) is tests/end_to_end/
test_recovery_backfill.py; here the backfill is stored the way the sensor daemon stores it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

from assets.partitions import tenant_day_key
from assets.recovery_targets import DAILY_ASSETS
from orchestration.definitions import defs
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from resources.dagster_resources import WarehouseResource
from sensors.recovery import INCIDENT_TAG, RECOVERY_TAG, plan, reconnect_recovery_sensor
from stack import Stack, fast_google, running_stack
from vocabulary.status import ConnectionStatus

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = [(NOW - timedelta(days=n)).date().isoformat() for n in (3, 2, 1)]


@pytest.fixture
def stack(warehouse_url):
    with running_stack(
        warehouse_url,
        authorized_at=NOW - timedelta(days=3),
        now=NOW,
        tenants=1,
        mailboxes_per_tenant=2,
        days=4,
        messages_per_mailbox_per_day=4,
    ) as s:
        s.google = fast_google(s.sandbox.base_url, max_attempts=2, max_retry_wait_seconds=0.2)
        yield s


def _run(stack: Stack, tenant: str, days: list[str]) -> None:
    result = dg.materialize(
        list(DAILY_ASSETS),
        resources=stack.resources,
        instance=stack.instance,
        tags={
            RANGE_START_TAG: str(tenant_day_key(tenant, days[0])),
            RANGE_END_TAG: str(tenant_day_key(tenant, days[-1])),
        },
    )
    assert result.success


def _evaluate(stack: Stack, cursor: str | None = None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=stack.instance,
        cursor=cursor,
        repository_def=defs.get_repository_def(),
        resources={"warehouse": WarehouseResource(url=stack.warehouse_url)},
    )
    return reconnect_recovery_sensor(context)


def _submit(stack: Stack, request: dg.RunRequest, at: float | None = None) -> PartitionBackfill:
    """What the sensor daemon does with a backfill request (dagster/_daemon/sensor.py)."""
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=f"b{len(stack.instance.get_backfills())}",
        dynamic_partitions_store=stack.instance,
        backfill_timestamp=time.time() if at is None else at,
        asset_graph_subset=request.asset_graph_subset,
        tags=request.tags,
        title=None,
        description=None,
        run_config=None,
    )
    stack.instance.add_backfill(backfill)
    return backfill


def _keys(request: dg.RunRequest, asset: dg.AssetsDefinition) -> set[str]:
    return set(request.asset_graph_subset.get_partitions_subset(asset.key).get_partition_keys())


def test_a_reconnect_is_recovered_by_exactly_one_backfill(stack, monkeypatch) -> None:
    tenant = stack.workload.tenants[0].slug
    broken = next(c for c in stack.connections(tenant) if c.provider == "google")
    stack.sandbox.state.set_fault(broken.owner_email, "invalid_grant")
    _run(stack, tenant, DAYS)
    # Still revoked: nothing to launch (a backfill would only miss the days again).
    assert _evaluate(stack).run_requests == []

    stack.sandbox.state.clear_faults(broken.owner_email)
    stack.registry.health.set_status(broken.connection_id, ConnectionStatus.ACTIVE, "ok", None)
    incident = stack.registry.incidents.open_incident(tenant, broken.connection_id)
    assert incident is not None

    monkeypatch.setenv("TOUCHPOINT_RECOVERY_MAX_DAYS", "2")
    (capped,) = _evaluate(stack).run_requests
    assert _keys(capped, DAILY_ASSETS[0]) == {str(tenant_day_key(tenant, d)) for d in DAYS[1:]}
    monkeypatch.delenv("TOUCHPOINT_RECOVERY_MAX_DAYS")

    first = _evaluate(stack)
    (request,) = first.run_requests
    assert request.tags[INCIDENT_TAG] == str(incident.incident_id)
    assert request.tags["touchpoint/tenant"] == tenant
    for asset in DAILY_ASSETS:
        assert _keys(request, asset) == {str(tenant_day_key(tenant, d)) for d in DAYS}
    launched = _submit(stack, request, at=time.time() - 7 * 3600)

    assert _evaluate(stack, first.cursor).run_requests == []
    # A lost cursor (a sensor reset): the instance's backfill still says it was launched.
    assert _evaluate(stack).run_requests == []

    # It finished (here: without running) and the windows are still open: after RETRY_AFTER
    # since it was launched, one retry of the same days.
    stack.instance.update_backfill(launched.with_status(BulkActionStatus.COMPLETED_FAILED))
    (retry,) = _evaluate(stack).run_requests
    assert retry.tags[RECOVERY_TAG] == request.tags[RECOVERY_TAG] + "#1"
    assert _keys(retry, DAILY_ASSETS[0]) == _keys(request, DAILY_ASSETS[0])
    _submit(stack, retry)
    assert _evaluate(stack).run_requests == []


def test_days_no_run_covered_are_recovered_once(stack) -> None:
    tenant = stack.workload.tenants[0].slug
    _run(stack, tenant, DAYS[:1])
    result = _evaluate(stack)
    (request,) = result.run_requests
    assert request.tags["touchpoint/trigger"] == "gap_recovery"
    assert request.tags["touchpoint/tenant"] == tenant
    for asset in DAILY_ASSETS:
        assert _keys(request, asset) == {str(tenant_day_key(tenant, d)) for d in DAYS[1:]}
    _submit(stack, request)
    assert _evaluate(stack, result.cursor).run_requests == []
    # Tomorrow's sweep has a new key, but the unfinished backfill already targets those days.
    later = plan(stack.registry, stack.instance, NOW + timedelta(days=1), set(), 30)
    assert [r.target.days for r in later] == [(NOW.date(),)]
