"""The four measurements, each through the path Dagster itself uses.

- tick: `CodeLocation.get_schedule_execution_data` over gRPC (the user-code side of a tick,
  where each RunRequest's partition key is checked), then one whole scheduler-daemon tick
  (`dagster._scheduler.scheduler.launch_scheduled_runs`: evaluation + creating and enqueueing
  every run).
- partition status: the asset page's `PartitionHealthQuery` (text copied from dagster-webserver's
  UI bundle) through dagster_graphql, cold (builds the status cache) and warm.
- backfill: the UI's `launchPartitionBackfill` mutation for 1 tenant x 30 days, then the backfill
  daemon's iterations (`execute_backfill_iteration`) until the backfill's runs exist.
- runs: the first K of a tick's run requests submitted as the scheduler does
  (`_submit_run_request`), run by a real `dagster-daemon run` (QueuedRunCoordinator +
  DefaultRunLauncher); wall times from each run's event log.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from dagster._core.definitions.timestamp import TimestampWithTimezone
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.remote_representation.external import RemoteSchedule
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._scheduler.scheduler import _submit_run_request, launch_scheduled_runs
from dagster_graphql.test.utils import execute_dagster_graphql

from bench.partition_scale.settings import Settings, cohort_key, cohort_of, tenant_key

LOG = logging.getLogger("partition_scale")
LOCATION = "scale"
ASSETS = ("raw_emails", "raw_meetings", "emails", "meetings")

PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
        ... on DefaultPartitionStatuses {
          materializedPartitions materializingPartitions failedPartitions
        }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses {
                ranges { status startTime endTime startKey endKey }
              }
              ... on DefaultPartitionStatuses {
                materializedPartitions materializingPartitions failedPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on PartitionKeysNotFoundError { message }
  }
}
"""


def progress(message: str) -> None:
    """One line per phase with the machine's load, since the host is shared."""
    load = os.getloadavg()[0]
    print(f"{time.strftime('%H:%M:%S')} (load {load:.1f}) {message}", flush=True)


@dataclass
class Figures:
    """One design's measurements; None where not measured."""

    design: str
    values: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _location(wpc: WorkspaceProcessContext) -> Any:
    return wpc.create_request_context().get_code_location(LOCATION)


def _schedule(wpc: WorkspaceProcessContext, design: str) -> tuple[Any, RemoteSchedule]:
    loc = _location(wpc)
    repo = next(iter(loc.get_repositories().values()))
    return loc, repo.get_schedule(f"{design}_hourly")


def next_tick(now: datetime) -> datetime:
    """The schedule's next `5 * * * *` time after now."""
    tick = now.replace(minute=5, second=0, microsecond=0)
    return tick if tick > now else tick + timedelta(hours=1)


def measure_tick(wpc: WorkspaceProcessContext, design: str, fig: Figures,
                 daemon_tick: bool = True) -> list[dg.RunRequest]:
    """Evaluation alone, then (unless skipped) one whole scheduler-daemon tick.

    Returns the run requests so the run-rate phase can submit some of them.
    """
    instance = wpc.instance
    loc, sched = _schedule(wpc, design)
    tick = next_tick(datetime.now(UTC))
    started = time.perf_counter()
    data = loc.get_schedule_execution_data(
        instance=instance,
        repository_handle=sched.handle.repository_handle,
        schedule_name=sched.name,
        scheduled_execution_time=TimestampWithTimezone(tick.timestamp(), "UTC"),
        log_key=None,
    )
    fig.values["tick_eval_s"] = time.perf_counter() - started
    requests = list(data.run_requests or [])
    fig.values["runs_per_tick"] = len(requests)
    progress(f"[{design}] tick evaluated: {len(requests)} run requests in "
             f"{fig.values['tick_eval_s']:.2f} s; running one whole daemon tick")

    if not daemon_tick:
        return requests
    instance.start_schedule(sched)
    started = time.perf_counter()
    for _ in launch_scheduled_runs(wpc, LOG, end_datetime_utc=tick + timedelta(seconds=1),
                                   iteration_times={}):
        pass
    fig.values["tick_daemon_s"] = time.perf_counter() - started
    instance.stop_schedule(sched.get_remote_origin_id(), sched.selector_id, sched)
    ticks = instance.get_ticks(sched.get_remote_origin_id(), sched.selector_id, limit=1)
    if ticks and ticks[0].error:
        fig.notes.append(f"tick error: {ticks[0].error.message[:300]}")
    run_ids = instance.get_run_ids(RunsFilter(tags={"dagster/schedule_name": sched.name}))
    fig.values["tick_runs_created"] = len(run_ids)
    for run_id in run_ids:  # keep the queue empty for the run-rate phase
        instance.delete_run(run_id)
    return requests


def measure_partition_status(wpc: WorkspaceProcessContext, design: str, fig: Figures) -> None:
    """PartitionHealthQuery on `{design}/raw_emails`: first call (cache build), second call."""
    for label in ("status_cold_s", "status_warm_s"):
        ctx = wpc.create_request_context()
        started = time.perf_counter()
        result = execute_dagster_graphql(
            ctx, PARTITION_HEALTH_QUERY, {"assetKey": {"path": [design, "raw_emails"]}}
        )
        fig.values[label] = time.perf_counter() - started
        if result.errors:
            fig.notes.append(f"status query error: {str(result.errors[0])[:300]}")
            return
    node = result.data["assetNodeOrError"]
    statuses = node["assetPartitionStatuses"]
    fig.values["status_ranges"] = len(statuses.get("ranges") or [])
    fig.values["status_partitions"] = math.prod(
        len(d["partitionKeys"]) for d in node["partitionKeysByDimension"]
    )


def backfill_keys(s: Settings, design: str, tenant: int = 1) -> list[str]:
    """What a data engineer selects for 'tenant t00001, the 30 days ending 11 days ago'.

    (At toy scale, fewer than 45 days, it is the days up to yesterday.)
    """
    span, end_ago = (30, 11) if s.days >= 45 else (max(1, s.days - 2), 1)
    days = [(s.today - timedelta(days=end_ago + span - 1 - i)).isoformat() for i in range(span)]
    if design == "b3":
        return [f"{cohort_key(cohort_of(tenant, s))}|{d}" for d in days]
    return [f"{d}|{tenant_key(tenant)}" for d in days]


def measure_backfill(wpc: WorkspaceProcessContext, s: Settings, design: str,
                     fig: Figures) -> None:
    """The UI's launchPartitionBackfill, then backfill-daemon iterations until runs exist."""
    instance = wpc.instance
    params = {
        "assetSelection": [{"path": [design, a]} for a in ASSETS],
        "partitionNames": backfill_keys(s, design),
        "fromFailure": False,
        "tags": [],
    }
    started = time.perf_counter()
    result = execute_dagster_graphql(
        wpc.create_request_context(), LAUNCH_BACKFILL, {"backfillParams": params}
    )
    fig.values["backfill_launch_s"] = time.perf_counter() - started
    answer = (result.data or {}).get("launchPartitionBackfill") or {}
    if answer.get("__typename") != "LaunchBackfillSuccess":
        fig.notes.append(f"backfill launch failed: {result.errors or answer}"[:400])
        return
    backfill_id = answer["backfillId"]
    tag = {"dagster/backfill": backfill_id}
    started = time.perf_counter()
    iterations = 0
    while iterations < 10:
        iterations += 1
        for _ in execute_backfill_iteration(wpc, LOG):
            pass
        backfill = instance.get_backfill(backfill_id)
        if instance.get_runs_count(RunsFilter(tags=tag)) and (
            backfill is None or backfill.status != BulkActionStatus.REQUESTED
            or iterations >= 2
        ):
            break
    fig.values["backfill_daemon_s"] = time.perf_counter() - started
    fig.values["backfill_iterations"] = iterations
    runs = instance.get_runs(RunsFilter(tags=tag))
    fig.values["backfill_runs"] = len(runs)
    for run in runs:  # say what a ranged run covers: the evidence for "exactly that"
        start = run.tags.get("dagster/asset_partition_range_start")
        if start:
            fig.notes.append(
                f"backfill run covers {start} ... {run.tags['dagster/asset_partition_range_end']}"
            )
    backfill = instance.get_backfill(backfill_id)
    if backfill is not None:
        instance.update_backfill(backfill.with_status(BulkActionStatus.CANCELED))
    for run in runs:
        instance.delete_run(run.run_id)


def submit_runs(wpc: WorkspaceProcessContext, design: str, requests: list[dg.RunRequest],
                count: int) -> list[str]:
    """Creates and enqueues `count` of a tick's runs exactly as the scheduler daemon does."""
    _, sched = _schedule(wpc, design)
    tick = next_tick(datetime.now(UTC)) + timedelta(hours=1)
    run_ids = []
    for request in requests[:count]:
        result = _submit_run_request(request, wpc, sched, tick, LOG, None)
        run_ids.append(result.submitted_run.run_id)
    return run_ids


TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(run_ids=run_ids))
        if all(r.status in TERMINAL for r in runs):
            return True
        time.sleep(0.5)
    return False


def run_figures(instance: dg.DagsterInstance, s: Settings, run_ids: list[str],
                tenant_days_per_run: list[int], fig: Figures,
                serial_raw_steps: bool = False) -> None:
    """Run wall (launch -> success), queue wait, Dagster share, throughput in tenant-days/min.

    The provider critical path of a run is one raw asset's sleep (the two raw steps run side
    by side under the default multiprocess executor): ceil(tenant_days / concurrency) * work_s;
    under the in-process executor the two raw steps run one after the other, so twice that.
    """
    E = dg.DagsterEventType
    walls, waits, shares, ends, enqueued = [], [], [], [], []
    failures = 0
    for run_id, tds in zip(run_ids, tenant_days_per_run, strict=True):
        ts = {
            e.dagster_event.event_type: e.timestamp
            for e in instance.all_logs(
                run_id, of_type={E.RUN_ENQUEUED, E.RUN_STARTING, E.RUN_SUCCESS, E.RUN_FAILURE}
            )
        }
        if E.RUN_SUCCESS not in ts:
            failures += 1
            continue
        work = math.ceil(tds / s.in_run_concurrency) * s.work_s * (2 if serial_raw_steps else 1)
        wall = ts[E.RUN_SUCCESS] - ts[E.RUN_STARTING]
        walls.append(wall)
        waits.append(ts[E.RUN_STARTING] - ts[E.RUN_ENQUEUED])
        shares.append(max(0.0, 1 - work / wall))
        ends.append(ts[E.RUN_SUCCESS])
        enqueued.append(ts[E.RUN_ENQUEUED])
    fig.values["runs_measured"] = len(run_ids)
    fig.values["runs_failed"] = failures
    if walls:
        span = max(ends) - min(enqueued)
        fig.values["run_wall_s"] = sum(walls) / len(walls)
        fig.values["queue_wait_s"] = sum(waits) / len(waits)
        fig.values["dagster_share"] = sum(shares) / len(shares)
        fig.values["runs_per_min"] = len(walls) / span * 60
        fig.values["tenant_days_per_min"] = sum(tenant_days_per_run) / span * 60
        fig.values["tenant_days_per_run"] = sum(tenant_days_per_run) / len(run_ids)
