"""A token swapped in the database for another tenant's is never used for the owner's mailbox:
the sync of that connection fails as a credential failure, writes no rows, and the others go on.
Real Dagster runs, the real client libraries against the sandbox, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import TOKEN_OWNER_MISMATCH, ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url):
    with running_stack(
        warehouse_url, mailboxes_per_tenant=2, providers=("google", "microsoft")
    ) as s:
        yield s


@pytest.mark.parametrize("provider", ["google", "microsoft"])
@pytest.mark.parametrize("asset", [raw_emails, raw_meetings], ids=["mail", "calendar"])
def test_a_swapped_token_fills_no_rows(stack, provider, asset):
    victim_tenant, spy_tenant = (t.slug for t in stack.workload.tenants)
    victim = next(c for c in stack.connections(victim_tenant) if c.provider == provider)
    spy = next(c for c in stack.connections(spy_tenant) if c.provider == provider)
    # the spy connection now holds the victim's token (a database edit, a mix-up at reconnect)
    stack.registry.connections.replace_refresh_token(
        spy.connection_id, stack.registry.connections.refresh_token(victim.connection_id)
    )
    result = stack.materialize(spy_tenant, DAY, assets=[asset])
    assert result.success

    table = "raw_emails" if asset is raw_emails else "raw_meetings"
    rows = stack.rows(table, spy_tenant, DAY)
    assert not [r for r in rows if r["connection_id"] == spy.connection_id]
    # the spy tenant's other connection synced; the victim's tenant got nothing from this run
    assert {r["connection_id"] for r in rows} == {
        c.connection_id
        for c in stack.connections(spy_tenant)
        if c.connection_id != spy.connection_id
    }
    assert stack.rows(table, victim_tenant, DAY) == []

    spied = stack.registry.connections.get_connection(spy.connection_id)
    if provider == "google":
        # Gmail refuses the owner's address for another account's token ("Delegation denied");
        # the calendar's primary is not the owner's
        assert (spied.status, spied.status_cause_code) == (
            ConnectionStatus.INVALID_CREDENTIALS,
            TOKEN_OWNER_MISMATCH,
        )
    else:
        # Graph refuses /users/{owner} for another user's delegated token (403 ErrorAccessDenied)
        assert spied.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS
    (window,) = stack.registry.health.missed_windows(spy_tenant, spy.connection_id)
    assert window.stream == ("mail" if asset is raw_emails else "calendar")
    incident = stack.registry.incidents.open_incident(spy_tenant, spy.connection_id)
    assert incident is not None and incident.status is spied.status
    assert stack.registry.connections.get_connection(victim.connection_id).status is (
        ConnectionStatus.ACTIVE
    )
