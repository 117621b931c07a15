"""A token swapped in the database for another tenant's is never used for the owner's mailbox:
the sync of that connection fails as a credential failure, writes no rows, and the others go on.
Real Dagster runs, the real client libraries against the sandbox, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from sandbox.workload.model import GRAPH_CALENDARS_SCOPE, GRAPH_MAIL_SCOPE
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
    # Gmail refuses the owner's address for another account's token ("Delegation denied"), the
    # calendar's primary is not the owner's; Graph refuses /users/{owner} with 403
    # ErrorAccessDenied and /me names another user: the same credential failure either way
    assert (spied.status, spied.status_cause_code) == (
        ConnectionStatus.INVALID_CREDENTIALS,
        TOKEN_OWNER_MISMATCH,
    )
    (window,) = stack.registry.health.missed_windows(spy_tenant, spy.connection_id)
    assert window.stream == ("mail" if asset is raw_emails else "calendar")
    incident = stack.registry.incidents.open_incident(spy_tenant, spy.connection_id)
    assert incident is not None and incident.status is spied.status
    assert stack.registry.connections.get_connection(victim.connection_id).status is (
        ConnectionStatus.ACTIVE
    )


@pytest.mark.parametrize(
    ("asset", "scope"),
    [(raw_emails, GRAPH_MAIL_SCOPE), (raw_meetings, GRAPH_CALENDARS_SCOPE)],
    ids=["mail", "calendar"],
)
def test_microsoft_owner_without_a_scope_is_a_permission_failure(stack, asset, scope):
    """The same 403 ErrorAccessDenied for the owner's own token lacking a scope: `/me` names
    the owner, so it stays `insufficient_permissions` (reconnect and grant the scope), asked
    once."""
    tenant = stack.workload.tenants[0].slug
    conn = next(c for c in stack.connections(tenant) if c.provider == "microsoft")
    # a first sync leaves a valid access token in the connection's msal cache; the grant then
    # loses the scope, so Graph (not the token endpoint) refuses the next sync
    assert stack.materialize(tenant, DAY, assets=[asset]).success
    stack.sandbox.state.mailbox(conn.owner_email).scopes.remove(scope)
    stack.sandbox.state.reset_stats()
    assert stack.materialize(tenant, DAY, assets=[asset]).success

    got = stack.registry.connections.get_connection(conn.connection_id)
    assert (got.status, got.status_cause_code) == (
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "access_denied",
    )
    calls = stack.sandbox.state.mailbox_stats(conn.owner_email)["calls_by_method"]
    assert calls.get("graph.users.get") == 1
