"""The partitions the synced assets share: tenant x UTC day over a rolling window, and tenant x
UTC month for the history before it.

Why a window (docs/partition-scale.md has the figures): the asset page's partition status, a
backfill's launch and the hourly tick all grow with the partitions per asset. Every day since
the start date crossed with 1,000 tenants is ~730,000 per asset after two years; the window
(the month holding today - 90 days, onwards) keeps it at ~93,000 while a data engineer still
picks a tenant and a date range for a backfill. Older days are recovered by month on the
archive assets, which run the same sync into the same tables.

The window's start is computed when the definitions load (a long-running code server keeps its
start until it reloads: the window then only grows, which is harmless).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

import dagster as dg

from vocabulary.windows import SyncWindow

START_DATE_ENV = "TOUCHPOINT_START_DATE"
DEFAULT_START_DATE = "2025-01-01"
WINDOW_DAYS_ENV = "TOUCHPOINT_PARTITION_WINDOW_DAYS"
DEFAULT_WINDOW_DAYS = 90
"""At least the 30 days the providers' change tracking reaches back, with room for an outage
or a reconnect weeks later to be recovered day by day."""

DateLike = TypeVar("DateLike", date, datetime)

TENANT_DIMENSION = "tenant"
DAY_DIMENSION = "day"
MONTH_DIMENSION = "month"


def next_month(day: DateLike) -> DateLike:
    """The first day of the month after `day`'s (a date or a datetime, kept as it is)."""
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def window_start(today: date, start: date, window_days: int) -> date:
    """First day of the daily partitions: the 1st of the month holding `today - window_days`,
    never before `start`; `window_days <= 0` turns the window off (every day since `start`).

    Starting on a month's first day keeps the archive's months and the window's days adjacent.
    """
    if window_days <= 0:
        return start
    return max(start, (today - timedelta(days=window_days)).replace(day=1))


def partition_settings(raw_start: str, raw_days: str, today: date) -> tuple[date, date]:
    """(start date, window start) from the settings' text; a bad value is one clear error at
    load rather than a code location that loads with no partitions."""
    try:
        start = date.fromisoformat(raw_start.strip())
    except ValueError:
        raise ValueError(f"{START_DATE_ENV}={raw_start!r} is not a date (YYYY-MM-DD)") from None
    if start > today:
        raise ValueError(
            f"{START_DATE_ENV}={raw_start} is in the future: no day would be a partition yet"
        )
    try:
        days = int(raw_days)
    except ValueError:
        raise ValueError(f"{WINDOW_DAYS_ENV}={raw_days!r} is not a whole number") from None
    return start, window_start(today, start, days)


START_DATE, WINDOW_START = partition_settings(
    os.environ.get(START_DATE_ENV, DEFAULT_START_DATE),
    os.environ.get(WINDOW_DAYS_ENV, str(DEFAULT_WINDOW_DAYS)),
    datetime.now(UTC).date(),
)

tenant_partitions = dg.DynamicPartitionsDefinition(name="tenants")
"""Tenant slugs; kept in step with the tenant registry by `tenant_partitions_sensor`."""

day_partitions = dg.DailyPartitionsDefinition(
    start_date=WINDOW_START.isoformat(), timezone="UTC", end_offset=1
)
"""UTC days of the window; `end_offset=1` makes today (still filling) a partition the hourly
sync can run."""

month_partitions = dg.MonthlyPartitionsDefinition(
    start_date=START_DATE.replace(day=1).isoformat(),
    # The month holding the window's start is an archive month too: the two overlap by at most
    # that month, and a sync of any window is idempotent.
    end_date=next_month(WINDOW_START).isoformat(),
    timezone="UTC",
)
"""UTC months from the start date's to the window's first."""

tenant_day_partitions = dg.MultiPartitionsDefinition(
    {TENANT_DIMENSION: tenant_partitions, DAY_DIMENSION: day_partitions}
)
tenant_month_partitions = dg.MultiPartitionsDefinition(
    {TENANT_DIMENSION: tenant_partitions, MONTH_DIMENSION: month_partitions}
)


def tenant_day_key(tenant_id: str, day: str) -> dg.MultiPartitionKey:
    """The partition key of one tenant's UTC day (`day` as YYYY-MM-DD)."""
    return dg.MultiPartitionKey({TENANT_DIMENSION: tenant_id, DAY_DIMENSION: day})


def _dimensions(
    key: str | dg.MultiPartitionKey, partitions_def: dg.MultiPartitionsDefinition
) -> dict[str, str]:
    if isinstance(key, dg.MultiPartitionKey):
        return dict(key.keys_by_dimension)
    # A month key looks like a day key (YYYY-MM-01): only the definition tells them apart.
    return dict(partitions_def.get_partition_key_from_str(key).keys_by_dimension)


def split_tenant_day_key(key: str | dg.MultiPartitionKey) -> tuple[str, datetime]:
    """(tenant slug, day start as an aware UTC datetime) of a tenant x day partition key."""
    tenant_id, window = tenant_window(key, tenant_day_partitions)
    return tenant_id, window.start


def tenant_window(
    key: str | dg.MultiPartitionKey, partitions_def: dg.MultiPartitionsDefinition
) -> tuple[str, SyncWindow]:
    """(tenant slug, UTC window) of a key of `partitions_def` (tenant x day or tenant x month)."""
    dims = _dimensions(key, partitions_def)
    if MONTH_DIMENSION in dims:
        start = datetime.strptime(dims[MONTH_DIMENSION], "%Y-%m-%d").replace(tzinfo=UTC)
        end = next_month(start)
        return dims[TENANT_DIMENSION], SyncWindow(start, end)
    start = datetime.strptime(dims[DAY_DIMENSION], "%Y-%m-%d").replace(tzinfo=UTC)
    return dims[TENANT_DIMENSION], SyncWindow.for_day(start)


def days_of(window: SyncWindow) -> Iterator[SyncWindow]:
    """The UTC days of `window`, each as its own window."""
    return window.days()
