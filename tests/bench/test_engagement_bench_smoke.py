"""The engagement benchmark still runs at smoke size (20,000 emails) on PostgreSQL and times
every example question of docs/analytics.md. No timings are asserted (this machine is shared;
see FIELD-NOTES): only that each question got a figure, answered rows on the generated data (a
timing over an empty answer would say little), and the rebuild part ran or said why not."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from bench.engagement.doc_queries import questions
from paths import ROOT


@pytest.mark.timeout(300)
def test_engagement_benchmark_times_every_doc_question(postgres_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.engagement", "--scale", "20000", "--runs", "1"],
        cwd=ROOT,
        env={**os.environ, "TOUCHPOINT_BENCH_POSTGRES_URL": postgres_url},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^  emails 20,000, email_engagements \d", done.stdout, re.M), done.stdout
    rows = {
        m["title"]: int(m["rows"])
        for m in re.finditer(
            r"^\s*(?P<n>\d+)\s+[\d.]+\s+[\d.]+x\s+(?P<rows>\d+)  (under|OVER)\s+(?P<title>.+)$",
            done.stdout,
            re.M,
        )
    }
    expected = {q.title for q in questions() if q.sql("postgresql") is not None}
    assert set(rows) == expected | {"baseline: count(*) of one tenant-day of email_engagements"}
    assert all(count > 0 for count in rows.values()), rows
    assert re.search(
        r"^rebuild one tenant-day of 5,000 messages: (skipped, .+|first build [\d.]+ s, .+)$",
        done.stdout,
        re.M,
    ), done.stdout[-2000:]
