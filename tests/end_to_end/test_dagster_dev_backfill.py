"""The data engineer's path: `dagster dev -w workspace.yaml`, the tenant sensor evaluated by the
daemon, and a date-range backfill launched the way the UI's asset page launches it (GraphQL
`launchPartitionBackfill` with an asset selection), run by the daemon in separate processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import requests

from assets.partitions import tenant_partitions
from orchestration.demo import provider_environment
from paths import ROOT
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from stack import WORKLOAD_NOW

DAYS = [(WORKLOAD_NOW - timedelta(days=n)).date().isoformat() for n in (2, 1)]

LAUNCH = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status runs(limit: 20) { runId status } } } }"""


TERMINAL = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(what: str, check, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def _failure(tmp_path: Path) -> str:
    """The tail of dagster dev's log, so a failed backfill says why."""
    return (tmp_path / "dagster-dev.log").read_text()[-4000:]


def _graphql(port: int, query: str, variables: dict) -> dict:
    answer = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        timeout=30,
    )
    answer.raise_for_status()
    return answer.json()["data"]


def _server_up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok
    except requests.ConnectionError:
        return False


@pytest.mark.timeout(420)
def test_backfill_from_the_asset_page_through_dagster_dev(tmp_path, warehouse_url):
    workload = generate_workload(
        seed=5,
        now=WORKLOAD_NOW,
        tenants=2,
        mailboxes_per_tenant=2,
        days=3,
        messages_per_mailbox_per_day=10,
    )
    key = generate_key()
    warehouse = Warehouse(warehouse_url)
    warehouse.migrate()
    registry = Registry(warehouse, TokenCipher(key))
    for t in workload.tenants:
        registry.tenants.add_tenant(
            t.slug, t.name, t.internal_domains, t.blocked_domains, t.time_zone
        )
    for m in workload.mailboxes:
        registry.connections.add_connection(
            m.tenant, m.address, m.provider, m.refresh_token, authorized_at=datetime.now(UTC)
        )
    tenant = workload.tenants[1].slug
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").touch()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: orchestration.definitions\n"
        f"      working_directory: {ROOT}\n      location_name: touchpoint\n"
    )
    port = _free_port()
    with SandboxServer(workload) as sandbox:
        env = dict(
            os.environ,
            DAGSTER_HOME=str(dagster_home),
            TOUCHPOINT_HOME=str(tmp_path / "state"),
            TOUCHPOINT_WAREHOUSE_URL=warehouse_url,
            TOUCHPOINT_SECRET_KEY=key,
            **provider_environment(sandbox.base_url),
        )
        dagster = Path(sys.executable).with_name("dagster")
        log = (tmp_path / "dagster-dev.log").open("w")
        proc = subprocess.Popen(
            [str(dagster), "dev", "-w", str(workspace), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for("dagster dev to answer", lambda: _server_up(port), 120)
            with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
                _wait_for(
                    "tenant_partitions_sensor to add the tenant partitions",
                    lambda: (
                        set(instance.get_dynamic_partitions(tenant_partitions.name))
                        == {t.slug for t in workload.tenants}
                    ),
                    120,
                )
            launched = _graphql(
                port,
                LAUNCH,
                {
                    "p": {
                        "partitionNames": [f"{day}|{tenant}" for day in DAYS],
                        "assetSelection": [{"path": ["raw_emails"]}],
                        "fromFailure": False,
                    }
                },
            )["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched
            backfill = _wait_for(
                "the backfill to finish",
                lambda: (
                    (
                        b := _graphql(port, STATUS, {"id": launched["backfillId"]})[
                            "partitionBackfillOrError"
                        ]
                    )["status"]
                    in TERMINAL
                    and b
                ),
                300,
            )
            assert backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}, _failure(tmp_path)
            # One tenant's date range is one run (the assets' backfill policy), not one per day.
            assert [r["status"] for r in backfill["runs"]] == ["SUCCESS"]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()

        owners = {
            c.connection_id: c.owner_email for c in registry.connections.list_connections(tenant)
        }
        table = warehouse.table("raw_emails")
        with warehouse.engine.connect() as conn:
            rows = conn.execute(table.select().where(table.c.tenant_id == tenant)).mappings().all()
        synced = {(owners[r["connection_id"]], r["provider_message_id"]) for r in rows}
        start = datetime.fromisoformat(DAYS[0]).replace(tzinfo=UTC)
        truth = {
            (m.address, t["id"])
            for m in workload.mailboxes
            if m.tenant == tenant
            for t in sandbox.state.truth(m.address, start, start + timedelta(days=len(DAYS)))
        }
        assert truth and synced == truth
    warehouse.dispose()
