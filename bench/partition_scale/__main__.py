"""`python -m bench.partition_scale`: today's partition design vs alternatives, at scale.

Starts a throwaway PostgreSQL, a Dagster instance on it (dagster-postgres), registers tenants and
seeds history, loads bench/partition_scale/code_location.py in a gRPC code server the way the
daemon does, measures each design, then runs a real `dagster-daemon run` for the run-rate phase.
Everything it starts it stops. Figures print as a table with ratios to design a (today's).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget

from bench.partition_scale import instance as inst
from bench.partition_scale import measure
from bench.partition_scale.report import print_table
from bench.partition_scale.settings import Settings, tenant_key
from sandbox.postgres import create_database, throwaway_postgres

ROOT = Path(__file__).resolve().parents[2]
SEEDED = {"a": ["a"], "b1": ["b1"], "b2": ["b2", "b2_archive"], "b3": ["b3"], "b1i": [],
          "b2i": []}
SAME_ASSETS_AS = {"b1i": "b1", "b2i": "b2"}
"""b1i/b2i differ from b1/b2 only in the job's executor: status and backfill are b1's/b2's."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--tenants", type=int, default=1000)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--designs", default="a,b1,b2,b3,b1i,b2i")
    p.add_argument("--work-s", type=float, default=1.0,
                   help="simulated provider seconds per tenant-day per raw asset")
    p.add_argument("--shard-size", type=int, default=100)
    p.add_argument("--in-run-concurrency", type=int, default=10)
    p.add_argument("--cohorts", type=int, default=20)
    p.add_argument("--runs-per-tenant-design", type=int, default=24,
                   help="runs launched in the run-rate phase for one-run-per-tenant designs")
    p.add_argument("--runs-multi", type=int, default=4,
                   help="runs launched in the run-rate phase for multi-tenant-run designs")
    p.add_argument("--max-concurrent-runs", type=int, default=3)
    p.add_argument("--planned-events-as-subset", action="store_true",
                   help="set DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS=true: one planned "
                   "event per asset per run instead of one per partition (Dagster: failed runs "
                   "then do not mark their partitions failed)")
    p.add_argument("--skip", default="", help="comma list of phases to skip: tick, "
                   "daemon_tick (keep the evaluation), status, backfill, runs")
    return p.parse_args(argv)


def tenant_days_of(request: dg.RunRequest, s: Settings, design: str) -> int:
    """Tenant-days one run request covers (a ranged request: its block of tenants)."""
    start = request.tags.get("dagster/asset_partition_range_start")
    if start:
        end = request.tags["dagster/asset_partition_range_end"]
        return int(end.split("|")[1][1:]) - int(start.split("|")[1][1:]) + 1
    if design == "b3":
        return -(-s.tenants // s.cohorts)
    return 1


def start_daemon(home: Path, workspace: Path) -> subprocess.Popen[bytes]:
    """`dagster-daemon run` in its own session so it and its children stop together."""
    log = open(home / "daemon.log", "wb")  # noqa: SIM115 - lives as long as the daemon
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop_daemon(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    designs = [d for d in args.designs.split(",") if d]
    skip = set(args.skip.split(","))
    logging.basicConfig(level=logging.WARNING)
    if args.planned_events_as_subset:  # inherited by the code server, daemon and run workers
        os.environ["DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"] = "true"
    total_started = time.perf_counter()
    figures = {d: measure.Figures(d) for d in designs}
    with throwaway_postgres() as server, tempfile.TemporaryDirectory(prefix="tp-scale-") as tmp:
        dagster_db = create_database(server, "dagster")
        registry_db = create_database(server, "registry")
        s = Settings(tenants=args.tenants, days=args.days, work_s=args.work_s,
                     in_run_concurrency=args.in_run_concurrency, shard_size=args.shard_size,
                     cohorts=args.cohorts, registry_url=registry_db)
        os.environ.update(s.to_env())
        home = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(home)
        inst.write_dagster_yaml(home, dagster_db, args.max_concurrent_runs)
        workspace = inst.write_workspace_yaml(home, ROOT)
        print(f"scale: {s.tenants} tenants x {s.days} days ({s.start} .. {s.today}), "
              f"{inst.create_registry(registry_db, s)} connections in the registry; "
              f"designs {designs}; Dagster instance on PostgreSQL (dagster-postgres, psycopg2); "
              f"planned events as one subset per asset: {args.planned_events_as_subset}")
        with dg.DagsterInstance.get() as instance:
            print(f"registered {s.tenants} dynamic partitions 'tenants' in "
                  f"{inst.register_tenants(instance, s):.2f} s")
            for d in designs:
                for target in SEEDED[d]:
                    key = (dg.AssetKey(["b2", "raw_archive"]) if target == "b2_archive"
                           else dg.AssetKey([d, "raw_emails"]))
                    n, secs = inst.seed_materializations(instance, dagster_db, key,
                                                         inst.seed_keys(s, target))
                    print(f"seeded {n} materializations of {key.to_user_string()} in "
                          f"{secs:.1f} s (1 stored via report_runless_asset_event, "
                          f"the rest COPY-cloned event_logs rows)")
            target = ModuleTarget(module_name="bench.partition_scale.code_location",
                                  attribute="defs", working_directory=str(ROOT),
                                  location_name=measure.LOCATION)
            requests: dict[str, list[dg.RunRequest]] = {}
            with WorkspaceProcessContext(instance, target) as wpc:
                for d in designs:
                    fig = figures[d]
                    if "tick" not in skip:
                        requests[d] = measure.measure_tick(wpc, d, fig,
                                                           daemon_tick="daemon_tick" not in skip)
                    if "status" not in skip and d not in SAME_ASSETS_AS:
                        measure.measure_partition_status(wpc, d, fig)
                    if "backfill" not in skip and d not in SAME_ASSETS_AS:
                        measure.measure_backfill(wpc, s, d, fig)
                    measure.progress(f"[{d}] {fig.values} {fig.notes}")
                if "runs" not in skip and "tick" not in skip:
                    daemon = start_daemon(home, workspace)
                    try:
                        for d in designs:
                            count = (args.runs_per_tenant_design if d == "a"
                                     else args.runs_multi)
                            reqs = requests[d][:count]
                            measure.progress(f"[{d}] run-rate phase: {len(reqs)} runs")
                            run_ids = measure.submit_runs(wpc, d, reqs, count)
                            ok = measure.wait_for_runs(instance, run_ids, timeout_s=600)
                            if not ok:
                                figures[d].notes.append("runs did not finish within 600 s")
                            measure.run_figures(instance, s, run_ids,
                                                [tenant_days_of(r, s, d) for r in reqs],
                                                figures[d], serial_raw_steps=d in SAME_ASSETS_AS)
                            measure.progress(f"[{d}] runs: {figures[d].values}")
                    finally:
                        stop_daemon(daemon)
                        tail = (home / "daemon.log").read_text(errors="replace")[-1500:]
                        if any(f.values.get("runs_failed") for f in figures.values()):
                            print("daemon log tail:\n" + tail)
    print_table(list(figures.values()), s, args)
    print(f"backfill selection: tenant {tenant_key(1)}, the 30 days ending 11 days ago")
    print(f"harness wall time: {time.perf_counter() - total_started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
