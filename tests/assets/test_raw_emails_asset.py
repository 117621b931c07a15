"""raw_emails end to end: real Dagster runs, the real Google client, the sandbox over HTTP, and
the warehouse on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import dagster as dg
import pytest

from stack import WORKLOAD_NOW, fast_google, running_stack
from vocabulary.status import ConnectionStatus

DAY = (WORKLOAD_NOW - timedelta(days=1)).date().isoformat()
VOLATILE = {"synced_at"}


def _table_snapshot(stack, table: str, tenant: str) -> list[tuple]:
    rows = stack.rows(table, tenant)
    return sorted(
        tuple(sorted((k, repr(v)) for k, v in r.items() if k not in VOLATILE)) for r in rows
    )


def _metadata(result) -> dict:
    mats = result.asset_materializations_for_node("raw_emails")
    assert len(mats) == 1
    return {k: getattr(v, "value", v) for k, v in mats[0].metadata.items()}


@pytest.fixture
def stack(warehouse_url):
    with running_stack(warehouse_url) as s:
        yield s


def test_materialize_twice_is_identical_and_equals_truth(stack):
    tenant = stack.workload.tenants[0].slug
    first = stack.materialize(tenant, DAY)
    assert first.success
    truth = stack.truth_ids(tenant, DAY)
    assert len(truth) > 20
    assert stack.synced_ids(tenant, DAY) == truth
    # drafts, spam and trash exist in the mailboxes' day but none reached the warehouse
    labels = [set(r["labels"]) for r in stack.rows("raw_emails", tenant, DAY)]
    assert not any(lbl & {"DRAFT", "SPAM", "TRASH"} for lbl in labels)
    snapshot = _table_snapshot(stack, "raw_emails", tenant)
    first_meta = _metadata(first)
    assert first_meta["synced"] == len(truth)

    second = stack.materialize(tenant, DAY)
    assert second.success
    meta = _metadata(second)
    assert meta["fetched"] == 0 and meta["synced"] == 0
    assert meta["already_held"] == len(truth)
    assert _table_snapshot(stack, "raw_emails", tenant) == snapshot
    gets = sum(
        s["calls_by_method"].get("gmail.users.messages.get", 0)
        for s in stack.sandbox.state.stats()["mailboxes"].values()
    )
    assert gets == len(truth)  # the second run made no messages.get call at all
    # the other tenant was not touched
    other = stack.workload.tenants[1].slug
    assert stack.rows("raw_emails", other) == []


def test_invalid_grant_on_one_connection(stack):
    tenant = stack.workload.tenants[0].slug
    broken, *healthy = stack.connections(tenant)
    stack.sandbox.state.set_fault(broken.owner_email, "invalid_grant")
    before = datetime.now(UTC)
    result = stack.materialize(tenant, DAY)
    assert result.success

    synced = stack.synced_ids(tenant, DAY)
    truth = stack.truth_ids(tenant, DAY)
    assert synced == {t for t in truth if t[0] != broken.owner_email}
    assert {o for o, _ in synced} == {c.owner_email for c in healthy}

    conn = stack.registry.connections.get_connection(broken.connection_id)
    assert conn.status == ConnectionStatus.INVALID_CREDENTIALS
    history = stack.registry.health.status_history(broken.connection_id)
    assert history[-1].status == ConnectionStatus.INVALID_CREDENTIALS
    assert history[-1].cause_code == "invalid_grant"
    assert history[-1].changed_at >= before
    missed = stack.registry.health.missed_windows(tenant, broken.connection_id)
    assert [(w.window_start.date().isoformat(), w.window_end - w.window_start) for w in missed] == [
        (DAY, timedelta(days=1))
    ]
    for c in healthy:
        assert (
            stack.registry.connections.get_connection(c.connection_id).status
            == ConnectionStatus.ACTIVE
        )

    meta = _metadata(result)
    assert meta["connections_not_active"] == 1
    secrets = [m.refresh_token for m in stack.workload.mailboxes] + [stack.secret_key]
    logs = stack.instance.all_logs(result.run_id)
    text = "\n".join(dg.serialize_value(e) for e in logs)
    assert "invalid_credentials" in text
    for secret in secrets:
        assert secret not in text
    run = stack.instance.get_run_by_id(result.run_id)
    assert not any(s in dg.serialize_value(run) for s in secrets)


def test_429_storm_and_5xx_window_lose_nothing(stack):
    tenant = stack.workload.tenants[0].slug
    first, second, *_ = stack.connections(tenant)
    # 12 consecutive 429s: more than the 8 attempts the other tests allow one call
    stack.google = fast_google(stack.sandbox.base_url, max_attempts=16)
    stack.sandbox.state.set_fault(first.owner_email, "rate_limit", count=12, retry_after=1)
    stack.sandbox.state.set_fault(second.owner_email, "server_error", status=503, duration=2)
    result = stack.materialize(tenant, DAY)
    assert result.success
    assert stack.synced_ids(tenant, DAY) == stack.truth_ids(tenant, DAY)
    for c in stack.connections(tenant):
        assert c.status == ConnectionStatus.ACTIVE
    meta = _metadata(result)
    assert meta["connections_not_active"] == 0
    assert stack.sandbox.state.mailbox_stats(first.owner_email)["faults_injected"] >= 12


def test_quota_enforced_sync_stays_within_quota(warehouse_url):
    with running_stack(
        warehouse_url, mailboxes_per_tenant=2, messages_per_mailbox_per_day=60
    ) as stack:
        limit = 100
        stack.sandbox.state.set_quota(True, units_per_second=limit)
        stack.google = fast_google(stack.sandbox.base_url, quota_units_per_second=limit)
        tenant = stack.workload.tenants[0].slug
        result = stack.materialize(tenant, DAY)
        assert result.success
        assert stack.synced_ids(tenant, DAY) == stack.truth_ids(tenant, DAY)
        per_mailbox = stack.sandbox.state.stats()["mailboxes"]
        for c in stack.connections(tenant):
            s = per_mailbox[c.owner_email]
            assert s["quota_units"] > 0
            assert s["max_units_in_any_1s_window"] <= limit
            assert s["rejected_for_quota"] == 0


def _odd_message(i: int, owner: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = '"Ödön, Q." <ODON@Customer-Example.com>'
    msg["To"] = f"{owner}, undisclosed-recipients:;"
    msg["Subject"] = "=?UTF-8?B?w5xiZXJibGljaw==?= of Q" + str(i)
    msg["Date"] = f"Thu, 19 Nov 2026 10:0{i}:00 +0100"
    msg["Message-ID"] = f"<odd-{i}@customer-example.com>"
    msg.set_content("hello")
    return bytes(msg)


def test_malformed_and_unusual_messages_are_quarantined_or_synced(stack):
    tenant = stack.workload.tenants[0].slug
    window = (datetime.fromisoformat(DAY).replace(tzinfo=UTC),)
    window += (window[0] + timedelta(days=1),)
    variants = ["invalid_json", "not_object", "bad_headers"]
    owners = [c.owner_email for c in stack.connections(tenant)]
    broken: dict[str, str] = {}
    for owner, variant in zip(owners, variants, strict=True):
        first_two = [t["id"] for t in stack.sandbox.state.truth(owner, *window)[:2]]
        stack.sandbox.state.set_fault(owner, "malformed", ids=first_two, variant=variant)
        broken.update(dict.fromkeys(first_two, variant))
    odd_ms = int((window[0] + timedelta(hours=9)).timestamp() * 1000)
    odd_ids = {
        stack.sandbox.state.inject_raw(
            owners[0], _odd_message(i, owners[0]), labels=["INBOX"], internal_date_ms=odd_ms + i
        )["id"]
        for i in range(3)
    }
    result = stack.materialize(tenant, DAY)
    assert result.success
    meta = _metadata(result)

    synced = {mid for _, mid in stack.synced_ids(tenant, DAY)}
    quarantined = {r["provider_message_id"]: r for r in stack.rows("quarantined_messages", tenant)}
    truth = {mid for _, mid in stack.truth_ids(tenant, DAY)}
    # nothing lost without a trace: every message of the day is synced or quarantined, once
    assert synced | set(quarantined) == truth
    assert not synced & set(quarantined)
    assert {mid: q["reason"] for mid, q in quarantined.items()} == {
        mid: v for mid, v in broken.items() if v != "bad_headers"
    }
    assert meta["quarantined"] == len(quarantined) == 4
    # garbage headers are kept, with their defects noted
    garbled = [
        r
        for r in stack.rows("raw_emails", tenant, DAY)
        if broken.get(r["provider_message_id"]) == "bad_headers"
    ]
    assert len(garbled) == 2 and all(r["header_defects"] for r in garbled)
    assert odd_ids <= synced
    odd_rows = [
        r for r in stack.rows("raw_emails", tenant, DAY) if r["provider_message_id"] in odd_ids
    ]
    assert {r["from_address"] for r in odd_rows} == {"odon@customer-example.com"}
    assert all(r["subject"].startswith("Überblick of Q") for r in odd_rows)

    # once the provider answers properly again, the quarantined messages sync and leave quarantine
    stack.sandbox.state.clear_faults()
    assert stack.materialize(tenant, DAY).success
    assert {mid for _, mid in stack.synced_ids(tenant, DAY)} == truth
    assert stack.rows("quarantined_messages", tenant) == []


def test_unknown_tenant_fails_clearly(stack):
    stack.instance.add_dynamic_partitions("tenants", ["ghost-tenant"])
    result = stack.materialize("ghost-tenant", DAY)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "ghost-tenant" in str(failure.step_failure_data.error.message)
