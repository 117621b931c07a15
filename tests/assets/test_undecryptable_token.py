"""A connection whose stored token no configured key decrypts, inside real Dagster runs on SQLite
and PostgreSQL against the sandbox: that connection's failure, not its tenant's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from stack import WORKLOAD_NOW, running_stack
from vocabulary.status import TOKEN_UNDECRYPTABLE, ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()


@pytest.fixture
def stack(warehouse_url):
    with running_stack(warehouse_url, providers=("google", "microsoft")) as s:
        yield s


def test_an_undecryptable_token_fails_only_its_connection(stack):
    tenant = stack.workload.tenants[0].slug
    broken, *healthy = stack.connections(tenant)
    # The token was stored under a key the deployment no longer has.
    stranger = Registry(stack.warehouse, TokenCipher(generate_key()))
    mailbox = next(m for m in stack.workload.mailboxes if m.address == broken.owner_email)
    stranger.connections.replace_refresh_token(broken.connection_id, mailbox.refresh_token)

    result = stack.materialize(tenant, DAY, assets=[raw_emails, raw_meetings])
    assert result.success
    # One attempt: the failure is the connection's, so Dagster has nothing to retry.
    events = stack.instance.all_logs(result.run_id)
    assert not [e for e in events if e.dagster_event_type == dg.DagsterEventType.STEP_RESTARTED]

    truth = stack.truth_ids(tenant, DAY)
    assert stack.synced_ids(tenant, DAY) == {t for t in truth if t[0] != broken.owner_email}
    assert {owner for owner, _ in stack.synced_ids(tenant, DAY)} == {c.owner_email for c in healthy}
    meeting_owners = {r["connection_id"] for r in stack.rows("raw_meetings", tenant, DAY)}
    assert broken.connection_id not in meeting_owners and meeting_owners

    now = stack.registry.connections.get_connection(broken.connection_id)
    assert (now.status, now.status_cause_code) == (ConnectionStatus.SYNC_ERROR, TOKEN_UNDECRYPTABLE)
    assert "TOUCHPOINT_SECRET_KEY" in (now.status_explanation or "")
    history = stack.registry.health.status_history(broken.connection_id)
    assert [(h.status, h.cause_code) for h in history[-1:]] == [
        (ConnectionStatus.SYNC_ERROR, TOKEN_UNDECRYPTABLE)
    ]
    start = datetime.fromisoformat(DAY).replace(tzinfo=UTC)
    missed = stack.registry.health.missed_windows(tenant, broken.connection_id)
    assert sorted((w.stream, w.window_start, w.window_end, w.cause_code) for w in missed) == [
        (stream, start, start + timedelta(days=1), TOKEN_UNDECRYPTABLE)
        for stream in ("calendar", "mail")
    ]
    for c in healthy:
        assert stack.registry.connections.get_connection(c.connection_id).status == "active"
        assert stack.registry.health.missed_windows(tenant, c.connection_id) == []

    text = "\n".join(dg.serialize_value(e) for e in events)
    assert TOKEN_UNDECRYPTABLE in text
    for secret in [m.refresh_token for m in stack.workload.mailboxes] + [stack.secret_key]:
        assert secret not in text
