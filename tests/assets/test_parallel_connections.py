"""A run's connections sync at once and stay isolated: one revoked, one throttled and one slow
mailbox leave the others complete and equal to the truth. Real Dagster runs, both providers'
real clients, the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from assets import partition_sync
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url, monkeypatch):
    monkeypatch.setattr(partition_sync, "PARALLEL_CONNECTIONS", 6)
    with running_stack(
        warehouse_url,
        tenants=1,
        mailboxes_per_tenant=6,
        providers=("google", "microsoft"),
        messages_per_mailbox_per_day=8,
    ) as s:
        yield s


def test_concurrent_connections_of_one_run_stay_isolated(stack):
    tenant = stack.workload.tenants[0].slug
    connections = stack.connections(tenant)
    assert len(connections) == 6
    revoked, throttled, slow = connections[0], connections[1], connections[2]
    stack.sandbox.state.set_fault(revoked.owner_email, "invalid_grant")
    # Retry-After far beyond what a run waits: the mailbox is throttled for this run.
    stack.sandbox.state.set_fault(throttled.owner_email, "rate_limit", retry_after=3600)
    stack.sandbox.state.set_fault(slow.owner_email, "slow", seconds=0.3)

    result = stack.materialize(tenant, DAY)
    assert result.success

    status = {c.owner_email: c.status for c in stack.connections(tenant)}
    assert status[revoked.owner_email] == ConnectionStatus.INVALID_CREDENTIALS
    assert status[throttled.owner_email] == ConnectionStatus.THROTTLED
    healthy = {c.owner_email for c in connections} - {revoked.owner_email, throttled.owner_email}
    assert all(status[o] == ConnectionStatus.ACTIVE for o in healthy)

    truth = stack.truth_ids(tenant, DAY)
    assert {o for o, _ in truth} >= healthy, "every healthy mailbox has mail that day"
    assert stack.synced_ids(tenant, DAY) == {t for t in truth if t[0] in healthy}

    # They ran at once: the slow mailbox's sync overlaps another connection's.
    log = stack.warehouse.table("sync_log")
    with stack.warehouse.engine.connect() as db:
        spans = {
            r.connection_id: (r.started_at, r.finished_at)
            for r in db.execute(sa.select(log).where(log.c.tenant_id == tenant))
        }
    slow_start, slow_end = spans[slow.connection_id]
    assert any(
        start < slow_end and slow_start < end
        for connection_id, (start, end) in spans.items()
        if connection_id != slow.connection_id
    )
