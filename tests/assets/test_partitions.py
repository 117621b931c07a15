"""The rolling window of daily partitions and the archive months before it."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from assets.partitions import (
    days_of,
    month_partitions,
    partition_settings,
    split_tenant_day_key,
    tenant_day_partitions,
    tenant_month_partitions,
    tenant_window,
    window_start,
)
from vocabulary.windows import SyncWindow


@pytest.mark.parametrize(
    ("today", "start", "days", "expected"),
    [
        (date(2026, 12, 2), date(2025, 1, 1), 90, date(2026, 9, 1)),  # month of Sep 3
        (date(2026, 3, 31), date(2025, 1, 1), 90, date(2025, 12, 1)),  # across a year
        (date(2026, 12, 2), date(2026, 11, 1), 90, date(2026, 11, 1)),  # never before start
        (date(2026, 12, 2), date(2025, 1, 1), 0, date(2025, 1, 1)),  # window off
    ],
)
def test_window_start(today: date, start: date, days: int, expected: date) -> None:
    assert window_start(today, start, days) == expected


def test_tenant_day_and_month_keys_become_utc_windows() -> None:
    day_key = dg.MultiPartitionKey({"tenant": "acme", "day": "2026-11-20"})
    assert tenant_window(day_key, tenant_day_partitions) == (
        "acme",
        SyncWindow(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)),
    )
    # A month key is spelled like a day key; the definition tells them apart.
    assert tenant_window("2026-02-01|acme", tenant_month_partitions) == (
        "acme",
        SyncWindow(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    )
    assert split_tenant_day_key("2026-11-20|acme") == ("acme", datetime(2026, 11, 20, tzinfo=UTC))


def test_days_of_a_month() -> None:
    february = SyncWindow(datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC))
    days = list(days_of(february))
    assert len(days) == 29 and days[0].start == february.start and days[-1].end == february.end


def test_archive_months_reach_the_window() -> None:
    """No day falls between the archive's last month and the window's first day."""
    months = month_partitions.get_partition_keys()
    first_day = tenant_day_partitions.get_partitions_def_for_dimension("day").start
    last_month = datetime.fromisoformat(months[-1]).replace(tzinfo=UTC)
    assert (
        last_month
        <= first_day
        < datetime(
            last_month.year + last_month.month // 12, last_month.month % 12 + 1, 1, tzinfo=UTC
        )
    )


@pytest.mark.parametrize(
    ("start", "days", "message"),
    [
        ("2025-13-01", "90", "is not a date"),
        ("next year", "90", "is not a date"),
        ("2999-01-01", "90", "is in the future"),
        ("2025-01-01", "ninety", "is not a whole number"),
    ],
)
def test_bad_partition_settings_are_one_clear_error(start: str, days: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        partition_settings(start, days, date(2026, 12, 2))


def test_partition_settings() -> None:
    assert partition_settings(" 2025-01-01 ", "90", date(2026, 12, 2)) == (
        date(2025, 1, 1),
        date(2026, 9, 1),
    )
