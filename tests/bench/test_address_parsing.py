"""bench.address_parsing still runs at toy size and prints its runs (no timings asserted)."""

from __future__ import annotations

import pytest

from bench import address_parsing


def test_address_parsing_benchmark_prints_its_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert address_parsing.main(["--messages-per-mailbox", "5", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    for run in ("registry", "fast path, no cache", "cached (as the sync)", "plain values only"):
        assert f"\n{run}" in printed
    assert "plain enough for the fast path" in printed
