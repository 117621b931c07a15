"""The benchmarks still run and their runs agree (a benchmark is not a timed test: no timings
are asserted here, only that all runs sync the same messages and a re-run fetches none)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from paths import ROOT


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("module", "variants"),
    [
        ("bench.gmail_sync", {"touchpoint, googleapiclient batches"}),
        ("bench.graph_mail_sync", set()),
    ],
)
def test_benchmark_runs_agree(module: str, variants: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--mailboxes", "2", "--messages-per-mailbox", "30"]
        + ["--latency-ms", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        m["run"].strip(): int(m["messages"])
        for m in re.finditer(
            r"^(?P<run>touchpoint(?:, [a-z ]+)?|naive baseline)\s+(?P<messages>\d+)",
            done.stdout,
            re.MULTILINE,
        )
    }
    assert set(rows) == {"touchpoint", "touchpoint, same partition", "naive baseline", *variants}
    assert len(set(rows.values())) == 1 and rows["touchpoint"] > 0
    assert "second run of the same partition: 0 message fetches, 0 rows written" in done.stdout
