"""`python -m bench.write_path`: the mail sync's warehouse write path beside a raw COPY.

One connection-window of `--rows` generated raw_emails rows (subjects with quotes, commas and
non-ASCII, 1-4 recipients, labels) goes into a migrated PostgreSQL (throwaway, or a database on
TOUCHPOINT_BENCH_POSTGRES_URL's server), the tables emptied (TRUNCATE) before each timed load:

- **raw COPY** (baseline): the rows formatted by the warehouse's CSV writer and COPYed straight
  into raw_emails, one transaction, no staging, no conflict handling;
- **old: staged, 500**: what the sync called per batch of 500 before: a staged upsert (staging
  table + COPY + INSERT ... ON CONFLICT, one transaction each), then the release of every written
  id from quarantine;
- **sync path** at each `--batches` size: `assets.mail_writes.store_mail`, what the sync calls
  now per batch (COPY first, staging only when a key is held; the quarantine released only for
  what it holds), `WRITE_BATCH_ROWS` being the sync's batch;
- **re-run**: the same rows again onto a full table (every row a conflict).

Each figure is timed right after a raw COPY, `--repeats` times; the table gives the median time
and the median ratio (COPY's time / this one's), as this machine is shared. Then SQLite, old
against new, and the memory a batch of rows holds in Python.

    .venv/bin/python -m bench.write_path                  # 50,000 rows, 2-4 minutes
    .venv/bin/python -m bench.write_path --rows 5000 --repeats 1 --batches 500 5000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from assets.mail_writes import RAW_EMAIL_KEY, WRITE_BATCH_ROWS, store_mail
from bench.database import fresh_database
from resources.warehouse import Warehouse

TENANT = "bench"
CONNECTION = "c-bench"
OLD_BATCH = 500
DAY = datetime(2026, 11, 20, tzinfo=UTC)
WORDS = 'renewal quote pricing meeting follow-up Q4 plan déjà vu café, "urgent" re: fwd: invoice'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed pairs per figure")
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[OLD_BATCH, 5_000, 20_000, 50_000],
        help="batch sizes of the sync path to time",
    )
    return parser.parse_args(argv)


def generate_rows(count: int, seed: int = 7) -> list[dict]:
    """`count` raw_emails rows of one connection-day, as `assets.email_sync.email_row` makes."""
    rng = random.Random(seed)
    words = WORDS.split()
    rows = []
    for i in range(count):
        received = DAY + timedelta(seconds=rng.randrange(86_400))
        to = [f"person{rng.randrange(5000)}@customer{rng.randrange(200)}.example"]
        to += [f"staff{rng.randrange(300)}@bench.example" for _ in range(rng.randrange(4))]
        rows.append(
            {
                "provider_message_id": f"m{i:08d}{rng.getrandbits(32):08x}",
                "received_at": received,
                "sent_at": received - timedelta(seconds=rng.randrange(120)),
                "internet_message_id": f"<{rng.getrandbits(64):016x}.{i}@mail.example>",
                "thread_id": f"t{rng.randrange(count // 3 + 1):08d}",
                "subject": " ".join(rng.choices(words, k=rng.randrange(2, 12))),
                "from_address": f"sender{rng.randrange(2000)}@customer.example",
                "from_name": rng.choice(["Ann Lee", 'Bob "B" Roe', "Zoë Ågren", None]),
                "to_addresses": to,
                "cc_addresses": [f"cc{rng.randrange(900)}@bench.example"] * rng.randrange(3),
                "bcc_addresses": [],
                "in_reply_to": rng.choice([None, f"<{rng.getrandbits(48):012x}@mail.example>"]),
                "labels": rng.choice([["INBOX"], ["INBOX", "UNREAD"], ["SENT"], ["INBOX", "IMP"]]),
                "size_bytes": rng.randrange(2_000, 200_000),
                "header_defects": [],
                "tenant_id": TENANT,
                "connection_id": CONNECTION,
                "partition_day": DAY.date(),
                "synced_at": DAY + timedelta(days=1),
                "removed_at": None,
                "removed_reason": None,
            }
        )
    return rows


def sync_path(warehouse: Warehouse, rows: list[dict], batch: int) -> None:
    """The sync's writes of one connection-window, `batch` rows at a time."""
    for start in range(0, len(rows), batch):
        store_mail(warehouse, TENANT, CONNECTION, rows[start : start + batch], [], DAY)


def staged_path(warehouse: Warehouse, rows: list[dict], batch: int) -> None:
    """What the sync called per batch before (main at 946b6ff): a staged upsert, then the release
    of every written id from quarantine, 500 ids a statement."""
    for start in range(0, len(rows), batch):
        chunk = rows[start : start + batch]
        warehouse.upsert_or_refuse("raw_emails", chunk, RAW_EMAIL_KEY)
        ids = [row["provider_message_id"] for row in chunk]
        warehouse.delete_keys(
            "quarantined_messages", TENANT, CONNECTION, "provider_message_id", ids
        )


def empty(warehouse: Warehouse) -> None:
    with warehouse.write() as conn:
        if warehouse.dialect == "postgresql":
            # New, empty files: every load starts from the same table, dead rows included.
            conn.exec_driver_sql("TRUNCATE raw_emails, quarantined_messages")
        else:
            conn.exec_driver_sql("DELETE FROM raw_emails")
            conn.exec_driver_sql("DELETE FROM quarantined_messages")


def timed(load: Callable[[], object], before: Callable[[], object] | None = None) -> float:
    if before is not None:
        before()
    t0 = time.perf_counter()
    load()
    return time.perf_counter() - t0


@dataclass
class Figure:
    label: str
    seconds: float
    """Median of the repeats."""
    ratio: float
    """Median over the repeats of baseline seconds / these seconds, each pair timed back to back."""


def paired(
    label: str,
    repeats: int,
    baseline: Callable[[], float],
    load: Callable[[], object],
    before: Callable[[], object] | None = None,
) -> Figure:
    """`load` timed `repeats` times, each right after a timing of the baseline: on a shared
    machine the ratio of neighbours is steadier than either figure."""
    pairs = [(baseline(), timed(load, before)) for _ in range(repeats)]
    return Figure(
        label,
        statistics.median(s for _, s in pairs),
        statistics.median(b / s for b, s in pairs),
    )


def report(figure: Figure, rows: int, unit: str) -> None:
    print(
        f"  {figure.label:<38} {figure.seconds:7.2f} s {rows / figure.seconds:9,.0f} rows/s "
        f"{figure.ratio:6.2f} {unit}",
        flush=True,
    )


def postgres_figures(args: argparse.Namespace, rows: list[dict]) -> None:
    with fresh_database("write_path_bench") as url:
        warehouse = Warehouse(url)
        warehouse.migrate()
        reset = lambda: empty(warehouse)  # noqa: E731 - a named no-argument step
        copy = lambda: timed(lambda: warehouse.copy_into("raw_emails", rows), reset)  # noqa: E731
        full = lambda: (empty(warehouse), sync_path(warehouse, rows, WRITE_BATCH_ROWS))  # noqa: E731
        print(
            f"PostgreSQL, {len(rows):,} rows of one connection-window (median of {args.repeats}; "
            "x COPY: raw COPY's time / this one's, each timed right after a COPY)"
        )
        report(paired("raw COPY (baseline)", args.repeats, copy, copy), len(rows), "x COPY")
        figures = [
            (f"old: staged, batches of {OLD_BATCH:,}", staged_path, OLD_BATCH, reset),
            (f"staged, batches of {WRITE_BATCH_ROWS:,}", staged_path, WRITE_BATCH_ROWS, reset),
            *(
                (
                    f"{'new: ' * (b == WRITE_BATCH_ROWS)}sync path, batches of {b:,}",
                    sync_path,
                    b,
                    reset,
                )
                for b in args.batches
            ),
            # The table already holds every row (a re-run): each one a conflict, updated in place.
            (f"re-run, old: staged, {OLD_BATCH:,}", staged_path, OLD_BATCH, full),
            (f"re-run, new: sync path, {WRITE_BATCH_ROWS:,}", sync_path, WRITE_BATCH_ROWS, full),
        ]
        for label, path, batch, before in figures:
            load = lambda p=path, b=batch: p(warehouse, rows, b)  # noqa: E731
            report(paired(label, args.repeats, copy, load, before), len(rows), "x COPY")
        warehouse.dispose()


def sqlite_figures(args: argparse.Namespace, rows: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(f"sqlite:///{Path(folder) / 'warehouse.db'}")
        warehouse.migrate()
        print(f"SQLite, same rows (median of {args.repeats}; x old: old's time / new's)")
        reset = lambda: empty(warehouse)  # noqa: E731 - a named no-argument step
        old = lambda: timed(lambda: staged_path(warehouse, rows, OLD_BATCH), reset)  # noqa: E731
        new = lambda: sync_path(warehouse, rows, WRITE_BATCH_ROWS)  # noqa: E731
        label = f"new: sync path, batches of {WRITE_BATCH_ROWS:,} (SQLite)"
        report(paired(label, args.repeats, old, new, reset), len(rows), "x old")
        warehouse.dispose()


def batch_memory(count: int = 2_000) -> float:
    """Bytes of Python memory per generated row (what a batch holds until its write)."""
    tracemalloc.start()
    rows = generate_rows(count, seed=11)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del rows
    return used / count


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = generate_rows(args.rows)
    postgres_figures(args, rows)
    sqlite_figures(args, rows)
    per_row = batch_memory()
    print(
        f"memory: ~{per_row:,.0f} bytes per row in Python; a batch of {WRITE_BATCH_ROWS:,} "
        f"holds ~{per_row * WRITE_BATCH_ROWS / 2**20:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
