"""The comparison table: one row per measurement, one column per design, ratios to design a."""

from __future__ import annotations

import argparse

from bench.partition_scale.measure import Figures
from bench.partition_scale.settings import Settings

ROWS: list[tuple[str, str, str]] = [
    ("status_partitions", "partitions per asset (daily asset)", "{:.0f}"),
    ("runs_per_tick", "run requests per hourly tick", "{:.0f}"),
    ("tick_eval_s", "tick: schedule evaluation over gRPC, s", "{:.2f}"),
    ("tick_daemon_s", "tick: whole daemon tick (eval + create/enqueue runs), s", "{:.2f}"),
    ("tick_runs_created", "tick: runs created", "{:.0f}"),
    ("status_cold_s", "asset page partition status, first query, s", "{:.2f}"),
    ("status_warm_s", "asset page partition status, cached, s", "{:.2f}"),
    ("status_ranges", "status ranges returned", "{:.0f}"),
    ("backfill_launch_s", "1 tenant x 30 days backfill: launch mutation, s", "{:.2f}"),
    ("backfill_daemon_s", "backfill daemon until its runs exist, s", "{:.2f}"),
    ("backfill_runs", "backfill runs created", "{:.0f}"),
    ("tenant_days_per_run", "tenant-days per run (run-rate phase)", "{:.1f}"),
    ("run_wall_s", "run wall, launch -> success, s (mean)", "{:.2f}"),
    ("queue_wait_s", "queue wait, enqueued -> launched, s (mean)", "{:.2f}"),
    ("dagster_share", "Dagster share of a run's wall time", "{:.0%}"),
    ("runs_per_min", "runs per minute sustained", "{:.1f}"),
    ("tenant_days_per_min", "tenant-days per minute sustained", "{:.1f}"),
]


def print_table(figures: list[Figures], s: Settings, args: argparse.Namespace) -> None:
    """Markdown table (pasted into docs/partition-scale.md as is)."""
    base = next((f for f in figures if f.design == "a"), None)
    print()
    print(f"## {s.tenants} tenants x {s.days} days; work {s.work_s} s per tenant-day per raw "
          f"asset; shard {s.shard_size}; in-run concurrency {s.in_run_concurrency}; "
          f"max_concurrent_runs {args.max_concurrent_runs}")
    print("| measurement | " + " | ".join(f.design for f in figures) + " |")
    print("|---|" + "---|" * len(figures))
    for key, label, fmt in ROWS:
        cells = []
        for f in figures:
            v = f.values.get(key)
            if v is None:
                cells.append("-")
                continue
            cell = fmt.format(v)
            b = base.values.get(key) if base else None
            if f is not base and b and key.endswith("_s"):
                cell += f" ({v / b:.2f}x)"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |")
    for f in figures:
        for note in f.notes:
            print(f"note [{f.design}]: {note}")
