"""The hourly sync schedule."""

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from assets.partition_sync import TENANT_TAG
from assets.partitions import next_month, tenant_day_key, tenant_partitions
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
# Dagster's tag for a run over one partition.
PARTITION_TAG = "dagster/partition"
# Run monitoring fails a run still STARTED after this many seconds (deploy/dagster.yaml).
MAX_RUNTIME_TAG = "dagster/max_runtime"
HOURLY_RUN_MAX_RUNTIME = timedelta(hours=3)
"""An hourly run still going after this is failed by run monitoring: a run whose worker and code
server were killed would otherwise stay STARTED, and its tenants would be left out of every
later tick (see `busy_tenants`). A block of 50 tenants takes about an hour today."""

ARCHIVE_PREFIX = "archive"
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.SUSPENDED,
]


def tenants_per_run() -> int:
    raw = os.environ.get(TENANTS_PER_RUN_ENV, str(DEFAULT_TENANTS_PER_RUN))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{TENANTS_PER_RUN_ENV}={raw!r} is not a positive whole number")
    return int(raw)


def shards(
    ordered: list[str], active: set[str], size: int, busy: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """(first, last) tenants of each block of `size` consecutive tenants in partition order that
    holds an active one, narrowed to its active ends, and split around `busy` tenants.

    A multi-dimensional key range is the product of its dimensions' ranges, and the tenant
    dimension is ordered by registration, so a block is a contiguous tenant range; tenants
    inside it without an active connection cost no provider call, but a busy one must not lie
    inside any range.
    """
    out = []
    for i in range(0, len(ordered), size):
        part: list[str] = []
        for tenant in ordered[i : i + size]:
            if tenant in busy:
                # Another run holds this tenant's day: end the range before it.
                if part:
                    out.append((part[0], part[-1]))
                part = []
            elif tenant in active:
                part.append(tenant)
        if part:
            out.append((part[0], part[-1]))
    return out


def _key_parts(key: str) -> tuple[date, str] | None:
    """(date, tenant) of a tenant x day or tenant x month key; None for any other key."""
    first, _, tenant = key.partition("|")
    try:
        return date.fromisoformat(first), tenant
    except ValueError:
        return None


def covered_tenants(
    tags: Mapping[str, str], months: bool, ordered: list[str], days: Iterable[date]
) -> set[str]:
    """The tenants of `ordered` whose partition on one of `days` a run with `tags` covers.

    A run covers one partition (`dagster/partition`) or a key range, which Dagster reads as
    tenants between its ends (partition order) x dates between them; an archive run's dates
    are months.
    """
    if PARTITION_TAG in tags:
        ends = (tags[PARTITION_TAG], tags[PARTITION_TAG])
    elif RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        ends = (tags[RANGE_START_TAG], tags[RANGE_END_TAG])
    else:
        return set()  # not a partitioned run
    start, end = _key_parts(ends[0]), _key_parts(ends[1])
    # Another code location's partitions, or a tenant removed since: not ours to avoid.
    if start is None or end is None or not {start[1], end[1]} <= set(ordered):
        return set()
    last = next_month(end[0]) - timedelta(days=1) if months else end[0]
    if not any(start[0] <= day <= last for day in days):
        return set()
    first_index, last_index = ordered.index(start[1]), ordered.index(end[1])
    return set(ordered[min(first_index, last_index) : max(first_index, last_index) + 1])


def busy_tenants(instance: dg.DagsterInstance, ordered: list[str], days: list[str]) -> set[str]:
    """Tenants whose partition on one of `days` a queued or unfinished run already covers.

    Dagster's tag limits (deploy/dagster.yaml) see only equal partition tags; an hourly block
    overlapping the inside of a backfill's range is caught here instead, by leaving the tenant
    out of this tick (Dagster's documented pattern: look at the runs in progress).
    """
    wanted = [date.fromisoformat(d) for d in days]
    busy: set[str] = set()
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED)):
        run = record.dagster_run
        months = any(k.path[0] == ARCHIVE_PREFIX for k in run.asset_selection or ())
        busy |= covered_tenants(run.tags, months, ordered, wanted)
    return busy


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
    days = days_to_sync(scheduled_at)
    busy = busy_tenants(context.instance, ordered, days)
    if held := sorted(busy & ready):
        context.log.info(f"left out this hour, a queued or running run covers them: {held}")
    blocks = shards(ordered, ready, tenants_per_run(), frozenset(busy))
    if not blocks:
        return dg.SkipReason("a queued or running run already covers every active tenant")
    return _requests(blocks, days, scheduled_at)


def _requests(
    blocks: list[tuple[str, str]], days: list[str], scheduled_at: datetime
) -> list[dg.RunRequest]:
    stamp = scheduled_at.strftime("%Y-%m-%dT%H:%M")
    return [
        dg.RunRequest(
            run_key=f"{first}..{last}|{days[0]}..{days[-1]}|{stamp}",
            tags={
                "touchpoint/trigger": "hourly",
                RANGE_START_TAG: str(tenant_day_key(first, days[0])),
                RANGE_END_TAG: str(tenant_day_key(last, days[-1])),
                MAX_RUNTIME_TAG: str(int(HOURLY_RUN_MAX_RUNTIME.total_seconds())),
                # A block of one tenant counts against the queue's per-tenant limit.
                **({TENANT_TAG: first} if first == last else {}),
            },
        )
        for first, last in blocks
    ]
