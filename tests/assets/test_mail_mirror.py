"""The mail side mirrors the mailbox: messages trashed, marked spam, moved to a skipped folder or
deleted after they were synced, and ones brought back, show after one hourly run of today, for
today and for a day 20 days back; an hourly run with nothing new costs a few calls per mailbox.

Real Dagster runs of raw_emails and emails, the real Google and Microsoft client libraries
against the sandbox over HTTP, the warehouse on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
import sqlalchemy as sa

from assets.emails import emails, raw_emails
from assets.partition_sync import BACKFILL_TAG
from stack import running_stack

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
TODAY = NOW.date().isoformat()
OLD = (NOW - timedelta(days=20)).date().isoformat()
MAIL = [raw_emails, emails]

GMAIL_CALLS_WHEN_IDLE = 2
"""history.list (one page) and nothing else, with room for one retry."""
GRAPH_CALLS_WHEN_IDLE = 12
"""The well-known folders' $batch (6 parts), mailFolders, one delta round per synced folder (4)."""


@pytest.fixture
def stack(warehouse_url):
    # The workload's today is the real today: only a run of the current day reads the feed.
    with running_stack(
        warehouse_url,
        now=NOW,
        tenants=1,
        mailboxes_per_tenant=2,
        days=21,
        messages_per_mailbox_per_day=6,
        providers=("google", "microsoft"),
    ) as s:
        yield s


def _hourly(stack, tenant: str):
    result = stack.materialize(tenant, TODAY, assets=MAIL)
    assert result.success
    return result


def _live(stack, tenant: str, day: str) -> set[tuple[str, str]]:
    owners = {c.connection_id: c.owner_email for c in stack.connections(tenant)}
    return {
        (owners[r["connection_id"]], r["provider_message_id"])
        for r in stack.rows("raw_emails", tenant, day)
        if r["removed_at"] is None
    }


def _tombstones(stack, tenant: str) -> dict[str, str]:
    return {
        r["provider_message_id"]: r["removed_reason"]
        for r in stack.rows("raw_emails", tenant)
        if r["removed_at"] is not None
    }


def _assert_mirrors(stack, tenant: str) -> None:
    """raw_emails' live rows are the provider's truth for both days, and emails holds exactly
    the messages with a live copy."""
    for day in (TODAY, OLD):
        assert _live(stack, tenant, day) == stack.truth_ids(tenant, day), day
    raw = stack.rows("raw_emails", tenant)
    live_ids = {r["internet_message_id"] for r in raw if r["removed_at"] is None}
    assert {r["internet_message_id"] for r in stack.rows("emails", tenant)} == live_ids
    copies = {r["internet_message_id"]: r["copies"] for r in stack.rows("emails", tenant)}
    for imid, n in copies.items():
        assert n == sum(1 for r in raw if r["internet_message_id"] == imid and not r["removed_at"])


def _pick(stack, mailbox: str, day: str, n: int) -> list[str]:
    """`n` messages of the mailbox's day that only it holds (see `_deliver`)."""
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    rows = stack.sandbox.state.truth(mailbox, start, start + timedelta(days=1))
    ids = [r["id"] for r in rows if r["kind"] == "injected"]
    assert len(ids) >= n
    return ids[:n]


def _deliver(stack, per_day: int = 5) -> None:
    """Mail of its own to each mailbox, early on both days (today's run sees it as old mail)."""
    for box in stack.workload.mailboxes:
        for day in (TODAY, OLD):
            midnight = datetime.fromisoformat(day).replace(tzinfo=UTC)
            for n in range(per_day):
                msg = EmailMessage()
                msg["From"] = "Ann Customer <ann@customer.example>"
                msg["To"] = box.address
                msg["Subject"] = f"mirror {day} {n}"
                msg["Message-ID"] = f"<mirror-{day}-{n}-{box.address}>"
                msg["Date"] = format_datetime(midnight + timedelta(minutes=5 + n))
                msg.set_content("hello")
                when = int((midnight + timedelta(minutes=5 + n)).timestamp() * 1000)
                stack.sandbox.state.inject_raw(box.address, msg.as_bytes(), internal_date_ms=when)


def _per_connection(result) -> list[dict]:
    (mat,) = result.asset_materializations_for_node("raw_emails")
    return mat.metadata["per_connection_json"].value


def test_moves_and_deletions_show_after_one_hourly_run(stack):
    tenant = stack.workload.tenants[0].slug
    state = stack.sandbox.state
    _deliver(stack)
    assert stack.materialize(tenant, OLD, tags={BACKFILL_TAG: "b1"}, assets=MAIL).success
    _hourly(stack, tenant)  # the first sync of today starts each mailbox's change feed
    _assert_mirrors(stack, tenant)
    cursors = stack.rows("change_cursors", tenant)
    assert {r["connection_id"] for r in cursors} == {
        c.connection_id for c in stack.connections(tenant)
    }

    expected: dict[str, str] = {}
    restored: list[tuple[str, str]] = []
    for box in stack.workload.mailboxes:
        for day in (TODAY, OLD):
            trashed, spam, deleted, comes_back = _pick(stack, box.address, day, 4)
            state.set_labels(box.address, trashed, ["TRASH"])
            state.set_labels(box.address, spam, ["SPAM"])
            state.delete_message(box.address, deleted)
            state.set_labels(box.address, comes_back, ["TRASH"])
            restored.append((box.address, comes_back))
            expected.update({trashed: "trashed", spam: "spam", deleted: "deleted"})
            expected[comes_back] = "trashed"
    _hourly(stack, tenant)
    _assert_mirrors(stack, tenant)
    assert _tombstones(stack, tenant) == expected

    # Untrashed: the row comes back to life (and its emails row with it).
    for address, message_id in restored:
        state.set_labels(address, message_id, ["INBOX"])
        del expected[message_id]
    result = _hourly(stack, tenant)
    _assert_mirrors(stack, tenant)
    assert _tombstones(stack, tenant) == expected
    assert (
        result.asset_materializations_for_node("emails")[0].metadata["other_days_rebuilt"].value
        == 1
    )  # the day 20 days back, rebuilt by today's run

    # Nothing new: a few calls per mailbox, no listing, no message fetched.
    state.reset_stats()
    idle = _hourly(stack, tenant)
    calls = {row["owner"]: (row["provider"], row["api_calls"]) for row in _per_connection(idle)}
    for owner, (provider, n) in calls.items():
        bound = GMAIL_CALLS_WHEN_IDLE if provider == "google" else GRAPH_CALLS_WHEN_IDLE
        assert n <= bound, (owner, provider, n)
    seen = state.stats()["mailboxes"]
    for address, box_stats in seen.items():
        by_method = box_stats["calls_by_method"]
        assert not {m for m in by_method if m.endswith((".list", ".get"))} - {
            "graph.mailFolders.list",
            "graph.mailFolders.get",
            "gmail.users.history.list",
        }, (address, by_method)
    print(
        "idle hourly run, (api calls, http requests) per mailbox:",
        {
            row["provider"]: (row["api_calls"], row["http_requests"])
            for row in _per_connection(idle)
        },
    )
    _assert_mirrors(stack, tenant)


def test_a_forgotten_cursor_starts_over_with_a_full_listing(stack):
    """Gmail answers 404 for a historyId it no longer keeps, Graph 410 for a delta link: the run
    re-lists today and the held days, tombstones what is gone and keeps the rest."""
    tenant = stack.workload.tenants[0].slug
    state = stack.sandbox.state
    _deliver(stack)
    assert stack.materialize(tenant, OLD, tags={BACKFILL_TAG: "b1"}, assets=MAIL).success
    _hourly(stack, tenant)
    expected = {}
    for box in stack.workload.mailboxes:
        (gone,) = _pick(stack, box.address, OLD, 1)
        state.set_labels(box.address, gone, ["TRASH"])
        state.expire_history(box.address)
        expected[gone] = "not_listed"
    state.reset_stats()
    _hourly(stack, tenant)
    _assert_mirrors(stack, tenant)
    assert _tombstones(stack, tenant) == expected
    by_method = {m for s in state.stats()["mailboxes"].values() for m in s["calls_by_method"]}
    assert "gmail.users.getProfile" in by_method  # the documented full sync
    # The feed works again from the new cursors.
    (back,) = _pick(stack, stack.workload.mailboxes[0].address, TODAY, 1)
    state.set_labels(stack.workload.mailboxes[0].address, back, ["SPAM"])
    _hourly(stack, tenant)
    _assert_mirrors(stack, tenant)
    assert _tombstones(stack, tenant)[back] == "spam"


def test_delta_links_of_another_graph_root_start_over_instead_of_failing(stack):
    """Stored delta links that point elsewhere (the Graph base URL changed since) are never
    followed (they would carry the token off Graph); the connection starts over and stays
    active."""
    tenant = stack.workload.tenants[0].slug
    _deliver(stack)
    assert stack.materialize(tenant, OLD, tags={BACKFILL_TAG: "b1"}, assets=MAIL).success
    _hourly(stack, tenant)
    cursors = stack.warehouse.table("change_cursors")
    with stack.warehouse.engine.begin() as conn:
        moved = conn.execute(
            cursors.update()
            .where(cursors.c.scope.like("graph:%"))
            .values(
                cursor=sa.func.replace(cursors.c.cursor, "http://127.0.0.1", "http://127.0.0.2")
            )
        ).rowcount
    assert moved > 0
    (gone,) = _pick(stack, stack.workload.mailboxes[1].address, OLD, 1)
    stack.sandbox.state.set_labels(stack.workload.mailboxes[1].address, gone, ["TRASH"])
    _hourly(stack, tenant)
    assert {c.status.value for c in stack.connections(tenant)} == {"active"}
    _assert_mirrors(stack, tenant)
    with stack.warehouse.engine.connect() as conn:
        stored = conn.execute(sa.select(cursors.c.cursor)).scalars().all()
    assert stored and not any("127.0.0.2" in link for link in stored)


def test_a_full_listing_tombstones_what_it_no_longer_lists(stack):
    """A backfill lists its day in full: held rows missing from the listing are tombstoned, and
    come back when the provider lists them again."""
    tenant = stack.workload.tenants[0].slug
    state = stack.sandbox.state
    _deliver(stack)
    backfill = {BACKFILL_TAG: "b1"}
    assert stack.materialize(tenant, OLD, tags=backfill, assets=MAIL).success
    box = stack.workload.mailboxes[1]
    gone, back = _pick(stack, box.address, OLD, 2)
    state.set_labels(box.address, gone, ["SPAM"])
    state.set_labels(box.address, back, ["TRASH"])
    assert stack.materialize(tenant, OLD, tags=backfill, assets=MAIL).success
    assert _tombstones(stack, tenant) == {gone: "not_listed", back: "not_listed"}
    assert _live(stack, tenant, OLD) == stack.truth_ids(tenant, OLD)
    state.set_labels(box.address, back, ["INBOX"])
    assert stack.materialize(tenant, OLD, tags=backfill, assets=MAIL).success
    assert _tombstones(stack, tenant) == {gone: "not_listed"}
    assert _live(stack, tenant, OLD) == stack.truth_ids(tenant, OLD)
    imids = {r["internet_message_id"] for r in stack.rows("emails", tenant, OLD)}
    assert f"<mirror-{OLD}-0-{box.address}>" in imids or f"<mirror-{OLD}-1-{box.address}>" in imids
    dead = {r["internet_message_id"] for r in stack.rows("raw_emails", tenant) if r["removed_at"]}
    assert dead and not dead & imids
