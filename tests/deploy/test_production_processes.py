"""Touchpoint's production processes, started locally as deploy/docker-compose.yaml starts them.

The code location's gRPC server, dagster-webserver and dagster-daemon run with the commands of
the compose file's `code`, `webserver` and `daemon` services (host, port and workspace path
swapped for local ones), on a DAGSTER_HOME whose dagster.yaml is deploy/dagster.production.yaml
as shipped, its PostgreSQL storage in a fresh database of the session's real server, and a
workspace that only points at the gRPC server. The sandbox stands in for Google and Microsoft.

What it shows:
(a) the daemon's scheduler ticks `hourly_sync_schedule` and the tick's run completes. The tick
    is real without waiting for the next :05: the schedule's state says it has been running for
    an hour, so the daemon catches up the :05 it "missed" (what it does after a restart);
(b) a backfill launched through GraphQL `launchPartitionBackfill` (the UI's asset page) is run
    by the daemon and its run completes;
(c) the run queue holds a second run of a tenant-day QUEUED until the first ends, while it
    starts a run of another tenant-day meanwhile (read from the runs' own queue events).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import requests
import sqlalchemy as sa
import yaml
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    ScheduleInstigatorData,
)
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.partitions import tenant_day_key, tenant_partitions
from orchestration.demo import provider_environment
from orchestration.instance import PRODUCTION_INSTANCE_CONFIG
from paths import ROOT
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from stack import registered

COMPOSE = ROOT / "deploy" / "docker-compose.yaml"
LOCATION = "touchpoint"
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

LAUNCH_BACKFILL = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(
  backfillParams: $p) { __typename ... on LaunchBackfillSuccess { backfillId }
  ... on PythonError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 20) { runId status } } } }"""
LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_command(service: str, **swap: str) -> list[str]:
    """The compose service's command, with the values of the given options replaced
    (`swap={"-p": "4123"}`): the program and everything else as production runs it."""
    command = list(yaml.safe_load(COMPOSE.read_text())["services"][service]["command"])
    for option, value in swap.items():
        command[command.index(option) + 1] = value
    program = Path(sys.executable).with_name(command[0])
    return [str(program), *command[1:]]


def instance_environment(database_url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.production.yaml reads, for `database_url`."""
    url = sa.make_url(database_url)
    return {
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "",
        "DAGSTER_PG_DB": url.database or "",
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    }


@dataclass
class Production:
    instance: dg.DagsterInstance
    sandbox: SandboxServer
    tenants: list[str]
    webserver_port: int
    logs: Path

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            json={"query": query, "variables": variables},
            timeout=60,
        )
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 240) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := check():
                return value
            time.sleep(1)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-2500:]}"
            for log in sorted(self.logs.glob("*.log"))
        )

    def status(self, run_id: str) -> dg.DagsterRunStatus:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run.status

    def event_time(self, run_id: str, kind: dg.DagsterEventType) -> float:
        """When the run's (first) event of `kind` was stored."""
        records = self.instance.get_records_for_run(run_id, of_type=kind).records
        assert records, f"run {run_id} has no {kind.value} event\n{self.tail()}"
        return records[0].event_log_entry.timestamp


def _stop(proc: subprocess.Popen) -> None:
    """Stops a process group this test started (and any run worker left in it)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _grpc_up(port: int, env: dict[str, str]) -> bool:
    check = [str(Path(sys.executable).with_name("dagster")), "api", "grpc-health-check"]
    done = subprocess.run(
        [*check, "-p", str(port)], env=env, capture_output=True, timeout=60, check=False
    )
    return done.returncode == 0


def _http_up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def production(
    tmp_path_factory: pytest.TempPathFactory, postgres_database_factory: Callable[[], str]
) -> Iterator[Production]:
    tmp = tmp_path_factory.mktemp("production")
    now = datetime.now(UTC)
    # Mail on today and yesterday, both providers in each tenant, authorized now (so the
    # recovery sensor finds no gap to back-sync on its own).
    workload = generate_workload(
        seed=13,
        now=now,
        tenants=2,
        mailboxes_per_tenant=2,
        days=2,
        messages_per_mailbox_per_day=6,
        providers=("google", "microsoft"),
    )
    warehouse_url = postgres_database_factory()
    warehouse, _, key = registered(warehouse_url, workload, authorized_at=now)
    tenants = [t.slug for t in workload.tenants]

    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_INSTANCE_CONFIG, home / "dagster.yaml")
    grpc_port, web_port = _free_port(), _free_port()
    workspace = tmp / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "grpc_server": {
                            "host": "127.0.0.1",
                            "port": grpc_port,
                            "location_name": LOCATION,
                        }
                    }
                ]
            }
        )
    )
    logs = tmp / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    dagster_db = instance_environment(postgres_database_factory())
    with SandboxServer(workload) as sandbox, pytest.MonkeyPatch.context() as patch:
        # This test's own instance (reading the records) finds the same storage.
        for name, value in dagster_db.items():
            patch.setenv(name, value)
        env = {
            **os.environ,
            **dagster_db,
            "DAGSTER_HOME": str(home),
            "TOUCHPOINT_HOME": str(tmp / "state"),
            "TOUCHPOINT_WAREHOUSE_URL": warehouse_url,
            "TOUCHPOINT_SECRET_KEY": key,
            **provider_environment(sandbox.base_url),
        }

        def start(name: str, command: list[str]) -> None:
            out = (logs / f"{name}.log").open("w")
            procs.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
            out.close()

        try:
            # Dagster's tables exist before any process starts (compose's `migrate` service).
            subprocess.run(
                [str(Path(sys.executable).with_name("dagster")), "instance", "migrate"],
                env=env,
                check=True,
                capture_output=True,
                timeout=180,
            )
            with dg.DagsterInstance.from_config(str(home)) as instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                # What tenant_partitions_sensor adds within its first tick; here before the
                # scheduler's first tick, which would otherwise find no partition.
                instance.add_dynamic_partitions(tenant_partitions.name, tenants)
                production = Production(instance, sandbox, tenants, web_port, logs)
                start("code", compose_command("code", **{"-h": "127.0.0.1", "-p": str(grpc_port)}))
                start(
                    "webserver",
                    compose_command(
                        "webserver",
                        **{"-h": "127.0.0.1", "-p": str(web_port), "-w": str(workspace)},
                    ),
                )
                production.wait_for("the code server", lambda: _grpc_up(grpc_port, env), 180)
                production.wait_for("the webserver", lambda: _http_up(web_port), 180)
                _schedule_started_an_hour_ago(production, workspace)
                start("daemon", compose_command("daemon", **{"-w": str(workspace)}))
                yield production
        finally:
            for proc in reversed(procs):
                _stop(proc)
            warehouse.dispose()


def _schedule_started_an_hour_ago(production: Production, workspace: Path) -> None:
    """Stores hourly_sync_schedule's state as running since an hour ago (what the UI's toggle
    stores, an hour back), read from the code server through the same workspace: the daemon's
    first scheduler pass then finds the latest :05 behind it and launches that tick."""
    target = WorkspaceFileTarget(paths=[str(workspace)])
    with WorkspaceProcessContext(production.instance, target) as context:
        schedule = (
            context.create_request_context()
            .get_code_location(LOCATION)
            .get_repository("__repository__")
            .get_schedule("hourly_sync_schedule")
        )
        production.instance.add_instigator_state(
            InstigatorState(
                schedule.get_remote_origin(),
                InstigatorType.SCHEDULE,
                InstigatorStatus.RUNNING,
                ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=time.time() - 3600),
            )
        )


def _backfill(production: Production, backfill_id: str) -> dict[str, Any]:
    return production.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]


def _launch_run(production: Production, partition: str) -> str:
    """A tenant_sync_job run of one partition, launched as the UI launches it (the webserver
    submits it to the instance's queued run coordinator)."""
    params = {
        "selector": {
            "repositoryLocationName": LOCATION,
            "repositoryName": "__repository__",
            "jobName": "tenant_sync_job",
        },
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = production.graphql(LAUNCH_RUN, {"p": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _schedule_state(production: Production) -> Any:
    (state,) = [
        s
        for s in production.instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
        if s.name == "hourly_sync_schedule"
    ]
    return state


@pytest.mark.timeout(600)
def test_the_daemon_ticks_the_hourly_schedule_and_its_runs_complete(production):
    state = _schedule_state(production)

    def first_tick() -> Any:
        ticks = production.instance.get_ticks(state.instigator_origin_id, state.selector_id)
        launched = [t for t in ticks if t.run_ids]
        return launched and min(launched, key=lambda t: t.timestamp)

    # The daemon's scheduler evaluated the schedule in the code server and launched its runs.
    tick = production.wait_for("the scheduler to tick the hourly schedule", first_tick, 240)
    production.wait_for(
        "the tick's runs to finish",
        lambda: all(production.status(r) in DONE for r in tick.run_ids),
        360,
    )
    runs = [production.instance.get_run_by_id(r) for r in tick.run_ids]
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}, production.tail()
    # One block of both tenants over the tick's day (TOUCHPOINT_TENANTS_PER_RUN is 50).
    (run,) = runs
    first, last = production.tenants
    today = datetime.fromtimestamp(tick.timestamp, UTC).date().isoformat()
    assert run.tags["dagster/schedule_name"] == "hourly_sync_schedule"
    assert run.tags["touchpoint/trigger"] == "hourly"
    assert run.tags["dagster/asset_partition_range_start"].endswith(f"|{first}")
    assert run.tags["dagster/asset_partition_range_end"] == f"{today}|{last}"


@pytest.mark.timeout(600)
def test_a_backfill_launched_like_the_ui_is_run_by_the_daemon(production):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    tenant = production.tenants[1]
    launched = production.graphql(
        LAUNCH_BACKFILL,
        {
            "p": {
                "partitionNames": [str(tenant_day_key(tenant, yesterday))],
                "assetSelection": [{"path": ["raw_emails"]}, {"path": ["raw_meetings"]}],
                "fromFailure": False,
            }
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = production.wait_for(
        "the backfill to finish",
        lambda: (
            (b := _backfill(production, launched["backfillId"]))["status"] in BACKFILL_DONE and b
        ),
        360,
    )
    assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, production.tail()
    assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
    (materialized,) = [
        p
        for p in production.instance.get_materialized_partitions(dg.AssetKey("raw_emails"))
        if p == str(tenant_day_key(tenant, yesterday))
    ]
    assert materialized


@pytest.mark.timeout(600)
def test_the_queue_holds_a_second_run_of_a_tenant_day_until_the_first_ends(production):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    held_tenant, other_tenant = production.tenants
    state = production.sandbox.state
    # The first run's mailboxes answer slowly (10 s a request, until the other run is done), so
    # it is still syncing while the queue looks.
    slow = [m.address for m in state.mailboxes if m.tenant == held_tenant]
    for address in slow:
        state.set_fault(address, "slow", seconds=10)
    try:
        first = _launch_run(production, str(tenant_day_key(held_tenant, yesterday)))
        production.wait_for(
            "the first run to start",
            lambda: production.status(first) in {dg.DagsterRunStatus.STARTED, *DONE},
        )
        assert production.status(first) == dg.DagsterRunStatus.STARTED, production.tail()
        second = _launch_run(production, str(tenant_day_key(held_tenant, yesterday)))
        other = _launch_run(production, str(tenant_day_key(other_tenant, yesterday)))
        # Behind the second in the queue, the other tenant-day's run is dequeued and done
        # while the first still syncs: the daemon was dequeuing, and passed over the second.
        production.wait_for("the other run to finish", lambda: production.status(other) in DONE)
    finally:
        state.clear_faults()
    for run_id in (first, second):
        production.wait_for(
            "the runs of the tenant-day to finish", lambda r=run_id: production.status(r) in DONE
        )
    statuses = {production.status(r) for r in (first, second, other)}
    assert statuses == {dg.DagsterRunStatus.SUCCESS}, production.tail()

    kinds = dg.DagsterEventType
    first_ended = production.event_time(first, kinds.RUN_SUCCESS)
    # The second run waited in the queue from before the first ended until after it (the
    # daemon's queue records STARTING when it hands a run to the launcher).
    assert production.event_time(second, kinds.RUN_ENQUEUED) < first_ended
    assert production.event_time(second, kinds.RUN_STARTING) >= first_ended
    # The other tenant-day's run, queued after the second, went through meanwhile.
    assert production.event_time(second, kinds.RUN_ENQUEUED) <= production.event_time(
        other, kinds.RUN_ENQUEUED
    )
    assert production.event_time(other, kinds.RUN_SUCCESS) < first_ended
