"""bench/quota_pacing.py still runs: every run syncs the same messages, the sandbox gave no
rate-limit answer (the script's exit code) and the ratio lines are printed. No timing is
asserted; the figures belong to docs/benchmarks.md."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from paths import ROOT


@pytest.mark.timeout(300)
def test_quota_pacing_benchmark_runs_agree() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.quota_pacing", "--messages", "60", "--latency-ms", "0"]
        + ["--tenant-mailboxes", "2", "--tenant-messages", "30", "--parallel", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    synced = {
        m["run"].strip(): int(m["messages"])
        for m in re.finditer(
            r"^(?P<run>gmail, charge at \w+)[^\n]*?\)\s+(?P<messages>\d+)\s", done.stdout, re.M
        )
    }
    assert set(synced) == {"gmail, charge at send", "gmail, charge at answer"}
    assert len(set(synced.values())) == 1 and synced["gmail, charge at send"] > 0
    assert "send vs answer:" in done.stdout
    assert "tenant time / one mailbox's time" in done.stdout
    assert "rate-limit answers over all runs: 0" in done.stdout
