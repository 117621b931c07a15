"""A probe round against the sandbox: faulted mailboxes get exactly their statuses (history and
an incident), recently synced ones are not asked at all, healthy ones are left alone, and a
throttled one that answers again is active. Real client libraries over HTTP, SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from resources.connectors import ConnectorFactory
from resources.probe import PROBE_SUCCEEDED, ConnectionProbe
from stack import WORKLOAD_NOW, fast_google, fast_microsoft, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url):
    with running_stack(
        warehouse_url,
        mailboxes_per_tenant=6,
        days=1,
        messages_per_mailbox_per_day=2,
        providers=("google", "microsoft"),
    ) as s:
        yield s


def probe_of(stack, concurrency: int = 4) -> ConnectionProbe:
    # Two attempts per call: a 5xx storm is classified after one retry, not eight.
    settings = {
        "google": fast_google(stack.sandbox.base_url, max_attempts=2).settings(),
        "microsoft": fast_microsoft(stack.sandbox.base_url, max_attempts=2).settings(),
    }
    factory = ConnectorFactory(stack.registry.connections, settings)
    return ConnectionProbe(
        stack.registry, factory, interval=timedelta(minutes=15), concurrency=concurrency
    )


def test_a_probe_round_finds_exactly_the_broken_mailboxes(stack):
    synced_tenant, probed_tenant = (t.slug for t in stack.workload.tenants)
    assert stack.materialize(synced_tenant, DAY).success
    synced = stack.connections(synced_tenant)
    # waiting for a reconnect: the probe leaves it to the owner
    revoked_before = synced[0]
    stack.registry.health.set_status(
        revoked_before.connection_id, ConnectionStatus.INVALID_CREDENTIALS, "grant_revoked", "x"
    )
    conns = stack.connections(probed_tenant)
    google = [c for c in conns if c.provider == "google"]
    microsoft = [c for c in conns if c.provider == "microsoft"]
    state = stack.sandbox.state
    expected = {
        google[0].connection_id: ConnectionStatus.INVALID_CREDENTIALS,
        microsoft[0].connection_id: ConnectionStatus.ACCOUNT_SUSPENDED,
        google[1].connection_id: ConnectionStatus.THROTTLED,
        microsoft[1].connection_id: ConnectionStatus.NO_SERVICE_CONNECTION,
    }
    state.set_fault(google[0].owner_email, "invalid_grant")
    state.set_fault(microsoft[0].owner_email, "account_suspended")
    # Retry-After past the client's cap: throttled at once, as after a storm
    state.set_fault(google[1].owner_email, "rate_limit", retry_after=120, count=100)
    state.set_fault(microsoft[1].owner_email, "server_error", status=503, count=100)
    healed = microsoft[2]
    stack.registry.health.set_status(
        healed.connection_id, ConnectionStatus.THROTTLED, "rate_limited", "x"
    )
    state.reset_stats()

    report = probe_of(stack).run()

    assert (report.probed, report.skipped_recently_synced, report.skipped_needs_reconnect) == (
        6,
        5,
        1,
    )
    assert dict(report.failures_by_status) == {s.value: 1 for s in expected.values()}
    assert (report.healthy, report.back_to_active) == (2, 1)
    for conn in synced:
        # not one token refresh nor API call for a connection synced within the interval
        stats = state.mailbox_stats(conn.owner_email)
        assert (stats["http_requests"], stats["token_refreshes"], stats["token_failures"]) == (
            0,
            0,
            0,
        )
    for conn in conns:
        got = stack.registry.connections.get_connection(conn.connection_id)
        # after the row of the connection's registration
        history = stack.registry.health.status_history(conn.connection_id)[1:]
        incident = stack.registry.incidents.open_incident(probed_tenant, conn.connection_id)
        if conn.connection_id in expected:
            assert got.status is expected[conn.connection_id]
            assert [h.status for h in history] == [expected[conn.connection_id]]
            assert incident is not None and incident.status is got.status
        elif conn is healed:
            assert (got.status, got.status_cause_code) == (ConnectionStatus.ACTIVE, PROBE_SUCCEEDED)
            assert [h.status for h in history] == [
                ConnectionStatus.THROTTLED,
                ConnectionStatus.ACTIVE,
            ]
        else:
            assert got.status is ConnectionStatus.ACTIVE and history == [] and incident is None
            calls = state.mailbox_stats(conn.owner_email)["calls_by_method"]
            assert sum(calls.values()) == 1  # the one profile call
        # the probe syncs nothing, so it neither records nor closes a missed window
        assert stack.registry.health.missed_windows(probed_tenant, conn.connection_id) == []
    still = stack.registry.connections.get_connection(revoked_before.connection_id)
    assert still.status is ConnectionStatus.INVALID_CREDENTIALS


def test_a_second_round_changes_nothing_and_a_swapped_token_is_caught(stack):
    """Statuses found once are seen again without a new history row; a Microsoft token of
    another user is `token_owner_mismatch` through the probe too."""
    first, second = (t.slug for t in stack.workload.tenants)
    victim = next(c for c in stack.connections(first) if c.provider == "microsoft")
    spy = next(c for c in stack.connections(second) if c.provider == "microsoft")
    stack.registry.connections.replace_refresh_token(
        spy.connection_id, stack.registry.connections.refresh_token(victim.connection_id)
    )
    probe = probe_of(stack)
    probe.run()
    report = probe.run()

    got = stack.registry.connections.get_connection(spy.connection_id)
    assert (got.status, got.status_cause_code) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        "token_owner_mismatch",
    )
    assert len(stack.registry.health.status_history(spy.connection_id)) == 2
    # the second round leaves the mismatched connection to its owner's reconnect
    assert (report.probed, report.skipped_needs_reconnect, report.status_changes) == (11, 1, 0)
    assert stack.registry.connections.get_connection(victim.connection_id).status is (
        ConnectionStatus.ACTIVE
    )
