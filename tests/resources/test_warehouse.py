"""The warehouse on both backends: bulk upsert semantics, timestamps, isolation, concurrency.

Migrations have their own file, tests/test_migrations.py.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from paths import ROOT
from resources import warehouse as warehouse_module
from resources.schema.migrate import head_revision, revisions_up_to
from resources.warehouse import Warehouse, WarehouseError

KEY = ["tenant_id", "connection_id", "provider_message_id"]
ALL_REVISIONS = revisions_up_to(head_revision())
T0 = datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=UTC)


def email_row(message_id: str, tenant_id: str = "acme", connection_id: str = "conn-a", **extra):
    row = {
        "tenant_id": tenant_id,
        "connection_id": connection_id,
        "provider_message_id": message_id,
        "partition_day": T0.date(),
        "received_at": T0,
        "sent_at": None,
        "internet_message_id": f"<{message_id}@example.com>",
        "thread_id": "t-1",
        "subject": f"subject {message_id}",
        "from_address": "ann@customer.com",
        "from_name": "Ann",
        "to_addresses": ["bob@acme.com"],
        "cc_addresses": [],
        "bcc_addresses": [],
        "in_reply_to": None,
        "labels": ["INBOX"],
        "size_bytes": 1234,
        "header_defects": [],
        "synced_at": T0,
    }
    row.update(extra)
    return row


def fetch_all(wh: Warehouse, table: str, order_by: list[str]) -> list[dict]:
    tbl = wh.tables[table]
    with wh.engine.connect() as conn:
        rows = conn.execute(sa.select(tbl).order_by(*(tbl.c[c] for c in order_by))).all()
    return [dict(r._mapping) for r in rows]


# Concurrency


def test_several_processes_write_at_once(warehouse: Warehouse, warehouse_url: str) -> None:
    script = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from resources.warehouse import Warehouse\n"
        "wh = Warehouse(sys.argv[1]); wh.migrate(); n = int(sys.argv[2])\n"
        "t = datetime(2026, 11, 20, tzinfo=UTC)\n"
        "for batch in range(10):\n"
        "    rows = [dict(tenant_id='acme', contact_id=f'p{n}-{batch}-{i}',\n"
        "                 name='x', email=f'p{n}-{i}@x.com') for i in range(50)]\n"
        "    wh.upsert('contacts', rows, ['tenant_id', 'contact_id'])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, warehouse_url, str(n)],
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert len(fetch_all(warehouse, "contacts", ["contact_id"])) == 3 * 10 * 50


# Upsert semantics


def test_upsert_inserts_updates_and_skips(warehouse: Warehouse) -> None:
    assert warehouse.upsert("raw_emails", [email_row("m1"), email_row("m2")], KEY) == 2

    changed = [email_row("m1", subject="new subject", labels=["INBOX", "IMPORTANT"])]
    assert warehouse.upsert("raw_emails", changed, KEY) == 1

    ignored = [email_row("m2", subject="ignored"), email_row("m3")]
    assert warehouse.upsert("raw_emails", ignored, KEY, update_columns=[]) == 1

    only_labels = [email_row("m3", subject="not written", labels=["SENT"])]
    assert warehouse.upsert("raw_emails", only_labels, KEY, update_columns=["labels"]) == 1

    rows = fetch_all(warehouse, "raw_emails", ["provider_message_id"])
    assert [(r["provider_message_id"], r["subject"], r["labels"]) for r in rows] == [
        ("m1", "new subject", ["INBOX", "IMPORTANT"]),
        ("m2", "subject m2", ["INBOX"]),
        ("m3", "subject m3", ["SENT"]),
    ]


def quarantine_row(message_id: str, reason: str, tenant_id: str = "acme") -> dict:
    return {
        "tenant_id": tenant_id,
        "connection_id": "conn-a",
        "provider_message_id": message_id,
        "partition_day": T0.date(),
        "reason": reason,
        "excerpt": None,
        "received_at": None,
        "quarantined_at": T0,
        "attempts": 1,
    }


def test_upsert_increments_counters_and_delete_keys(warehouse: Warehouse) -> None:
    def upsert(rows: list[dict]) -> int:
        return warehouse.upsert(
            "quarantined_messages",
            rows,
            KEY,
            update_columns=["reason"],
            increment_columns=["attempts"],
        )

    assert upsert([quarantine_row("q1", "bad json"), quarantine_row("q2", "bad json")]) == 2
    assert upsert([quarantine_row("q1", "still bad")]) == 1
    assert upsert([quarantine_row("q1", "worse"), quarantine_row("q3", "new")]) == 2
    warehouse.upsert("quarantined_messages", [quarantine_row("q1", "x", tenant_id="globex")], KEY)
    rows = fetch_all(warehouse, "quarantined_messages", ["tenant_id", "provider_message_id"])
    assert [
        (r["tenant_id"], r["provider_message_id"], r["reason"], r["attempts"]) for r in rows
    ] == [
        ("acme", "q1", "worse", 3),
        ("acme", "q2", "bad json", 1),
        ("acme", "q3", "new", 1),
        ("globex", "q1", "x", 1),
    ]
    with pytest.raises(WarehouseError, match="increment_columns"):
        warehouse.upsert("quarantined_messages", rows[:1], KEY, increment_columns=["tenant_id"])

    assert (
        warehouse.delete_keys(
            "quarantined_messages", "acme", "conn-a", "provider_message_id", ["q1", "q3", "absent"]
        )
        == 2
    )
    assert (
        warehouse.delete_keys("quarantined_messages", "acme", "conn-a", "provider_message_id", [])
        == 0
    )
    left = fetch_all(warehouse, "quarantined_messages", ["tenant_id", "provider_message_id"])
    assert [(r["tenant_id"], r["provider_message_id"]) for r in left] == [
        ("acme", "q2"),
        ("globex", "q1"),
    ]


def test_upsert_last_duplicate_in_a_batch_wins(warehouse: Warehouse) -> None:
    rows = [email_row("m1", subject="first"), email_row("m2"), email_row("m1", subject="last")]
    assert warehouse.upsert("raw_emails", rows, KEY) == 2
    subjects = [r["subject"] for r in fetch_all(warehouse, "raw_emails", ["provider_message_id"])]
    assert subjects == ["last", "subject m2"]


def test_upsert_rejects_bad_requests(warehouse: Warehouse) -> None:
    assert warehouse.upsert("raw_emails", [], KEY) == 0
    with pytest.raises(WarehouseError, match="no column"):
        warehouse.upsert("raw_emails", [email_row("m1", nonsense=1)], KEY)
    with pytest.raises(WarehouseError, match="different columns"):
        row = email_row("m2")
        del row["thread_id"]
        warehouse.upsert("raw_emails", [email_row("m1"), row], KEY)
    with pytest.raises(WarehouseError, match="unknown warehouse table"):
        warehouse.upsert("no_such_table", [{"a": 1}], ["a"])
    with pytest.raises(ValueError, match="naive datetime"):
        warehouse.upsert("raw_emails", [email_row("m1", received_at=datetime(2026, 1, 1))], KEY)


TRICKY_TEXTS = [
    "comma, \"quoted\", and 'single'",
    "line one\nline two\r\nline three\r",
    "",
    "\\.",
    "\\N",
    "back\\slash\ttab",
    "unicodé ünïcödé — 日本語 🚀 עברית",
    "NULL",
    '"',
    ",",
]


def test_upsert_round_trips_tricky_values(warehouse: Warehouse) -> None:
    """COPY's CSV on PostgreSQL and executemany on SQLite must store exactly the same values."""
    paris = timezone(timedelta(hours=2))
    rows = [
        email_row(
            f"m{i}",
            subject=text,
            from_name=None if i % 2 else text,
            to_addresses=[text, "plain@x.com"],
            labels=[],
            header_defects=[f'defect "{i}", with, commas'],
            received_at=datetime(2026, 11, 20, 11, 30, i, 999, tzinfo=paris),
            sent_at=None if i % 3 else datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
            size_bytes=None if i == 0 else 2**40 + i,
            partition_day=date(2026, 11, 20),
        )
        for i, text in enumerate(TRICKY_TEXTS)
    ]
    assert warehouse.upsert("raw_emails", rows, KEY) == len(rows)
    stored = fetch_all(warehouse, "raw_emails", ["received_at"])
    assert len(stored) == len(rows)
    for original, back in zip(rows, stored, strict=True):
        assert back["subject"] == original["subject"]
        assert back["from_name"] == original["from_name"]
        assert back["to_addresses"] == original["to_addresses"]
        assert back["labels"] == []
        assert back["header_defects"] == original["header_defects"]
        assert back["size_bytes"] == original["size_bytes"]
        assert back["in_reply_to"] is None
        assert back["partition_day"] == date(2026, 11, 20)
        assert back["received_at"] == original["received_at"]
        assert back["received_at"].tzinfo is UTC
        assert back["received_at"].hour == 9
        assert back["sent_at"] == original["sent_at"]
    assert stored[2]["subject"] == "" and stored[7]["subject"] == "NULL"


def test_upsert_ten_thousand_rows_across_chunks(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(warehouse_module, "SQLITE_CHUNK_ROWS", 3_000)
    monkeypatch.setattr(warehouse_module, "POSTGRES_CHUNK_ROWS", 3_000)
    rows = [email_row(f"m{i:05d}") for i in range(10_000)]
    assert warehouse.upsert("raw_emails", rows, KEY) == 10_000

    again = [email_row(f"m{i:05d}", subject="v2") for i in range(5_000, 15_000)]
    assert warehouse.upsert("raw_emails", again, KEY) == 10_000
    with warehouse.engine.connect() as conn:
        tbl = warehouse.tables["raw_emails"]
        counts = dict(
            conn.execute(
                sa.select(tbl.c.subject == "v2", sa.func.count()).group_by(tbl.c.subject == "v2")
            ).all()
        )
    assert counts == {False: 5_000, True: 10_000}


def test_mostly_new_upsert_stores_what_a_staged_one_does(warehouse: Warehouse) -> None:
    """The COPY-first path (`mostly_new`) and the staged path leave the same rows and counts:
    on new rows, on a batch mixing new and held rows with a repeated key, and on a re-run."""
    first = [email_row(f"m{i:04d}") for i in range(600)]
    mixed = [email_row(f"m{i:04d}", subject="v2") for i in range(500, 900)]
    mixed.append(email_row("m0899", subject="v3"))
    counts = {}
    for connection_id, mostly_new in (("staged", False), ("copied", True)):
        counts[connection_id] = [
            warehouse.upsert(
                "raw_emails",
                [dict(r, connection_id=connection_id) for r in batch],
                KEY,
                mostly_new=mostly_new,
            )
            for batch in (first, mixed, mixed)
        ]
    assert counts["staged"] == counts["copied"] == [600, 400, 400]
    stored = fetch_all(warehouse, "raw_emails", ["connection_id", "provider_message_id"])
    by_connection: dict[str, list[dict]] = {"staged": [], "copied": []}
    for row in stored:
        by_connection[row.pop("connection_id")].append(row)
    assert by_connection["staged"] == by_connection["copied"]
    assert len(by_connection["copied"]) == 900
    assert by_connection["copied"][-1]["subject"] == "v3"


def test_keys_of_one_connection(warehouse: Warehouse) -> None:
    rows = [email_row("m1"), email_row("m2"), email_row("m3", connection_id="conn-b")]
    warehouse.upsert("raw_emails", [*rows, email_row("m4", tenant_id="globex")], KEY)
    assert warehouse.keys_of("raw_emails", "acme", "conn-a", "provider_message_id") == {
        "m1",
        "m2",
    }
    assert warehouse.keys_of("raw_emails", "acme", "conn-x", "provider_message_id") == set()


def test_one_by_one_baseline_inserts_and_refuses_duplicates(warehouse: Warehouse) -> None:
    assert warehouse.insert_rows_one_by_one("raw_emails", [email_row("m1"), email_row("m2")]) == 2
    with pytest.raises(sa.exc.IntegrityError):
        warehouse.insert_rows_one_by_one("raw_emails", [email_row("m1")])
    assert len(fetch_all(warehouse, "raw_emails", ["provider_message_id"])) == 2


# Timestamps


def test_timestamps_are_utc_aware_in_and_out(warehouse: Warehouse) -> None:
    tokyo = timezone(timedelta(hours=9))
    tbl = warehouse.tables["raw_emails"]
    with warehouse.engine.begin() as conn:
        conn.execute(
            sa.insert(tbl),
            email_row("m1", received_at=datetime(2026, 11, 21, 8, 0, tzinfo=tokyo)),
        )
    with warehouse.engine.connect() as conn:
        value = conn.scalar(sa.select(tbl.c.received_at))
        hit = conn.scalar(
            sa.select(sa.func.count()).where(
                tbl.c.received_at == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
            )
        )
    assert value == datetime(2026, 11, 20, 23, 0, tzinfo=UTC)
    assert value.tzinfo is UTC
    assert hit == 1
    naive = email_row("m2", received_at=datetime(2026, 11, 21))
    with (
        pytest.raises(sa.exc.StatementError, match="naive datetime"),
        warehouse.engine.begin() as c,
    ):
        c.execute(sa.insert(tbl), naive)


# Lookups and isolation


def test_existing_keys_only_sees_its_own_tenant_and_connection(warehouse: Warehouse) -> None:
    rows = [email_row(f"m{i}") for i in range(1_200)]
    rows += [email_row("other-tenant", tenant_id="globex"), email_row("m5", tenant_id="globex")]
    rows += [email_row("other-conn", connection_id="conn-b")]
    warehouse.upsert("raw_emails", rows, KEY)

    asked = [f"m{i}" for i in range(0, 1_500, 2)] + ["other-tenant", "other-conn", "m0"]
    found = warehouse.existing_keys("raw_emails", "acme", "conn-a", "provider_message_id", asked)
    assert found == {f"m{i}" for i in range(0, 1_200, 2)}
    assert warehouse.existing_keys(
        "raw_emails", "globex", "conn-a", "provider_message_id", asked
    ) == {"other-tenant"}
    assert (
        warehouse.existing_keys("raw_emails", "acme", "conn-a", "provider_message_id", []) == set()
    )


# URLs and error texts


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a valid SQLAlchemy URL"),
        ("mysql://u@localhost/db", "unsupported warehouse backend 'mysql'"),
        ("sqlite://", "must be a file path"),
        ("sqlite:///:memory:", "must be a file path"),
        ("postgresql+psycopg://u@localhost/db", "psycopg2 driver"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(WarehouseError, match=message):
        Warehouse(url)


def test_postgres_urls_use_psycopg2_and_hide_passwords() -> None:
    for url in ("postgresql://u:s3cr3t-pw@127.0.0.1:1/db", "postgres://u:s3cr3t-pw@127.0.0.1:1/db"):
        wh = Warehouse(url)
        assert wh.dialect == "postgresql"
        assert wh.engine.url.drivername == "postgresql+psycopg2"
        assert "s3cr3t-pw" not in repr(wh) and "s3cr3t-pw" not in str(wh.url)


def test_sqlite_creates_the_parent_folder(tmp_path: Path) -> None:
    wh = Warehouse(f"sqlite:///{tmp_path / 'deep' / 'er' / 'w.db'}")
    assert wh.dialect == "sqlite" and wh.migrate() == ALL_REVISIONS
    with wh.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    wh.dispose()
    assert (tmp_path / "deep" / "er" / "w.db").exists()


def test_database_errors_do_not_show_bound_values(warehouse: Warehouse) -> None:
    secret = "gAAAAA-looks-like-a-token-value"
    tbl = warehouse.tables["connections"]
    with pytest.raises(sa.exc.IntegrityError) as info, warehouse.engine.begin() as conn:
        conn.execute(
            sa.insert(tbl),
            {
                "connection_id": "conn-x",
                "tenant_id": "no-such-tenant",
                "owner_email": "a@b.com",
                "aliases": [],
                "provider": "google",
                "scopes": [],
                "authorized_at": T0,
                "status": "active",
                "status_changed_at": T0,
                "refresh_token_encrypted": secret,
                "created_at": T0,
            },
        )
    assert secret not in str(info.value)
