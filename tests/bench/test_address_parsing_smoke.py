"""bench.address_parsing still runs and prints its three runs (no timings asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from paths import ROOT


@pytest.mark.timeout(300)
def test_address_parsing_benchmark_prints_its_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.address_parsing", "--messages-per-mailbox", "5"]
        + ["--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for run in ("registry", "fast path, no cache", "cached (as the sync)", "plain values only"):
        assert f"\n{run}" in done.stdout
