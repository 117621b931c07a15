"""One hourly tick through the scheduler daemon's code, then its runs drained by a real daemon.

Every schedule and sensor is stored as stopped first (several run by default), so the daemon
launches nothing but the tick's runs and the figures are the tick's alone. The tick is the
scheduler's own `launch_scheduled_runs` for the next :05, evaluated in the code server: runs are
created and QUEUED exactly as the daemon's scheduler creates them; the daemon's run coordinator
then dequeues them under production's limits and the default run launcher starts each one.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import dagster as dg
import dagster._daemon  # noqa: F401 - Dagster's scheduler module imports it circularly if first
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._scheduler.scheduler import launch_scheduled_runs

from bench.daemon_drain.figures import RunTimeline
from bench.daemon_drain.stack import LOCATION
from bench.partition_scale.measure import next_tick

LOG = logging.getLogger("daemon_drain")
SCHEDULE = "hourly_sync_schedule"
E = dg.DagsterEventType


def _repository(wpc: WorkspaceProcessContext):  # noqa: ANN202 - Dagster's internal type
    location = wpc.create_request_context().get_code_location(LOCATION)
    return next(iter(location.get_repositories().values()))


def stop_instigators(wpc: WorkspaceProcessContext) -> list[str]:
    """Stores every schedule and sensor as stopped; returns their names."""
    repo = _repository(wpc)
    instance = wpc.instance
    for schedule in repo.get_schedules():
        instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
    for sensor in repo.get_sensors():
        instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
    return [i.name for i in [*repo.get_schedules(), *repo.get_sensors()]]


def wait_for_daemon(instance: dg.DagsterInstance, timeout_s: float = 180) -> None:
    """Until the daemon's run coordinator has reported a heartbeat."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "QUEUED_RUN_COORDINATOR" in instance.get_daemon_heartbeats():
            return
        time.sleep(1)
    raise SystemExit(f"dagster-daemon's run coordinator did not start in {timeout_s:.0f} s")


def tick(wpc: WorkspaceProcessContext) -> list[str]:
    """One whole scheduler tick of the hourly schedule (the next :05); returns its run ids."""
    instance = wpc.instance
    schedule = _repository(wpc).get_schedule(SCHEDULE)
    instance.start_schedule(schedule)
    at = next_tick(datetime.now(UTC))
    for _ in launch_scheduled_runs(wpc, LOG, end_datetime_utc=at + timedelta(seconds=1),
                                   iteration_times={}):
        pass
    # Stopped again, so the daemon's own scheduler does not tick it a second time.
    instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
    (last,) = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id, limit=1)
    if last.error:
        raise SystemExit(f"the tick failed: {last.error.to_string()}")
    return list(last.run_ids)


def timeline(instance: dg.DagsterInstance, run_id: str) -> RunTimeline:
    """The run's timeline from its event log."""
    kinds = {E.RUN_ENQUEUED, E.RUN_STARTING, E.RUN_START, E.STEP_START, E.STEP_SUCCESS,
             E.STEP_FAILURE, E.RUN_SUCCESS, E.RUN_FAILURE}
    first: dict[E, float] = {}
    step_starts: dict[str, float] = {}
    steps = []
    for entry in instance.all_logs(run_id, of_type=kinds):
        kind = entry.dagster_event.event_type
        first.setdefault(kind, entry.timestamp)
        if kind == E.STEP_START:
            step_starts[entry.step_key] = entry.timestamp
        elif kind in (E.STEP_SUCCESS, E.STEP_FAILURE):
            steps.append((step_starts.pop(entry.step_key), entry.timestamp))
    ended = first.get(E.RUN_SUCCESS, first.get(E.RUN_FAILURE, 0.0))
    return RunTimeline(
        enqueued=first[E.RUN_ENQUEUED],
        starting=first[E.RUN_STARTING],
        # A run whose worker never started counts its whole wall time as launch.
        started=first.get(E.RUN_START, ended),
        steps=tuple(steps),
        ended=ended,
        succeeded=E.RUN_SUCCESS in first,
    )
