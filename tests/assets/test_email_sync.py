"""A mail window written in bounded batches: a connection that fails mid-window keeps every
message it fetched before the failure, and the next run fetches only the rest, with nothing lost
or doubled. Both providers' real clients, the sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta

import pytest

from assets import mail_writes
from assets.email_sync import EmailWindowSync
from assets.tenant_sync import TenantSync
from resources.connectors import ConnectorFactory
from resources.registry import Connection
from stack import WORKLOAD_NOW, running_stack
from vocabulary.connectors import MailConnector
from vocabulary.records import RawMessage
from vocabulary.status import ConnectionFailure, ConnectionStatus
from vocabulary.windows import SyncWindow

DAY = (WORKLOAD_NOW - timedelta(days=1)).replace(hour=0)
WINDOW = SyncWindow(DAY, DAY + timedelta(days=1))
FAIL_AFTER = 9


class FailsMidWindow:
    """The real connector, except that the provider goes down after `FAIL_AFTER` messages (the
    sandbox has no fault that strikes in the middle of one listing's fetches)."""

    def __init__(self, connector: MailConnector) -> None:
        self.connector = connector
        self.provider = connector.provider
        self.stats = connector.stats
        self.fetched: list[str] = []

    def list_message_ids(self, window: SyncWindow) -> list[str]:
        return self.connector.list_message_ids(window)

    def fetch_messages(self, message_ids: Sequence[str]) -> Iterator[RawMessage]:
        for message in self.connector.fetch_messages(message_ids):
            if len(self.fetched) == FAIL_AFTER:
                raise ConnectionFailure(
                    ConnectionStatus.NO_SERVICE_CONNECTION, "provider_unavailable", "down"
                )
            self.fetched.append(message.provider_message_id)
            yield message


@pytest.fixture
def stack(warehouse_url, monkeypatch):
    # Batches of 4: the failure strikes after two writes, with one message waiting in a batch.
    monkeypatch.setattr(mail_writes, "WRITE_BATCH_ROWS", 4)
    with running_stack(
        warehouse_url,
        tenants=1,
        mailboxes_per_tenant=2,
        providers=("google", "microsoft"),
        messages_per_mailbox_per_day=30,
    ) as s:
        yield s


def test_a_connection_failing_mid_window_keeps_what_it_fetched(stack) -> None:
    tenant = stack.workload.tenants[0].slug
    factory = ConnectorFactory(
        stack.registry.connections,
        {"google": stack.google.settings(), "microsoft": stack.microsoft.settings()},
    )
    failing: dict[str, FailsMidWindow] = {}

    def failing_mail(conn: Connection) -> MailConnector:
        failing[conn.owner_email] = FailsMidWindow(factory.mail(conn))
        return failing[conn.owner_email]

    first = TenantSync(stack.registry, EmailWindowSync(stack.warehouse, failing_mail))
    result = first.sync(tenant, WINDOW, run_id="first", explicit_backfill=True)

    day = DAY.date().isoformat()
    truth = stack.truth_ids(tenant, day)
    synced = stack.synced_ids(tenant, day)
    for outcome in result.connections:
        assert outcome.status == ConnectionStatus.NO_SERVICE_CONNECTION
        fetched = failing[outcome.owner_email].fetched
        assert len(fetched) == FAIL_AFTER
        # Everything fetched before the failure is stored, the message in the unwritten batch
        # included (what the sync skips: trash, spam, drafts, is not in the truth).
        mine = {mid for owner, mid in synced if owner == outcome.owner_email}
        assert mine == {mid for mid in fetched if (outcome.owner_email, mid) in truth}
        assert outcome.synced == len(mine) > 4
    assert synced < truth

    second = TenantSync(stack.registry, EmailWindowSync(stack.warehouse, factory.mail))
    again = second.sync(tenant, WINDOW, run_id="second", explicit_backfill=True)
    assert all(c.status == ConnectionStatus.ACTIVE for c in again.connections)
    assert stack.synced_ids(tenant, day) == truth
    assert len(stack.rows("raw_emails", tenant, day)) == len(truth)
    # The second run fetched only what the first left.
    assert again.total("already_held") == len(synced)
