"""The mail sync's write path on SQLite and PostgreSQL: connections of one tenant-day writing at
once (and two writers of the same connection) all land exactly once, a re-run changes nothing,
a row the database refuses is quarantined while its neighbours are stored, and batches stay
bounded by rows and by text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from assets import mail_writes
from assets.email_sync import email_row
from assets.mail_writes import MailBatch, store_mail, text_bytes
from resources.warehouse import Warehouse
from vocabulary.records import EmailRecord

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TENANT = "acme"


def rows_of(connection_id: str, count: int, subject: str = "s") -> list[dict]:
    return [
        email_row(
            TENANT,
            connection_id,
            EmailRecord(
                f"m{i:05d}",
                NOW,
                thread_id=f"t{i % 7}",
                subject=f'{subject} {i}, "quoted"',
                to_addresses=[f"r{i}@customer.example", "ann@acme.example"],
                labels=["INBOX"],
            ),
            NOW,
        )
        for i in range(count)
    ]


def table_rows(warehouse: Warehouse, table: str) -> list[dict]:
    tbl = warehouse.table(table)
    with warehouse.engine.connect() as conn:
        result = conn.execute(sa.select(tbl).order_by(*tbl.primary_key.columns))
        return [dict(r._mapping) for r in result]


def quarantine_row(connection_id: str, message_id: str) -> dict:
    return {
        "tenant_id": TENANT,
        "connection_id": connection_id,
        "provider_message_id": message_id,
        "partition_day": NOW.date(),
        "reason": "unparseable",
        "excerpt": None,
        "received_at": NOW,
        "quarantined_at": NOW,
        "attempts": 1,
    }


def test_connections_of_one_tenant_day_write_at_once(warehouse: Warehouse) -> None:
    """Four connections write 1,500 rows each in batches of 500 while two more writers store
    c0's rows again, one of them in reverse order: nobody fails or deadlocks, and every row is
    there once."""
    batches = [
        (f"c{n}", rows[start : start + 500])
        for n in range(4)
        for rows in [rows_of(f"c{n}", 1_500)]
        for start in range(0, 1_500, 500)
    ]
    again = rows_of("c0", 1_500, subject="again")
    batches += [("c0", again), ("c0", again[::-1])]

    def write(job: tuple[str, list[dict]]) -> int:
        stored, quarantined = store_mail(warehouse, TENANT, job[0], job[1], [], NOW)
        assert quarantined == []
        return len(stored)

    with ThreadPoolExecutor(6) as pool:
        written = list(pool.map(write, batches))

    assert sum(written) == 4 * 1_500 + 2 * 1_500
    stored = table_rows(warehouse, "raw_emails")
    assert len(stored) == 4 * 1_500
    per_connection: dict[str, int] = {}
    for row in stored:
        per_connection[row["connection_id"]] = per_connection.get(row["connection_id"], 0) + 1
    assert per_connection == {f"c{n}": 1_500 for n in range(4)}
    # Each of c0's rows is one writer's version, whichever wrote last.
    versions = {(r["provider_message_id"], r["subject"]) for r in [*rows_of("c0", 1_500), *again]}
    c0 = [r for r in stored if r["connection_id"] == "c0"]
    assert all((r["provider_message_id"], r["subject"]) in versions for r in c0)


def test_a_rerun_of_the_same_rows_changes_nothing(warehouse: Warehouse) -> None:
    rows = rows_of("c1", 1_200)
    store_mail(warehouse, TENANT, "c1", rows, [], NOW)
    first = table_rows(warehouse, "raw_emails")
    stored, quarantined = store_mail(warehouse, TENANT, "c1", rows, [], NOW)
    assert len(stored) == 1_200 and quarantined == []
    assert table_rows(warehouse, "raw_emails") == first
    assert len(first) == 1_200


def test_new_and_held_rows_in_one_batch(warehouse: Warehouse) -> None:
    """A batch of mostly new mail with a few held messages (a tombstone come back): the held ones
    are updated, the new ones inserted, as a staged upsert would."""
    rows = rows_of("c1", 300)
    store_mail(warehouse, TENANT, "c1", rows[:10], [], NOW)
    restored = [dict(r, subject="restored") for r in rows[:10]]
    store_mail(warehouse, TENANT, "c1", [*rows[10:], *restored], [], NOW)
    stored = table_rows(warehouse, "raw_emails")
    assert len(stored) == 300
    assert [r["subject"] for r in stored[:10]] == ["restored"] * 10
    assert stored[10]["subject"] == rows[10]["subject"]


def test_a_refused_row_is_quarantined_and_its_neighbours_stored(warehouse: Warehouse) -> None:
    rows = rows_of("c1", 400)
    # PostgreSQL stores no NUL in text; SQLite does.
    bad = {"m00013", "m00377"}
    for row in rows:
        if row["provider_message_id"] in bad:
            row["thread_id"] = "t" + chr(0)
    # Quarantined by an earlier run, parsed now: released.
    store_mail(warehouse, TENANT, "c1", [], [quarantine_row("c1", "m00100")], NOW)
    commits: list[int] = []
    event.listen(warehouse.engine, "commit", lambda _conn: commits.append(1))

    stored, quarantined = store_mail(warehouse, TENANT, "c1", rows, [], NOW)

    held = {r["provider_message_id"] for r in table_rows(warehouse, "raw_emails")}
    in_quarantine = {
        r["provider_message_id"]: r["reason"] for r in table_rows(warehouse, "quarantined_messages")
    }
    if warehouse.dialect == "postgresql":
        assert {r["provider_message_id"] for r in quarantined} == bad
        assert in_quarantine == dict.fromkeys(bad, "warehouse_refused:22021")
        assert held == {r["provider_message_id"] for r in rows} - bad
        assert len(stored) == 398
        # Halving finds two bad rows among 400 in a few dozen writes, not 400.
        assert len(commits) < 40
    else:
        assert quarantined == [] and in_quarantine == {}
        assert len(held) == len(stored) == 400


def test_batches_are_bounded_by_rows_and_by_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mail_writes, "WRITE_BATCH_ROWS", 3)
    monkeypatch.setattr(mail_writes, "WRITE_BATCH_TEXT_BYTES", 10_000)
    by_rows = MailBatch()
    for row in rows_of("c1", 2):
        by_rows.add_row(row)
    assert not by_rows.full
    by_rows.quarantined.append(quarantine_row("c1", "q1"))
    assert by_rows.full

    wide = rows_of("c1", 1)[0]
    wide["to_addresses"] = [f"person{i:05d}@customer.example" for i in range(400)]
    assert text_bytes(wide) > 10_000
    by_text = MailBatch()
    by_text.add_row(wide)
    assert by_text.full and len(by_text.rows) == 1
