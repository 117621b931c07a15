"""`python -m bench.engagement`: the analytics doc's example queries over a year of one tenant's
mail on PostgreSQL, each against a baseline measured in the same run.

Starts a throwaway PostgreSQL (or creates a database on the server TOUCHPOINT_BENCH_POSTGRES_URL
names, and drops it afterwards), migrates it (the tables with the indexes they ship with),
loads one tenant of `--scale` emails with their engagement rows through COPY, ANALYZEs, then
times every query of docs/analytics.md's example section (read from the doc, as the test reads
them): the median of `--runs` runs after one untimed run, and its ratio to the baseline, a
count(*) of one tenant-day of email_engagements. Then the rebuild of one tenant-day of 5,000
messages, once assets.engagement_tables exists.

    .venv/bin/python -m bench.engagement                  # 1,000,000 emails, about 2 minutes
    .venv/bin/python -m bench.engagement --scale 20000    # smoke size
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa

from bench.database import fresh_database
from bench.engagement.doc_queries import parameters, questions
from bench.engagement.generate import COLUMNS, Scale, TenantYear
from bench.engagement.rebuild import rebuild_one_day
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse

TENANT = "bench"
ZONE = "America/New_York"
TARGET_SECONDS = 1.0
BASELINE = (
    "baseline: count(*) of one tenant-day of email_engagements",
    "SELECT count(*) FROM email_engagements WHERE tenant_id = :tenant AND partition_day = :as_of",
)


@dataclass(frozen=True)
class Timing:
    title: str
    seconds: float
    rows: int


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1_000_000, help="emails of the tenant")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 3, 31))
    parser.add_argument("--rebuild-messages", type=int, default=5_000)
    return parser.parse_args(argv)


def load(warehouse: Warehouse, registry: Registry, year: TenantYear) -> dict[str, int]:
    """The tenant, its CRM (registry API) and a year of engagement data (COPY), analysed."""
    registry.tenants.add_tenant(TENANT, "Engagement bench", [f"{TENANT}.test"], [], ZONE)
    registry.tenants.replace_crm(TENANT, year.crm())
    raw = warehouse.engine.raw_connection()
    try:
        with raw.cursor() as cursor:

            def copy(table: str, columns: tuple[str, ...], text: str) -> None:
                sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                cursor.copy_expert(sql, io.StringIO(text))

            counts = year.write(copy).rows
            raw.commit()
            for table in ("accounts", "contacts", "account_contacts", *COLUMNS):
                cursor.execute(f"ANALYZE {table}")
            raw.commit()
    finally:
        raw.close()
    return counts


def timed(conn: sa.Connection, title: str, sql: str, params: dict[str, str], runs: int) -> Timing:
    bound = {name: params[name] for name in parameters(sql)}
    rows = len(conn.execute(sa.text(sql), bound).fetchall())  # untimed: plans, caches
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        conn.execute(sa.text(sql), bound).fetchall()
        seconds.append(time.perf_counter() - started)
    return Timing(title, statistics.median(seconds), rows)


def print_table(baseline: Timing, timings: list[Timing], runs: int) -> None:
    head = (
        f"{'#':>3} {'median ms':>10} {'x baseline':>11} {'rows':>7}  {'1 s target':<10}  question"
    )
    print(head)
    print("-" * len(head))
    for number, t in enumerate([baseline, *timings]):
        ratio = t.seconds / baseline.seconds
        verdict = "under" if t.seconds < TARGET_SECONDS else "OVER"
        print(
            f"{number:>3} {t.seconds * 1000:>10.2f} {ratio:>10.1f}x {t.rows:>7}  {verdict:<10}  "
            f"{t.title}"
        )
    slowest = max(timings, key=lambda t: t.seconds)
    print(
        f"slowest: {slowest.seconds * 1000:.0f} ms ({slowest.title}); median of {runs} runs each; "
        f"{sum(t.seconds >= TARGET_SECONDS for t in timings)} over the {TARGET_SECONDS:g} s target"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = Scale.of(args.scale)
    year = TenantYear(TENANT, ZONE, args.as_of, scale)
    params = {
        "tenant": TENANT,
        "as_of": args.as_of.isoformat(),
        "start_30d": (args.as_of - timedelta(days=29)).isoformat(),
        "start_90d": (args.as_of - timedelta(days=89)).isoformat(),
    }
    doc = [q for q in questions() if q.sql("postgresql") is not None]
    with fresh_database("engagement_bench") as url:
        warehouse = Warehouse(url)
        try:
            warehouse.migrate()
            registry = Registry(warehouse, TokenCipher(generate_key()))
            started = time.perf_counter()
            counts = load(warehouse, registry, year)
            print(
                f"PostgreSQL, tenant {TENANT!r} ({ZONE}): {scale.accounts:,} accounts, "
                f"{scale.csms} CSMs, {scale.days} days to {args.as_of}; loaded with COPY and "
                f"analysed in {time.perf_counter() - started:.1f} s:"
            )
            print("  " + ", ".join(f"{table} {rows:,}" for table, rows in counts.items()))
            print()
            with warehouse.engine.connect() as conn:
                baseline = timed(conn, *BASELINE, params, args.runs)
                timings = [
                    timed(conn, q.title, q.sql("postgresql") or "", params, args.runs) for q in doc
                ]
            print_table(baseline, timings, args.runs)
            print()
            rebuild_one_day(warehouse, registry, args.rebuild_messages, args.runs)
        finally:
            warehouse.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
