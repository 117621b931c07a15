"""The partition-scale harness still runs end to end at toy scale (3 tenants x 5 days, design a
and one sharded design). No timings are asserted (this machine is shared; see FIELD-NOTES): only
that every measurement produced a figure and the runs it launched succeeded."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from paths import ROOT


@pytest.mark.timeout(300)
def test_partition_scale_harness_produces_its_figures() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.partition_scale",
            "--tenants",
            "3",
            "--days",
            "5",
            "--designs",
            "a,b1",
            "--shard-size",
            "2",
            "--work-s",
            "0.1",
            "--runs-per-tenant-design",
            "2",
            "--runs-multi",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        m["label"].strip(): m["cells"]
        for m in re.finditer(r"^\| (?P<label>[^|]+) \| (?P<cells>.+) \|$", done.stdout, re.M)
    }
    for label in (
        "tick: schedule evaluation over gRPC, s",
        "tick: whole daemon tick (eval + create/enqueue runs), s",
        "asset page partition status, first query, s",
        "1 tenant x 30 days backfill: launch mutation, s",
        "backfill daemon until its runs exist, s",
        "Dagster share of a run's wall time",
    ):
        cells = [c.strip() for c in rows[label].split("|")]
        assert len(cells) == 2 and "-" not in cells, (label, cells)
    created = [c.strip() for c in rows["tick: runs created"].split("|")]
    assert created == ["3", "2"]  # a: one run per tenant; b1: two shards of <= 2 tenants
    assert [c.strip() for c in rows["backfill runs created"].split("|")] == ["3", "2"]
    assert "runs_failed': 0" in done.stdout and "runs_failed': 1" not in done.stdout
