"""The instance settings the project ships (deploy/dagster.yaml), under the real dagster-daemon.

One daemon on a temporary DAGSTER_HOME holding the shipped file as it is: its queued run
coordinator dequeues the runs `dagster job launch` submits, the default run launcher starts them
in the daemon's code server, and its run monitoring watches them. The runs sync the sandbox over
HTTP, slowed by a `slow` fault so they stay in flight while the test looks.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.partitions import tenant_day_key, tenant_partitions
from resources.warehouse import Warehouse
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from stack import WORKLOAD_NOW, registered, shipped_instance

DAYS = [(WORKLOAD_NOW - timedelta(days=n)).date().isoformat() for n in (3, 2, 1)]
WORKER_PID = re.compile(r"Started process for run \(pid: (\d+)\)")
DONE = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


@dataclass
class Daemon:
    home: Path
    workspace: Path
    env: dict[str, str]
    instance: dg.DagsterInstance
    sandbox: SandboxServer
    warehouse: Warehouse
    tenant: str
    log: Path

    def launch(self, day: str, **tags: str) -> str:
        """Submits a tenant_sync_job run of the tenant's `day` as a data engineer would, through
        the instance's run coordinator (the run waits in the queue); returns its id."""
        run_id = str(uuid.uuid4())
        tags = {"dagster/partition": str(tenant_day_key(self.tenant, day)), **tags}
        command = [
            str(Path(sys.executable).with_name("dagster")),
            "job",
            "launch",
            "-w",
            str(self.workspace),
            "-j",
            "tenant_sync_job",
            "--run-id",
            run_id,
            "--tags",
            json.dumps(tags),
        ]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
        return run_id

    def status(self, run_id: str) -> dg.DagsterRunStatus:
        run = self.instance.get_run_by_id(run_id)
        assert run is not None
        return run.status

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 240) -> object:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if value := check():
                return value
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{self.tail()}")

    def messages(self, run_id: str) -> list[str]:
        return [e.message for e in self.instance.all_logs(run_id)]

    def tail(self) -> str:
        return self.log.read_text()[-4000:]


def _stop(proc: subprocess.Popen) -> None:
    """Stops a process group this test started, whatever state the test left it in."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # A run worker orphaned by the test may still be in the group: end it too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    tmp = tmp_path_factory.mktemp("run-safety")
    workload = generate_workload(
        seed=5,
        now=WORKLOAD_NOW,
        tenants=1,
        mailboxes_per_tenant=2,
        days=4,
        messages_per_mailbox_per_day=8,
    )
    warehouse_url = f"sqlite:///{tmp / 'warehouse.db'}"
    warehouse, _, key = registered(warehouse_url, workload, authorized_at=WORKLOAD_NOW)
    tenant = workload.tenants[0]
    log = tmp / "dagster-daemon.log"
    with SandboxServer(workload) as sandbox, log.open("w") as out:
        # The shipped file as it is: nothing of the test's own.
        home, workspace, env = shipped_instance(tmp, warehouse_url, key, sandbox.base_url)
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                instance.add_dynamic_partitions(tenant_partitions.name, [tenant.slug])
                yield Daemon(home, workspace, env, instance, sandbox, warehouse, tenant.slug, log)
        finally:
            _stop(proc)
            warehouse.dispose()


@pytest.fixture
def slow_sandbox(daemon: Daemon) -> Iterator[Callable[[], None]]:
    """Every mailbox answers each request after 5 s until the returned function is called."""
    for m in daemon.sandbox.state.mailboxes:
        daemon.sandbox.state.set_fault(m.address, "slow", seconds=5)
    yield daemon.sandbox.state.clear_faults
    daemon.sandbox.state.clear_faults()


@pytest.mark.timeout(600)
def test_two_runs_of_one_tenant_day_never_run_at_once(daemon, slow_sandbox):
    first = daemon.launch(DAYS[0])
    started = dg.DagsterRunStatus.STARTED
    daemon.wait_for("the first run to start", lambda: daemon.status(first) == started)
    second = daemon.launch(DAYS[0])

    # The queue holds the second run back while the first syncs the day (the daemon dequeues
    # every couple of seconds: watch it pass over the second run several times).
    seen = 0
    while seen < 10:
        assert daemon.status(first) == started, daemon.tail()
        assert daemon.status(second) == dg.DagsterRunStatus.QUEUED, daemon.tail()
        seen += 1
        time.sleep(1)
    slow_sandbox()
    daemon.wait_for("both runs to finish", lambda: daemon.status(second) in DONE)

    one, two = (daemon.instance.get_run_record_by_id(r) for r in (first, second))
    assert one.dagster_run.status == two.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert one.end_time <= two.start_time
    # The second run found the day in the warehouse: it fetched nothing again.
    assert _fetched(daemon, first) > 0
    assert _fetched(daemon, second) == 0


def _fetched(daemon: Daemon, run_id: str) -> int:
    """Messages the run's raw_emails step fetched from the providers."""
    (fetched,) = [
        e.asset_materialization.metadata["fetched"].value
        for e in daemon.instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
        if e.asset_materialization.asset_key == dg.AssetKey("raw_emails")
    ]
    return fetched


@pytest.mark.timeout(600)
def test_a_run_killed_with_its_code_server_is_failed_by_run_monitoring(daemon, slow_sandbox):
    # A short runtime limit on this run: the shipped one (hourly runs: 3 h) is too long to wait.
    run_id = daemon.launch(DAYS[1], **{"dagster/max_runtime": "15"})
    started = dg.DagsterRunStatus.STARTED
    daemon.wait_for("the run to start", lambda: daemon.status(run_id) == started)
    (pid,) = [int(m.group(1)) for msg in daemon.messages(run_id) if (m := WORKER_PID.search(msg))]
    code_server = _parent(pid)
    # kill -9 of the worker and of the code server that would notice its death: the machine's
    # processes are gone, nothing but run monitoring is left to end the run.
    os.kill(code_server, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)

    daemon.wait_for("run monitoring to end the run", lambda: daemon.status(run_id) in DONE)
    assert daemon.status(run_id) == dg.DagsterRunStatus.FAILURE
    assert any("maximum runtime" in m for m in daemon.messages(run_id))


def _parent(pid: int) -> int:
    """The parent process id of `pid` (Linux /proc)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])
