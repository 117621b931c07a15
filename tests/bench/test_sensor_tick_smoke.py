"""The sensor-tick benchmark still runs at toy size (PostgreSQL, a real Dagster instance). No
timings are asserted (this machine is shared; see FIELD-NOTES): only that both sizes produced
every figure and the alert sensor asks the same runs at both (the incidents did not change)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from paths import ROOT


@pytest.mark.timeout(300)
def test_sensor_tick_benchmark_produces_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.sensor_tick", "--connections", "60"]
        + ["--baseline-connections", "30", "--incidents", "12", "--closed-incidents", "25"]
        + ["--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = {
        m["tick"]: (m["small"], m["large"])
        for m in re.finditer(
            r"^(?P<tick>(alerts|recovery), (first|next) tick)\s+[\d.]+ \(\s*(?P<small>\d+)\)"
            r"\s+[\d.]+ \(\s*(?P<large>\d+)\)\s+[\d.]+x$",
            done.stdout,
            re.MULTILINE,
        )
    }
    ticks = {f"{s}, {t} tick" for s in ("alerts", "recovery") for t in ("first", "next")}
    assert set(rows) == ticks
    small, large = rows["alerts, first tick"]
    assert small == large and int(small) > 0
    assert "slowest tick at 60 connections" in done.stdout
