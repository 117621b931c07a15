"""`python -m bench.daemon_drain --tenants 100`: the daemon draining one hourly tick.

The sandbox (its own process) holds N tenants x a few mailboxes (Google and Microsoft
alternating) with a little mail today; a throwaway PostgreSQL holds, per phase, a fresh Dagster
instance (deploy/dagster.production.yaml) and a fresh warehouse with the tenants registered. Each
phase starts the code server and `dagster-daemon run` as production does, ticks
`hourly_sync_schedule` once and waits until its runs are finished. Phases:

- as built: TOUCHPOINT_TENANTS_PER_RUN's default (50) under production's max_concurrent_runs;
- small runs (--tenants-per-run, 5), production's max_concurrent_runs: the run rate and
  Dagster's share when the queue holds more runs than slots;
- the same with 2x max_concurrent_runs: its ratio to the previous phase, a data point for sizing;
- and with the daemon launching 4 runs at once (`dequeue_use_threads`): the default launcher's
  StartRun returns only once the run's worker has started and loaded the code location, so by
  default the daemon's launches queue behind each other.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
import yaml
from dagster._core.storage.dagster_run import RunsFilter
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from bench.common import load_registry, start_sandbox
from bench.daemon_drain import drain, stack
from bench.daemon_drain.figures import DrainFigures, drain_figures
from bench.partition_scale.__main__ import start_daemon, stop_daemon
from bench.partition_scale.measure import TERMINAL, progress, wait_for_runs
from orchestration.demo import provider_environment
from orchestration.instance import PRODUCTION_INSTANCE_CONFIG
from orchestration.schedules import DEFAULT_TENANTS_PER_RUN, TENANTS_PER_RUN_ENV
from resources.secrets import generate_key
from sandbox.client import SandboxClient
from sandbox.postgres import create_database, throwaway_postgres

PRODUCTION_MAX_RUNS = yaml.safe_load(PRODUCTION_INSTANCE_CONFIG.read_text())["run_coordinator"][
    "config"
]["max_concurrent_runs"]


@dataclass(frozen=True)
class Phase:
    label: str
    tenants_per_run: int
    max_concurrent_runs: int
    dequeue_workers: int = 0


@dataclass
class Result:
    phase: Phase
    figures: DrainFigures
    tick_s: float
    unfinished: int
    peak_workers: int
    worker_rss_mb: float
    dagster_connections: int
    warehouse_connections: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tenants", type=int, default=100)
    p.add_argument("--mailboxes-per-tenant", type=int, default=2)
    p.add_argument("--messages-per-mailbox-per-day", type=int, default=10)
    p.add_argument("--tenants-per-run", type=int, default=5,
                   help="TOUCHPOINT_TENANTS_PER_RUN of the run-rate phases (many small runs)")
    p.add_argument("--max-concurrent-runs", type=int, default=PRODUCTION_MAX_RUNS,
                   help="the baseline setting; the last phase doubles it")
    p.add_argument("--timeout-s", type=float, default=420, help="per phase, for the runs")
    return p.parse_args(argv)


def phases(args: argparse.Namespace) -> list[Phase]:
    limit, small = args.max_concurrent_runs, args.tenants_per_run
    return [
        Phase(f"as built ({DEFAULT_TENANTS_PER_RUN} tenants/run)", DEFAULT_TENANTS_PER_RUN, limit),
        Phase(f"{small} tenants/run", small, limit),
        Phase(f"{small} tenants/run, 2x limit", small, 2 * limit),
        Phase(f"{small} tenants/run, 2x limit, 4 launch threads", small, 2 * limit, 4),
    ]


def _name(url: str) -> str:
    return sa.make_url(url).database or ""


def run_phase(phase: Phase, server: str, workload: dict, base_url: str, tmp: Path,
              timeout_s: float) -> Result:
    """One drain on a fresh instance and warehouse; everything it starts it stops."""
    slug = f"p{phase.tenants_per_run}x{phase.max_concurrent_runs}t{phase.dequeue_workers}"
    dagster_db = create_database(server, f"dagster_{slug}")
    warehouse_db = create_database(server, f"warehouse_{slug}")
    key = generate_key()
    warehouse, _ = load_registry(warehouse_db, workload, key)
    warehouse.dispose()
    home = tmp / slug
    stack.write_instance(home, dagster_db, phase.max_concurrent_runs, phase.dequeue_workers)
    # The code server, the daemon and the run workers inherit these.
    os.environ.update({
        "DAGSTER_HOME": str(home),
        "TOUCHPOINT_HOME": str(home / "state"),
        "TOUCHPOINT_WAREHOUSE_URL": warehouse_db,
        "TOUCHPOINT_SECRET_KEY": key,
        TENANTS_PER_RUN_ENV: str(phase.tenants_per_run),
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
        **provider_environment(base_url),
    })
    code, port = stack.start_code_server(home)
    daemon = None
    try:
        stack.wait_for_code_server(port)
        workspace = stack.write_workspace(home, port)
        with dg.DagsterInstance.get() as instance, WorkspaceProcessContext(
            instance, WorkspaceFileTarget(paths=[str(workspace)])
        ) as wpc:
            instance.add_dynamic_partitions("tenants", [t["slug"] for t in workload["tenants"]])
            drain.stop_instigators(wpc)
            daemon = start_daemon(home, workspace)
            drain.wait_for_daemon(instance)
            progress(f"[{phase.label}] daemon up; ticking {drain.SCHEDULE}")
            with stack.sampling({code.pid, daemon.pid}, server,
                                [_name(dagster_db), _name(warehouse_db)]) as peaks:
                started = time.time()
                run_ids = drain.tick(wpc)
                tick_s = time.time() - started
                progress(f"[{phase.label}] tick: {len(run_ids)} runs queued in {tick_s:.1f} s")
                finished = wait_for_runs(instance, run_ids, timeout_s=timeout_s)
            if not finished:
                progress(f"[{phase.label}] runs not finished after {timeout_s:.0f} s")
            # Only finished runs have a whole timeline; the others are counted as unfinished.
            done = [r.run_id for r in instance.get_runs(RunsFilter(run_ids=run_ids))
                    if r.status in TERMINAL]
            timelines = [drain.timeline(instance, r) for r in done]
    finally:
        if daemon is not None:
            stop_daemon(daemon)
        stop_daemon(code)  # stops its session: the gRPC server and any run worker left
    if not timelines:
        tail = (home / "daemon.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"[{phase.label}] no run finished; the daemon's log ends:\n{tail}")
    figures = drain_figures(started, timelines)
    rss = max(peaks.worker_rss_mb, default=0.0)
    return Result(phase, figures, tick_s, len(run_ids) - len(done), peaks.workers, rss,
                  peaks.connections[_name(dagster_db)], peaks.connections[_name(warehouse_db)])


def print_table(results: list[Result], args: argparse.Namespace) -> None:
    """One column per phase; ratios of the 2x phase to its 1x baseline."""
    rows: list[tuple[str, str]] = [
        ("runs (unfinished)", "{r.figures.runs} ({r.unfinished})"),
        ("failed runs", "{r.figures.failed}"),
        ("tick: evaluate + create + enqueue, s", "{r.tick_s:.1f}"),
        ("tick start to last run finished, s", "{r.figures.tick_to_done_s:.1f}"),
        ("runs per minute", "{r.figures.runs_per_minute:.1f}"),
        ("tenant-days per minute", "{tenant_days:.1f}"),
        ("run wall (launcher to end), median s", "{r.figures.median_wall_s:.1f}"),
        ("  worker start + load code, median s", "{r.figures.median_launch_s:.1f}"),
        ("  run start to first step, median s", "{r.figures.median_before_first_step_s:.1f}"),
        ("  inside our ops (steps), median s", "{r.figures.median_in_ops_s:.1f}"),
        ("Dagster share of run wall time", "{r.figures.dagster_share:.0%}"),
        ("max concurrent runs / limit", "{r.figures.max_concurrent_runs} / {limit}"),
        ("daemon launch gap (run to next), median s", "{r.figures.median_launch_gap_s:.1f}"),
        ("run workers seen at once (ps)", "{r.peak_workers}"),
        ("run worker RSS, max MB", "{r.worker_rss_mb:.0f}"),
        ("PostgreSQL connections, peak: Dagster", "{r.dagster_connections}"),
        ("PostgreSQL connections, peak: warehouse", "{r.warehouse_connections}"),
    ]
    width = 44
    print(f"\n{args.tenants} tenants x {args.mailboxes_per_tenant} mailboxes, "
          f"{args.messages_per_mailbox_per_day} messages per mailbox-day (today's share)")
    print("| figure".ljust(width) + " | " + " | ".join(r.phase.label for r in results) + " |")
    print("|" + "---|" * (len(results) + 1))
    for label, template in rows:
        cells = []
        for r in results:
            cells.append(template.format(
                r=r, limit=r.phase.max_concurrent_runs,
                tenant_days=args.tenants / r.figures.tick_to_done_s * 60,
            ))
        print(f"| {label}".ljust(width) + " | " + " | ".join(cells) + " |")
    base, doubled, threaded = results[1:4]
    print(f"\n2x max_concurrent_runs vs 1x ({base.phase.tenants_per_run} tenants per run): "
          f"runs per minute "
          f"{doubled.figures.runs_per_minute / base.figures.runs_per_minute:.2f}x, median run "
          f"wall {doubled.figures.median_wall_s / base.figures.median_wall_s:.2f}x")
    print(f"4 launch threads vs none (2x limit): runs per minute "
          f"{threaded.figures.runs_per_minute / doubled.figures.runs_per_minute:.2f}x, "
          f"max concurrent runs {threaded.figures.max_concurrent_runs} vs "
          f"{doubled.figures.max_concurrent_runs}")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (shared "
          "machine: read the ratios)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sandbox, base_url = start_sandbox("google,microsoft", args.mailboxes_per_tenant,
                                      args.messages_per_mailbox_per_day, args.tenants, today=True)
    try:
        workload = SandboxClient(base_url).workload()
        progress(f"sandbox {base_url}: {len(workload['tenants'])} tenants, "
                 f"{len(workload['mailboxes'])} mailboxes")
        with throwaway_postgres() as server, tempfile.TemporaryDirectory(
            prefix="tp-drain-"
        ) as tmp:
            results = [run_phase(p, server, workload, base_url, Path(tmp), args.timeout_s)
                       for p in phases(args)]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    print_table(results, args)
    print(f"harness wall time: {time.perf_counter() - started:.0f} s")
    return 0 if all(r.figures.failed == r.unfinished == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
