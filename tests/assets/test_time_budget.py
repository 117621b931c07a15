"""A connection's time budget per run: a mailbox stuck in a timeout storm stops when its budget
is spent, what it left becomes missed windows, and the tenant's other mailboxes sync. Real
Dagster runs, both providers' real clients, the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg
import pytest

from assets import partition_sync
from assets.emails import raw_emails
from assets.partition_sync import connection_budget
from assets.partitions import tenant_day_key
from assets.tenant_sync import OUT_OF_TIME
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from stack import WORKLOAD_NOW, fast_google, fast_microsoft, running_stack
from vocabulary.status import ConnectionStatus

DAYS = [(WORKLOAD_NOW - timedelta(days=n)).date().isoformat() for n in (2, 1)]


@pytest.fixture
def stack(warehouse_url, monkeypatch):
    # A small budget: two seconds per window, so two windows give a connection four.
    monkeypatch.setattr(partition_sync, "CONNECTION_BUDGET_SECONDS", 2.0)
    with running_stack(
        warehouse_url,
        tenants=1,
        mailboxes_per_tenant=4,
        providers=("google", "microsoft"),
        messages_per_mailbox_per_day=6,
    ) as s:
        # Every request of a stormed mailbox times out; with 100 attempts per call only the
        # budget can end its sync within the test's time.
        s.google = fast_google(s.sandbox.base_url, timeout_seconds=0.5, max_attempts=100)
        s.microsoft = fast_microsoft(s.sandbox.base_url, timeout_seconds=0.5, max_attempts=100)
        yield s


def test_a_timeout_storm_spends_only_the_connections_budget(stack):
    tenant = stack.workload.tenants[0].slug
    connections = stack.connections(tenant)
    stormed = {
        provider: next(c for c in connections if c.provider == provider)
        for provider in ("google", "microsoft")
    }
    for conn in stormed.values():
        stack.sandbox.state.set_fault(conn.owner_email, "slow", seconds=2)
    # One run over the tenant's two days, as a backfill of a date range runs.
    result = dg.materialize(
        [raw_emails],
        resources=stack.resources,
        instance=stack.instance,
        tags={
            RANGE_START_TAG: str(tenant_day_key(tenant, DAYS[0])),
            RANGE_END_TAG: str(tenant_day_key(tenant, DAYS[-1])),
        },
    )
    assert result.success

    stormed_owners = {c.owner_email for c in stormed.values()}
    for day in DAYS:
        truth = stack.truth_ids(tenant, day)
        assert {o for o, _ in truth} - stormed_owners, "the day has mail of healthy mailboxes"
        assert stack.synced_ids(tenant, day) == {t for t in truth if t[0] not in stormed_owners}

    for conn in stormed.values():
        missed = stack.registry.health.missed_windows(tenant, conn.connection_id)
        # The budget ran out on the first day; the second was not even tried.
        assert [(w.window_start.date().isoformat(), w.stream, w.cause_code) for w in missed] == [
            (day, "mail", OUT_OF_TIME) for day in DAYS
        ]
        # Running out of time says nothing about the mailbox: its status stays.
        after = stack.registry.connections.get_connection(conn.connection_id)
        assert after.status == ConnectionStatus.ACTIVE
    for conn in connections:
        if conn.owner_email not in stormed_owners:
            assert not stack.registry.health.missed_windows(tenant, conn.connection_id)

    # A ranged run's materializations (one per tenant-day) share the run's metadata.
    mat = result.asset_materializations_for_node("raw_emails")[0]
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["connections_out_of_time"] == 2
    rows = meta["per_connection_json"]
    assert {(r["owner"], r["day"]) for r in rows if r["cause"] == OUT_OF_TIME} == {
        (owner, day) for owner in stormed_owners for day in DAYS
    }
    logs = [e.message for e in stack.instance.all_logs(result.run_id)]
    assert any("ran out of their time budget" in m for m in logs)


@pytest.mark.parametrize("raw", ["soon", "-5", "nan", "inf", ""])
def test_a_bad_budget_setting_is_one_clear_error(raw):
    with pytest.raises(ValueError, match="TOUCHPOINT_CONNECTION_BUDGET_SECONDS=.* is not a number"):
        connection_budget(raw)


def test_budget_setting():
    assert connection_budget("90") == 90.0
    assert connection_budget("0") == 0.0  # no budget
