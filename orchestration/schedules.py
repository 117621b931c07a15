"""The hourly sync schedule."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.jobs import tenant_sync_job
from resources.dagster_resources import WarehouseResource
from resources.registry import ConnectionStore
from vocabulary.status import ConnectionStatus


def days_to_sync(scheduled_at: datetime) -> list[str]:
    """Today's UTC day, and yesterday's too in the first hour of a day so no late mail is missed."""
    now = scheduled_at.astimezone(UTC)
    days = [now.date()]
    if now.hour == 0:
        days.insert(0, now.date() - timedelta(days=1))
    return [d.isoformat() for d in days]


def active_tenants(connections: ConnectionStore) -> list[str]:
    """Tenants with at least one connection that is not stopped on purpose."""
    return sorted(
        {
            c.tenant_id
            for c in connections.list_connections()
            if c.status != ConnectionStatus.STOPPED.value
        }
    )


TENANTS_PER_RUN_ENV = "TOUCHPOINT_TENANTS_PER_RUN"
DEFAULT_TENANTS_PER_RUN = 50
"""Tenants one hourly run syncs, one after another. Fewer, bigger runs keep the daemon's tick
and Dagster's share of each run small (docs/partition-scale.md); parallelism comes from the run
queue's concurrent runs."""

# Dagster's tags for a run over a partition key range (what a ranged backfill run carries).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def tenants_per_run() -> int:
    raw = os.environ.get(TENANTS_PER_RUN_ENV, str(DEFAULT_TENANTS_PER_RUN))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{TENANTS_PER_RUN_ENV}={raw!r} is not a positive whole number")
    return int(raw)


def shards(ordered: list[str], active: set[str], size: int) -> list[tuple[str, str]]:
    """(first, last) tenants of each block of `size` consecutive tenants in partition order that
    holds an active one, narrowed to its active ends.

    A multi-dimensional key range is the product of its dimensions' ranges, and the tenant
    dimension is ordered by registration, so a block is a contiguous tenant range; tenants
    inside it without an active connection cost no provider call.
    """
    out = []
    for i in range(0, len(ordered), size):
        block = [t for t in ordered[i : i + size] if t in active]
        if block:
            out.append((block[0], block[-1]))
    return out


@dg.schedule(
    job=tenant_sync_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=(
        "Every hour: today's partition of every active tenant (and yesterday's at 00:05), one "
        "run per block of consecutive tenants."
    ),
)
def hourly_sync_schedule(
    context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource
) -> list[dg.RunRequest] | dg.SkipReason:
    scheduled_at = context.scheduled_execution_time or datetime.now(UTC)
    ordered = list(context.instance.get_dynamic_partitions(tenant_partitions.name))
    tenants = active_tenants(ConnectionStore(warehouse.get()))
    known = set(ordered)
    ready = {t for t in tenants if t in known}
    if waiting := [t for t in tenants if t not in known]:
        context.log.warning(
            f"no partition yet for tenants {waiting}; tenant_partitions_sensor will add them"
        )
    if not ready:
        return dg.SkipReason("no tenant with an active connection has a partition yet")
    return _requests(shards(ordered, ready, tenants_per_run()), scheduled_at)


def _requests(blocks: list[tuple[str, str]], scheduled_at: datetime) -> list[dg.RunRequest]:
    stamp = scheduled_at.strftime("%Y-%m-%dT%H:%M")
    days = days_to_sync(scheduled_at)
    return [
        dg.RunRequest(
            run_key=f"{first}..{last}|{days[0]}..{days[-1]}|{stamp}",
            tags={
                "touchpoint/trigger": "hourly",
                RANGE_START_TAG: str(tenant_day_key(first, days[0])),
                RANGE_END_TAG: str(tenant_day_key(last, days[-1])),
            },
        )
        for first, last in blocks
    ]
