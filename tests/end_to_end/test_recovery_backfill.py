"""Missed days come back through Dagster backfills the real dagster-daemon launches and runs.

One instance (the shipped deploy/dagster.yaml) and one daemon over two tenants of the sandbox:
- tenant A's Google mailbox is revoked for a ranged run over three days, then reconnected (fault
  off, new token, status active, as the reconnect flow does): `reconnect_recovery_sensor`
  launches exactly one backfill tagged with the incident, of exactly those tenant-days, which
  makes the warehouse equal the sandbox's truth, closes the windows and the incident, and costs
  the healthy mailbox no message fetch; later ticks launch nothing more. Missed again, the
  window opens again and a second incident's backfill recovers it.
- tenant B had no run at all on those days (the daemon was down): the same sensor launches one
  backfill of them, without a human.
- `touchpoint backfill --connection` launches a backfill the daemon runs for that mailbox only.
The asset check warns with the open windows and passes after recovery.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from end_to_end.test_run_safety import Daemon, _stop

from assets.missed_window_checks import (
    CHECK_NAME,
    raw_emails_missed_windows,
    raw_meetings_missed_windows,
)
from assets.partition_sync import CONNECTION_TAG
from assets.partitions import tenant_day_key, tenant_partitions
from assets.recovery_targets import DAILY_ASSETS
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.registry import Connection, Registry
from resources.secrets import TokenCipher
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import Workload
from stack import fast_google, fast_microsoft, registered, shipped_instance
from vocabulary.status import ConnectionStatus

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAYS = [(NOW - timedelta(days=n)).date().isoformat() for n in (3, 2, 1)]
DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}
MESSAGE_GETS = {"gmail.users.messages.get", "graph.messages.get"}


@dataclass
class Recovery:
    daemon: Daemon
    workload: Workload
    registry: Registry
    resources: dict
    warehouse_url: str

    @property
    def instance(self) -> dg.DagsterInstance:
        return self.daemon.instance

    def tenant(self, index: int) -> str:
        return self.workload.tenants[index].slug

    def connection(self, tenant: str, provider: str) -> Connection:
        return next(
            c for c in self.registry.connections.list_connections(tenant) if c.provider == provider
        )

    def run_days(self, tenant: str, days: list[str]) -> dg.ExecuteInProcessResult:
        """One ranged run of the tenant's days, both streams and the checks, in this process."""
        return dg.materialize(
            [*DAILY_ASSETS, raw_emails_missed_windows, raw_meetings_missed_windows],
            resources=self.resources,
            instance=self.instance,
            tags={
                RANGE_START_TAG: str(tenant_day_key(tenant, days[0])),
                RANGE_END_TAG: str(tenant_day_key(tenant, days[-1])),
            },
        )

    def reconnect(self, connection: Connection) -> None:
        """What the reconnect flow does once the owner consented again."""
        self.daemon.sandbox.state.clear_faults(connection.owner_email)
        mailbox = next(m for m in self.workload.mailboxes if m.address == connection.owner_email)
        self.registry.connections.replace_refresh_token(
            connection.connection_id, mailbox.refresh_token
        )
        self.registry.health.set_status(
            connection.connection_id, ConnectionStatus.ACTIVE, "reconnected", "owner reconnected"
        )

    def backfills(self) -> list[PartitionBackfill]:
        return list(self.instance.get_backfills())

    def wait_done(self, backfill_ids: set[str]) -> None:
        def done() -> bool:
            found = {b.backfill_id: b.status for b in self.backfills()}
            return all(found.get(i) in DONE for i in backfill_ids)

        self.daemon.wait_for(f"backfills {sorted(backfill_ids)} to finish", done, timeout=480)
        for backfill in self.backfills():
            if backfill.backfill_id in backfill_ids:
                assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, self.daemon.tail()

    def sensor_ticks(self) -> int:
        (state,) = [
            s
            for s in self.instance.all_instigator_state()
            if s.instigator_name == "reconnect_recovery_sensor"
        ]
        return len(self.instance.get_ticks(state.instigator_origin_id, state.selector_id))

    def wait_ticks(self, count: int) -> None:
        start = self.sensor_ticks()
        self.daemon.wait_for(
            f"{count} more sensor ticks", lambda: self.sensor_ticks() >= start + count, 240
        )

    def synced(self, tenant: str, day: str) -> set[tuple[str, str]]:
        store = self.daemon.warehouse
        t = store.table("raw_emails")
        owners = {
            c.connection_id: c.owner_email
            for c in self.registry.connections.list_connections(tenant)
        }
        with store.engine.connect() as conn:
            rows = conn.execute(
                t.select().where(
                    t.c.tenant_id == tenant,
                    t.c.partition_day == datetime.fromisoformat(day).date(),
                )
            ).all()
        return {(owners[r.connection_id], r.provider_message_id) for r in rows}

    def truth(self, tenant: str, day: str) -> set[tuple[str, str]]:
        start = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return {
            (m.address, t["id"])
            for m in self.workload.mailboxes
            if m.tenant == tenant
            for t in self.daemon.sandbox.state.truth(m.address, start, start + timedelta(days=1))
        }


def _partitions(backfill: PartitionBackfill) -> dict[str, set[str]]:
    subset = backfill.asset_backfill_data.target_subset
    return {
        key.to_user_string(): set(subset.get_partitions_subset(key).get_partition_keys())
        for key in subset.asset_keys
    }


def _check(result: dg.ExecuteInProcessResult, asset: str) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.asset_key == dg.AssetKey(asset)
    ]
    assert evaluation.check_name == CHECK_NAME
    return evaluation


@contextmanager
def recovery_stack(
    tmp_path: Path, warehouse_url: str, tenants: int, seed: int
) -> Iterator[Recovery]:
    """The sandbox (both providers), a registered warehouse and the shipped instance, with the
    daemon not started yet: a test may add to `daemon.env` first."""
    workload = generate_workload(
        seed=seed,
        now=NOW,
        tenants=tenants,
        mailboxes_per_tenant=2,
        days=4,
        messages_per_mailbox_per_day=6,
        providers=("google", "microsoft"),
    )
    # Authorized on the first of the three days: the days since are what a run must have covered.
    warehouse, _, key = registered(warehouse_url, workload, authorized_at=NOW - timedelta(days=3))
    registry = Registry(warehouse, TokenCipher(key))
    log = tmp_path / "dagster-daemon.log"
    with SandboxServer(workload) as sandbox:
        home, workspace, env = shipped_instance(tmp_path, warehouse_url, key, sandbox.base_url)
        resources = {
            "warehouse": WarehouseResource(url=warehouse_url),
            "vault": CredentialVaultResource(secret_key=key),
            "google": fast_google(sandbox.base_url, max_attempts=2, max_retry_wait_seconds=0.2),
            "microsoft": fast_microsoft(sandbox.base_url),
        }
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.add_dynamic_partitions(
                tenant_partitions.name, [t.slug for t in workload.tenants]
            )
            daemon = Daemon(home, workspace, env, instance, sandbox, warehouse, "", log)
            try:
                yield Recovery(daemon, workload, registry, resources, warehouse_url)
            finally:
                warehouse.dispose()


@pytest.fixture
def recovery(tmp_path: Path, warehouse_url: str) -> Iterator[Recovery]:
    with recovery_stack(tmp_path, warehouse_url, tenants=2, seed=5) as found:
        yield found


def _start_daemon(recovery: Recovery) -> subprocess.Popen:
    daemon = recovery.daemon
    out = daemon.log.open("w")
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(daemon.workspace)],
        cwd=daemon.home.parent,
        env=daemon.env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.mark.timeout(1500)
def test_missed_days_are_recovered_by_backfills_the_daemon_runs(recovery: Recovery) -> None:
    a, b = recovery.tenant(0), recovery.tenant(1)
    broken = recovery.connection(a, "google")
    healthy = recovery.connection(a, "microsoft")
    sandbox = recovery.daemon.sandbox.state

    # Three days of runs while A's Google mailbox is revoked; B has no run at all.
    sandbox.set_fault(broken.owner_email, "invalid_grant")
    revoked = recovery.run_days(a, DAYS)
    assert revoked.success
    assert recovery.registry.connections.get_connection(broken.connection_id).status == (
        ConnectionStatus.INVALID_CREDENTIALS
    )
    windows = recovery.registry.health.missed_windows(a, broken.connection_id)
    assert {(w.stream, w.window_start.date().isoformat()) for w in windows} == {
        (s, d) for s in ("mail", "calendar") for d in DAYS
    }
    incident = recovery.registry.incidents.open_incident(a, broken.connection_id)
    assert incident is not None
    for asset, stream in (("raw_emails", "mail"), ("raw_meetings", "calendar")):
        warned = _check(revoked, asset)
        assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
        listed = warned.metadata["windows_json"].value
        assert {(r["connection"], r["stream"]) for r in listed} == {(broken.connection_id, stream)}
        assert len(listed) == 3 and "refresh" not in str(listed).lower()
    assert recovery.synced(a, DAYS[0]) != recovery.truth(a, DAYS[0])

    recovery.reconnect(broken)
    sandbox.reset_stats()
    proc = _start_daemon(recovery)
    try:
        recovery.daemon.wait_for("two backfills", lambda: len(recovery.backfills()) >= 2)
        by_trigger = {b.tags["touchpoint/trigger"]: b for b in recovery.backfills()}
        assert set(by_trigger) == {"reconnect_recovery", "gap_recovery"}
        reconnect, gap = by_trigger["reconnect_recovery"], by_trigger["gap_recovery"]
        assert reconnect.tags["touchpoint/incident"] == str(incident.incident_id)
        expected_a = {str(tenant_day_key(a, d)) for d in DAYS}
        expected_b = {str(tenant_day_key(b, d)) for d in DAYS}
        for name in ("raw_emails", "emails", "raw_meetings", "meetings"):
            assert _partitions(reconnect)[name] == expected_a
            assert _partitions(gap)[name] == expected_b
        recovery.wait_done({reconnect.backfill_id, gap.backfill_id})

        for tenant in (a, b):
            for day in DAYS:
                assert recovery.truth(tenant, day)
                assert recovery.synced(tenant, day) == recovery.truth(tenant, day)
        assert recovery.registry.health.missed_windows(a) == []
        closed = recovery.registry.incidents.get(incident.incident_id)
        assert closed.closed_reason == "recovered"
        # The healthy mailbox held its days already: listed again, nothing fetched.
        calls = sandbox.mailbox_stats(healthy.owner_email)["calls_by_method"]
        assert not MESSAGE_GETS & set(calls), calls
        assert sum(sandbox.mailbox_stats(broken.owner_email)["calls_by_method"].values()) > 0
        _assert_checks_passed(recovery, reconnect)

        # Later ticks (the cursor and the instance both remember) launch nothing more.
        recovery.wait_ticks(2)
        assert len(recovery.backfills()) == 2

        # Missed again: the window opens again, a new incident, one more backfill of that day.
        sandbox.set_fault(broken.owner_email, "invalid_grant")
        assert recovery.run_days(a, DAYS[2:]).success
        (again,) = recovery.registry.health.missed_windows(
            a, broken.connection_id, open_only=False
        )[-1:]
        reopened = recovery.registry.incidents.open_incident(a, broken.connection_id)
        assert reopened is not None and reopened.incident_id != incident.incident_id
        assert len(recovery.registry.health.missed_windows(a, broken.connection_id)) == 2
        recovery.reconnect(broken)
        recovery.daemon.wait_for("a third backfill", lambda: len(recovery.backfills()) == 3)
        (third,) = [
            b
            for b in recovery.backfills()
            if b.tags.get("touchpoint/incident") == str(reopened.incident_id)
        ]
        assert _partitions(third)["raw_emails"] == {str(tenant_day_key(a, DAYS[2]))}
        recovery.wait_done({third.backfill_id})
        assert recovery.registry.health.missed_windows(a) == []
        assert recovery.registry.incidents.get(reopened.incident_id).closed_at is not None

        _cli_backfill_of_one_connection(recovery, b)
    finally:
        _stop(proc)


def _assert_checks_passed(recovery: Recovery, backfill: PartitionBackfill) -> None:
    """The backfill's runs evaluated the checks, and they passed: the windows are closed."""
    runs = recovery.instance.get_runs(
        filters=dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id})
    )
    evaluations = [
        record.event_log_entry.dagster_event.event_specific_data
        for run in runs
        for record in recovery.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
    ]
    # The missed-window checks, and the recovered days' engagement checks (the backfill
    # rebuilds their engagements too).
    assert {e.asset_key.to_user_string() for e in evaluations} == {
        "raw_emails",
        "raw_meetings",
        "email_engagements",
        "meeting_engagements",
        "account_engagement_daily",
        "contact_engagement",
    }
    assert all(e.passed for e in evaluations)


def _cli_backfill_of_one_connection(recovery: Recovery, tenant: str) -> None:
    only = recovery.connection(tenant, "google")
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("touchpoint")),
            "backfill",
            "--tenant",
            tenant,
            "--connection",
            only.connection_id,
            "--from",
            DAYS[1],
            "--to",
            DAYS[2],
        ],
        env=dict(recovery.daemon.env, TOUCHPOINT_DAGSTER_URL="http://dagster.example:3000"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    first, url = done.stdout.strip().splitlines()
    backfill_id = first.removeprefix("backfill ")
    assert url == f"http://dagster.example:3000/backfills/{backfill_id}"
    backfill = recovery.instance.get_backfill(backfill_id)
    assert backfill is not None and backfill.tags[CONNECTION_TAG] == only.connection_id
    assert _partitions(backfill)["raw_meetings"] == {
        str(tenant_day_key(tenant, d)) for d in DAYS[1:]
    }
    recovery.wait_done({backfill_id})
    runs = recovery.instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert runs and all(r.tags[CONNECTION_TAG] == only.connection_id for r in runs)
    for run in runs:
        for record in recovery.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            metadata = record.asset_materialization.metadata
            if "connections" in metadata:
                assert metadata["connections"].value == 1
