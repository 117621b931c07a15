"""The engagement benchmark still runs at smoke size (20,000 emails) on PostgreSQL and times
every example question of docs/analytics.md. No timings are asserted (this machine is shared;
see FIELD-NOTES): only that each question got a figure, answered rows on the generated data (a
timing over an empty answer would say little), and the rebuild part ran or said why not."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from bench.engagement.doc_queries import questions


@pytest.mark.timeout(300)
def test_engagement_benchmark_times_every_doc_question(run_bench: Callable[..., str]) -> None:
    stdout = run_bench("bench.engagement", "--scale", "20000", "--runs", "1")
    assert re.search(r"^  emails 20,000, email_engagements \d", stdout, re.M), stdout
    rows = {
        m["title"]: int(m["rows"])
        for m in re.finditer(
            r"^\s*(?P<n>\d+)\s+[\d.]+\s+[\d.]+x\s+(?P<rows>\d+)  (under|OVER)\s+(?P<title>.+)$",
            stdout,
            re.M,
        )
    }
    expected = {q.title for q in questions() if q.sql("postgresql") is not None}
    assert set(rows) == expected | {"baseline: count(*) of one tenant-day of email_engagements"}
    assert all(count > 0 for count in rows.values()), rows
    assert re.search(
        r"^rebuild one tenant-day of 5,000 messages: (skipped, .+|first build [\d.]+ s, .+)$",
        stdout,
        re.M,
    ), stdout[-2000:]
