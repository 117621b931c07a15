"""bench/quota_pacing.py still runs: every run syncs the same messages, the sandbox gave no
rate-limit answer (main returns 0) and the ratio lines are printed. No timing is
asserted; the figures belong to docs/benchmarks.md."""

from __future__ import annotations

import re

import pytest

from bench.quota_pacing import main


@pytest.mark.timeout(300)
def test_quota_pacing_benchmark_runs_agree(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--messages", "60", "--latency-ms", "0", "--tenant-mailboxes", "2"]
        + ["--tenant-messages", "30", "--parallel", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    synced = {
        m["run"].strip(): int(m["messages"])
        for m in re.finditer(
            r"^(?P<run>gmail, charge at \w+)[^\n]*?\)\s+(?P<messages>\d+)\s", out, re.M
        )
    }
    assert set(synced) == {"gmail, charge at send", "gmail, charge at answer"}
    assert len(set(synced.values())) == 1 and synced["gmail, charge at send"] > 0
    assert "send vs answer:" in out
    assert "tenant time / one mailbox's time" in out
    assert "rate-limit answers over all runs: 0" in out
