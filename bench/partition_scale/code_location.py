"""The harness's code location: Touchpoint's asset shape under each partition design.

Every design has Touchpoint's four assets (raw_emails, raw_meetings and the deduplicated
emails, meetings) in one job, on the same partitions, with a key prefix naming the design.
Raw assets sleep `work_s` per tenant-day (the simulated provider work); derived ones do no
work, so a run's provider critical path is known and Dagster's share of its wall time follows.

Designs (see docs/partition-scale.md):
- a:  today's: tenant (dynamic) x day since `start`; hourly schedule = one run per tenant.
- b1: same partitions; hourly schedule = one ranged run per shard of tenants
      (`day|first ... day|last`); assets get BackfillPolicy.multi_run(shard_size).
- b2: rolling window: tenant x day since `window_start` (+ a tenant x month archive asset for
      older history); schedule and policy as b1.
- b3: cohort (static) x day since `start`; one run per cohort.
- b1i, b2i: b1's (b2's) assets and schedule, but the job runs its steps in one process
      (`in_process_executor`) instead of one process per step; only the run phase differs.
"""


import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import dagster as dg
import sqlalchemy as sa
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from bench.partition_scale.settings import Settings, cohort_key

S = Settings.from_env()
RAW = ("raw_emails", "raw_meetings")
DESIGNS = ("a", "b1", "b2", "b3", "b1i", "b2i")

tenants_def = dg.DynamicPartitionsDefinition(name="tenants")
full_days = dg.DailyPartitionsDefinition(
    start_date=S.start.isoformat(), timezone="UTC", end_offset=1
)
tenant_day = dg.MultiPartitionsDefinition({"tenant": tenants_def, "day": full_days})
window_days = dg.DailyPartitionsDefinition(
    start_date=S.window_start.isoformat(), timezone="UTC", end_offset=1
)
tenant_window_day = dg.MultiPartitionsDefinition({"tenant": tenants_def, "day": window_days})
tenant_month = dg.MultiPartitionsDefinition(
    {
        "tenant": tenants_def,
        "month": dg.MonthlyPartitionsDefinition(
            start_date=S.start.replace(day=1).isoformat(),
            end_date=S.window_start.isoformat(),
            timezone="UTC",
        ),
    }
)
cohort_day = dg.MultiPartitionsDefinition(
    {
        "cohort": dg.StaticPartitionsDefinition([cohort_key(i) for i in range(S.cohorts)]),
        "day": full_days,
    }
)

PARTITIONS: dict[str, dg.MultiPartitionsDefinition] = {
    "a": tenant_day,
    "b1": tenant_day,
    "b2": tenant_window_day,
    "b3": cohort_day,
}


def tenant_days_in(keys: Sequence[str], design: str) -> int:
    """Tenant-days a run covers: one per key, or a cohort's tenants per key in b3."""
    per_key = math.ceil(S.tenants / S.cohorts) if design == "b3" else 1
    return len(keys) * per_key


def simulate_provider_work(tenant_days: int) -> float:
    """Sleeps as a run syncing `tenant_days` would wait on providers; returns the seconds.

    Multi-tenant runs sync `in_run_concurrency` tenant-days at once (Gmail and Graph limits are
    per mailbox, so tenants do not share a quota); a single tenant-day is one `work_s`.
    """
    seconds = math.ceil(tenant_days / S.in_run_concurrency) * S.work_s
    time.sleep(seconds)
    return seconds


def make_assets(design: str, partitions_def: dg.PartitionsDefinition,
                policy: dg.BackfillPolicy | None) -> list[dg.AssetsDefinition]:
    """Touchpoint's four synced assets for one design (raw work + derived no-ops)."""

    def raw(name: str) -> dg.AssetsDefinition:
        @dg.asset(name=name, key_prefix=design, partitions_def=partitions_def,
                  backfill_policy=policy, group_name=design)
        def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            keys = context.partition_keys
            n = tenant_days_in(keys, design)
            slept = simulate_provider_work(n)
            return dg.MaterializeResult(metadata={"tenant_days": n, "provider_s": slept})

        return _raw

    def derived(name: str, upstream: str) -> dg.AssetsDefinition:
        @dg.asset(name=name, key_prefix=design, partitions_def=partitions_def,
                  backfill_policy=policy, group_name=design,
                  deps=[dg.AssetKey([design, upstream])])
        def _derived(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"partitions": len(context.partition_keys)})

        return _derived

    return [raw("raw_emails"), raw("raw_meetings"),
            derived("emails", "raw_emails"), derived("meetings", "raw_meetings")]


def active_tenants(context: dg.ScheduleEvaluationContext) -> list[str]:
    """Tenants with a connection that is not stopped, read like Touchpoint's registry does.

    The registry table lives in the same PostgreSQL server (10 connections per tenant); only
    tenants that already have a dynamic partition are runnable, as in orchestration/schedules.py.
    """
    engine = sa.create_engine(S.registry_url, poolclass=sa.NullPool)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT DISTINCT tenant_id FROM connections WHERE status <> 'stopped'"
        ).scalars().all()
    engine.dispose()
    known = context.instance.get_dynamic_partitions("tenants")
    wanted = set(rows)
    return [t for t in known if t in wanted]  # registration order = partition order


def _day(context: dg.ScheduleEvaluationContext) -> tuple[str, str]:
    at = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
    return at.date().isoformat(), at.strftime("%Y-%m-%dT%H:%M")


def per_tenant_requests(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """Today's schedule shape: one run per active tenant, partition key tenant|day."""
    day, stamp = _day(context)
    return [
        dg.RunRequest(
            run_key=f"{t}|{day}|{stamp}",
            partition_key=dg.MultiPartitionKey({"tenant": t, "day": day}),
            tags={"touchpoint/trigger": "hourly"},
        )
        for t in active_tenants(context)
    ]


def shard_requests(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """One ranged run per shard: `day|first ... day|last` is one day x a block of tenants.

    MultiPartitionsDefinition.get_partition_keys_in_range takes the product of the two
    dimensions' ranges, so the range is exactly the shard's tenants on that day. Inactive
    tenants inside a block are synced too (a no-op: sync is window-based and idempotent).
    """
    day, stamp = _day(context)
    tenants = active_tenants(context)
    requests = []
    for i in range(0, len(tenants), S.shard_size):
        block = tenants[i : i + S.shard_size]
        requests.append(
            dg.RunRequest(
                run_key=f"shard{i // S.shard_size}|{day}|{stamp}",
                tags={
                    "touchpoint/trigger": "hourly",
                    ASSET_PARTITION_RANGE_START_TAG: f"{day}|{block[0]}",
                    ASSET_PARTITION_RANGE_END_TAG: f"{day}|{block[-1]}",
                },
            )
        )
    return requests


def cohort_requests(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """One run per cohort (partition key cohort|day)."""
    day, stamp = _day(context)
    return [
        dg.RunRequest(
            run_key=f"{cohort_key(c)}|{day}|{stamp}",
            partition_key=dg.MultiPartitionKey({"cohort": cohort_key(c), "day": day}),
            tags={"touchpoint/trigger": "hourly"},
        )
        for c in range(S.cohorts)
    ]


SCHEDULE_SHAPES: dict[str, Callable[[dg.ScheduleEvaluationContext], list[dg.RunRequest]]] = {
    "a": per_tenant_requests,
    "b1": shard_requests,
    "b1i": shard_requests,
    "b2i": shard_requests,
    "b2": shard_requests,
    "b3": cohort_requests,
}


def build(design: str) -> tuple[list[dg.AssetsDefinition], UnresolvedAssetJobDefinition,
                                 dg.ScheduleDefinition]:
    """Assets, the hourly job and the hourly schedule of one design."""
    if design.endswith("i"):  # b1's (b2's) assets; the job alone differs
        assets: list[dg.AssetsDefinition] = []
        job = dg.define_asset_job(f"{design}_sync_job",
                                  selection=dg.AssetSelection.groups(design[:-1]),
                                  executor_def=dg.in_process_executor)
    else:
        policy = None if design in ("a", "b3") else dg.BackfillPolicy.multi_run(S.shard_size)
        assets = make_assets(design, PARTITIONS[design], policy)
        job = dg.define_asset_job(f"{design}_sync_job",
                                  selection=dg.AssetSelection.groups(design))
    shape = SCHEDULE_SHAPES[design]

    @dg.schedule(name=f"{design}_hourly", job=job, cron_schedule="5 * * * *",
                 execution_timezone="UTC")
    def _hourly(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        return shape(context)

    return assets, job, _hourly


def _archive() -> dg.AssetsDefinition:
    """b2's history beyond the window: one partition per tenant x month, synced on demand."""

    @dg.asset(name="raw_archive", key_prefix="b2", partitions_def=tenant_month,
              backfill_policy=dg.BackfillPolicy.multi_run(S.shard_size), group_name="b2_archive")
    def raw_archive(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        n = len(context.partition_keys) * 30
        return dg.MaterializeResult(metadata={"provider_s": simulate_provider_work(n)})

    return raw_archive


_assets: list[dg.AssetsDefinition] = [_archive()]
_jobs: list[UnresolvedAssetJobDefinition] = []
_schedules: list[dg.ScheduleDefinition] = []
for _d in DESIGNS:
    _a, _j, _s = build(_d)
    _assets += _a
    _jobs.append(_j)
    _schedules.append(_s)

defs = dg.Definitions(assets=_assets, jobs=_jobs, schedules=_schedules)
