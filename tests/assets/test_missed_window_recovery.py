"""A window missed, recovered by the next successful run, missed again and recovered again, with
the connection's incidents opening and closing along: real Dagster runs, the real Google client,
the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stack import WORKLOAD_NOW, fast_google, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url):
    with running_stack(warehouse_url, tenants=1, mailboxes_per_tenant=2) as s:
        # 503 answers give up quickly: the point is the failure, not the retries
        s.google = fast_google(s.sandbox.base_url, max_attempts=2, max_retry_wait_seconds=0.2)
        yield s


def _google_connection(stack, tenant):
    return next(c for c in stack.connections(tenant) if c.provider == "google")


def test_a_window_missed_recovered_and_missed_again_is_owed_again(stack):
    tenant = stack.workload.tenants[0].slug
    broken = _google_connection(stack, tenant)
    health, incidents = stack.registry.health, stack.registry.incidents

    def fail_once_more():
        stack.sandbox.state.set_fault(broken.owner_email, "server_error", status=503)
        assert stack.materialize(tenant, DAY).success
        stack.sandbox.state.clear_faults(broken.owner_email)
        (window,) = health.missed_windows(tenant, broken.connection_id)
        incident = incidents.open_incident(tenant, broken.connection_id)
        assert incident is not None and window.incident_id == incident.incident_id
        assert (window.stream, window.status) == ("mail", ConnectionStatus.NO_SERVICE_CONNECTION)
        assert stack.registry.connections.get_connection(broken.connection_id).status == (
            ConnectionStatus.NO_SERVICE_CONNECTION
        )
        return incident

    def recover(incident):
        assert stack.materialize(tenant, DAY).success
        assert health.missed_windows(tenant, broken.connection_id) == []
        (window,) = health.missed_windows(tenant, broken.connection_id, open_only=False)
        assert window.recovered_at is not None
        closed = incidents.get(incident.incident_id)
        assert closed.closed_reason == "recovered" and closed.closed_at >= window.recovered_at
        assert stack.connections(tenant)[0].status == ConnectionStatus.ACTIVE

    first = fail_once_more()
    recover(first)
    second = fail_once_more()  # before the fix, this failure left no open window
    assert second.incident_id != first.incident_id
    recover(second)
    assert stack.synced_ids(tenant, DAY) == stack.truth_ids(tenant, DAY)
    assert [i.incident_id for i in incidents.incidents(tenant)] == [
        first.incident_id,
        second.incident_id,
    ]
