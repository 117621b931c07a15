"""Microsoft 365 connections inside real Dagster runs: msal's token cache encrypted at rest, Entra
refusals recorded per stream, and nothing secret in the run's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa

from assets.emails import emails, raw_emails
from assets.meetings import meetings, raw_meetings
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import ConnectionStatus

MEETING_ASSETS = [raw_meetings, meetings]
MAIL_ASSETS = [raw_emails, emails]


def _day(offset: int) -> str:
    return (WORKLOAD_NOW - timedelta(days=offset)).date().isoformat()


def _window(day: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


@pytest.fixture
def stack(warehouse_url):
    with running_stack(warehouse_url, providers=("microsoft", "google")) as s:
        yield s


def _run_text(stack, result) -> str:
    run = stack.instance.get_run_by_id(result.run_id)
    logs = stack.instance.all_logs(result.run_id)
    return "\n".join(dg.serialize_value(e) for e in logs) + dg.serialize_value(run)


def _secrets(stack) -> list[str]:
    access_tokens = list(stack.sandbox.state._access)  # every access token the sandbox issued
    refresh_tokens = [m.refresh_token for m in stack.workload.mailboxes]
    return [*access_tokens, *refresh_tokens, stack.secret_key]


def test_token_cache_is_kept_encrypted_per_connection(stack):
    tenant = stack.workload.tenants[0].slug
    assert stack.materialize(tenant, _day(1), assets=MAIL_ASSETS).success
    microsoft = [c for c in stack.connections(tenant) if c.provider == "microsoft"]
    assert microsoft
    table = stack.warehouse.table("connections")
    with stack.warehouse.engine.connect() as conn:
        stored = dict(
            conn.execute(sa.select(table.c.connection_id, table.c.token_cache_encrypted)).all()
        )
    issued = list(stack.sandbox.state._access)
    assert issued
    for c in microsoft:
        cache = stack.registry.connections.token_cache(c.connection_id)
        assert cache and '"AccessToken"' in cache and c.owner_email in cache.lower()
        at_rest = stored[c.connection_id]
        assert "AccessToken" not in at_rest and not any(t in at_rest for t in issued)
    for c in stack.connections(tenant):
        if c.provider == "google":
            assert stored[c.connection_id] is None

    # the second run reuses the cached access tokens: no new sign-in at the token endpoint
    def refreshes() -> dict[str, int]:
        stats = stack.sandbox.state.stats()["mailboxes"]
        return {c.owner_email: stats[c.owner_email]["token_refreshes"] for c in microsoft}

    before = refreshes()
    assert all(before.values())
    assert stack.materialize(tenant, _day(2), assets=MAIL_ASSETS).success
    assert refreshes() == before


@pytest.mark.parametrize(
    ("fault", "status", "cause"),
    [
        ("invalid_grant", ConnectionStatus.INVALID_CREDENTIALS, "grant_revoked"),
        ("consent_required", ConnectionStatus.INSUFFICIENT_PERMISSIONS, "consent_required"),
    ],
)
def test_entra_refusal_during_the_meetings_run(stack, fault, status, cause):
    tenant = stack.workload.tenants[0].slug
    broken, *healthy = [c for c in stack.connections(tenant) if c.provider == "microsoft"] + [
        c for c in stack.connections(tenant) if c.provider == "google"
    ]
    assert broken.provider == "microsoft" and healthy
    day, later = _day(2), _day(1)
    assert stack.materialize(tenant, day, assets=MAIL_ASSETS).success
    stack.sandbox.state.set_fault(broken.owner_email, fault)
    stack.sandbox.state.expire_access_tokens(broken.owner_email)

    result = stack.materialize(tenant, day, assets=MEETING_ASSETS)
    assert result.success
    conn = stack.registry.connections.get_connection(broken.connection_id)
    assert (conn.status, conn.status_cause_code) == (status, cause)
    assert conn.status_explanation
    (window,) = stack.registry.health.missed_windows(tenant, broken.connection_id)
    assert (window.stream, (window.window_start, window.window_end)) == ("calendar", _window(day))

    owners = {c.connection_id: c.owner_email for c in stack.connections(tenant)}
    synced = {
        (owners[r["connection_id"]], r["provider_event_id"])
        for r in stack.rows("raw_meetings", tenant, day)
    }
    truth = {
        (c.owner_email, e["event_id"])
        for c in healthy
        for e in stack.sandbox.state.truth_events(c.owner_email, *_window(day))
    }
    assert truth and synced == truth

    text = _run_text(stack, result)
    assert status.value in text
    for secret in _secrets(stack):
        assert secret not in text

    # mail for the same window already synced; a later mail run skips the broken connection
    # and records mail's own missed window, leaving the calendar's open
    result = stack.materialize(tenant, later, assets=MAIL_ASSETS)
    assert result.success
    missed = stack.registry.health.missed_windows(tenant, broken.connection_id)
    assert [(w.stream, w.window_start) for w in missed] == [
        ("calendar", _window(day)[0]),
        ("mail", _window(later)[0]),
    ]
    assert {r["connection_id"] for r in stack.rows("raw_emails", tenant, later)} == {
        c.connection_id for c in healthy
    }
