"""The tenant x day partitioning every synced asset shares."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import dagster as dg

START_DATE_ENV = "TOUCHPOINT_START_DATE"
DEFAULT_START_DATE = "2025-01-01"

TENANT_DIMENSION = "tenant"
DAY_DIMENSION = "day"

tenant_partitions = dg.DynamicPartitionsDefinition(name="tenants")
"""Tenant slugs; kept in step with the tenant registry by `tenant_partitions_sensor`."""

day_partitions = dg.DailyPartitionsDefinition(
    start_date=os.environ.get(START_DATE_ENV, DEFAULT_START_DATE),
    timezone="UTC",
    end_offset=1,
)
"""UTC days; `end_offset=1` makes today (still filling) a partition the hourly sync can run."""

tenant_day_partitions = dg.MultiPartitionsDefinition(
    {TENANT_DIMENSION: tenant_partitions, DAY_DIMENSION: day_partitions}
)


def tenant_day_key(tenant_id: str, day: str) -> dg.MultiPartitionKey:
    """The partition key of one tenant's UTC day (`day` as YYYY-MM-DD)."""
    return dg.MultiPartitionKey({TENANT_DIMENSION: tenant_id, DAY_DIMENSION: day})


def split_tenant_day_key(key: str | dg.MultiPartitionKey) -> tuple[str, datetime]:
    """(tenant slug, day start as an aware UTC datetime) of a tenant x day partition key."""
    if isinstance(key, dg.MultiPartitionKey):
        dims = key.keys_by_dimension
    else:
        dims = dg.MultiPartitionKey(
            dict(zip(sorted([DAY_DIMENSION, TENANT_DIMENSION]), key.split("|"), strict=True))
        ).keys_by_dimension
    day = datetime.strptime(dims[DAY_DIMENSION], "%Y-%m-%d").replace(tzinfo=UTC)
    return dims[TENANT_DIMENSION], day
