"""The write-path benchmark still runs at smoke size on PostgreSQL and SQLite and prints every
figure with its ratio. No timing is asserted (this machine is shared; see FIELD-NOTES)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from assets.mail_writes import WRITE_BATCH_ROWS as BATCH

FIGURE = re.compile(r"^  (?P<label>.+?)\s+(?P<s>[\d.]+) s\s+[\d,]+ rows/s\s+(?P<r>[\d.]+) x ", re.M)


@pytest.mark.timeout(300)
def test_write_path_benchmark_prints_each_figure(run_bench: Callable[..., str]) -> None:
    stdout = run_bench(
        "bench.write_path", "--rows", "3000", "--repeats", "1", "--batches", "500", str(BATCH)
    )
    figures = {m["label"]: float(m["r"]) for m in FIGURE.finditer(stdout)}
    assert set(figures) == {
        "raw COPY (baseline)",
        "old: staged, batches of 500",
        f"staged, batches of {BATCH:,}",
        "sync path, batches of 500",
        f"new: sync path, batches of {BATCH:,}",
        "re-run, old: staged, 500",
        f"re-run, new: sync path, {BATCH:,}",
        f"new: sync path, batches of {BATCH:,} (SQLite)",
    }, stdout
    assert all(ratio > 0 for ratio in figures.values()), figures
    assert re.search(r"^memory: ~[\d,]+ bytes per row", stdout, re.M), stdout
