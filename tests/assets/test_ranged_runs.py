"""Runs over a range of partitions (the hourly shard runs, a tenant's date range in a backfill,
archive months) sync exactly their tenants and days, and one tenant's failure fails the run
only after the others are synced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.emails import archive_emails, archive_raw_emails, emails, raw_emails
from assets.partitions import tenant_day_key
from orchestration.schedules import RANGE_END_TAG, RANGE_START_TAG
from stack import WORKLOAD_NOW, running_stack


def _day(offset: int) -> str:
    return (WORKLOAD_NOW - timedelta(days=offset)).date().isoformat()


def test_a_range_syncs_exactly_its_tenants_and_days(warehouse_url: str) -> None:
    with running_stack(warehouse_url, tenants=3) as stack:
        first, second, third = (t.slug for t in stack.workload.tenants)
        days = [_day(2), _day(1)]
        result = dg.materialize(
            [raw_emails, emails],
            resources=stack.resources,
            instance=stack.instance,
            tags={
                RANGE_START_TAG: str(tenant_day_key(first, days[0])),
                RANGE_END_TAG: str(tenant_day_key(second, days[1])),
            },
        )
        assert result.success
        partitions = {m.partition for m in result.asset_materializations_for_node("raw_emails")}
        assert partitions == {str(tenant_day_key(t, d)) for t in (first, second) for d in days}
        for tenant in (first, second):
            for day in days:
                assert stack.truth_ids(tenant, day)
                assert stack.synced_ids(tenant, day) == stack.truth_ids(tenant, day)
        assert stack.rows("raw_emails", third) == []
        assert {r["tenant_id"] for r in stack.rows("emails", first)} == {first}
        (mat,) = [
            m
            for m in result.asset_materializations_for_node("raw_emails")
            if m.partition == str(tenant_day_key(first, days[0]))
        ]
        assert mat.metadata["tenant_days"].value == 4
        assert mat.metadata["tenants"].value == 2


def test_an_archive_month_syncs_every_day_of_the_month(warehouse_url: str) -> None:
    # The archive's months start at the start date's month (January 2025 in the tests).
    now = datetime(2025, 1, 20, 15, tzinfo=UTC)
    with running_stack(warehouse_url, now=now, tenants=1, days=2) as stack:
        tenant = stack.workload.tenants[0].slug
        result = dg.materialize(
            [archive_raw_emails, archive_emails],
            partition_key=f"2025-01-01|{tenant}",
            resources=stack.resources,
            instance=stack.instance,
            # Older than the connection's authorization: only an explicit backfill syncs it.
            tags={"dagster/backfill": "archive-test"},
        )
        assert result.success
        for day in (d.isoformat() for d in stack.workload.days):
            assert stack.truth_ids(tenant, day)
            assert stack.synced_ids(tenant, day) == stack.truth_ids(tenant, day)
        (mat,) = result.asset_materializations_for_node("archive__raw_emails")
        assert mat.metadata["tenant_days"].value == 31
        assert {r["tenant_id"] for r in stack.rows("emails", tenant)} == {tenant}


def test_an_unknown_tenant_fails_after_the_others_are_synced(warehouse_url: str) -> None:
    with running_stack(warehouse_url, tenants=2) as stack:
        first, second = (t.slug for t in stack.workload.tenants)
        # A partition for a tenant the registry does not know sits between the two.
        stack.instance.delete_dynamic_partition("tenants", second)
        stack.instance.add_dynamic_partitions("tenants", ["ghost", second])
        day = _day(1)
        result = dg.materialize(
            [raw_emails],
            resources=stack.resources,
            instance=stack.instance,
            tags={
                RANGE_START_TAG: str(tenant_day_key(first, day)),
                RANGE_END_TAG: str(tenant_day_key(second, day)),
            },
            raise_on_error=False,
        )
        assert not result.success
        failure = result.failure_data_for_node("raw_emails")
        assert "ghost" in failure.error.message
        for tenant in (first, second):
            assert stack.synced_ids(tenant, day) == stack.truth_ids(tenant, day)
