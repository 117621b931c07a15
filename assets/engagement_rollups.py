"""`account_engagement_daily` and `contact_engagement`: the analysts' rollups of the engagement
detail tables (email_engagements, meeting_engagements), thin over engagement_rollup_tables.

account_engagement_daily shares the detail assets' tenant x UTC day partitions: partition D
rewrites every tenant-local day that overlaps UTC day D (two, outside UTC), reading the detail
rows of those local days whichever UTC day they came from. contact_engagement is one partition
per tenant, rebuilt whenever any of the tenant's detail days or its CRM changes.
"""

import warnings
from datetime import UTC, datetime

import dagster as dg

from assets.crm import crm_contacts
from assets.engagement_rollup_tables import (
    rebuild_account_daily,
    rebuild_contact_engagement,
    tenant_zone,
)
from assets.partition_sync import tenant_days
from assets.partitions import TENANT_DIMENSION, tenant_day_partitions, tenant_partitions
from assets.stream_assets import SYNC_BACKFILL_POLICY
from resources.dagster_resources import WarehouseResource

ENGAGEMENT_GROUP = "engagement"
EMAIL_ENGAGEMENTS = dg.AssetKey("email_engagements")
MEETING_ENGAGEMENTS = dg.AssetKey("meeting_engagements")
DETAIL_ASSETS = (EMAIL_ENGAGEMENTS, MEETING_ENGAGEMENTS)

with warnings.catch_warnings():
    # MultiToSingleDimensionPartitionMapping is beta in Dagster 1.13 (as BackfillPolicy is):
    # it is what maps every day of a tenant to that tenant's partition.
    warnings.simplefilter("ignore", dg.BetaWarning)
    TENANT_OF_DAY = dg.MultiToSingleDimensionPartitionMapping(
        partition_dimension_name=TENANT_DIMENSION
    )

CONTACT_ENGAGEMENT_AUTOMATION = (
    dg.AutomationCondition.eager()
    # Eager waits until no upstream partition is missing; a tenant's days before its first
    # sync are never materialized, so that wait would never end.
    .without(~dg.AutomationCondition.any_deps_missing())
    .with_label("eager_despite_unsynced_days")
)
"""Requests a tenant's partition once any of its upstream partitions (a tenant-day of either
detail table, its crm_contacts) is materialized, and a new tenant's partition when it appears;
never while an upstream or the partition itself is in progress (it then fires on the next tick,
the update being remembered until handled)."""


def _account_engagement_daily() -> dg.AssetsDefinition:
    @dg.asset(
        partitions_def=tenant_day_partitions,
        group_name=ENGAGEMENT_GROUP,
        deps=list(DETAIL_ASSETS),
        kinds={"sql"},
        backfill_policy=SYNC_BACKFILL_POLICY,
        description=(
            "One row per CRM account and tenant-local day with at least one engagement: emails in "
            "and out, meetings and their minutes, distinct contacts and internal people, first and "
            "last touch. Partition D (a UTC day) rewrites the local days overlapping D in the "
            "tenant's zone, from the detail rows of those local days (also those of UTC days D-1 "
            "and D+1)."
        ),
    )
    def account_engagement_daily(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        store = warehouse.get()
        local_days = rows = removed = 0
        for tenant_id, days in tenant_days(context.partition_keys, tenant_day_partitions).items():
            zone = tenant_zone(store, tenant_id)
            for day in days:
                counts = rebuild_account_daily(store, tenant_id, day.start.date(), zone)
                local_days += counts.local_days
                rows += counts.rows
                removed += counts.removed
        return dg.MaterializeResult(
            metadata={
                "local_days_rebuilt": dg.MetadataValue.int(local_days),
                "rows": dg.MetadataValue.int(rows),
                "rows_replaced": dg.MetadataValue.int(removed),
                "dagster/row_count": dg.MetadataValue.int(rows),
            }
        )

    return account_engagement_daily


with warnings.catch_warnings():
    # BackfillPolicy is beta in Dagster 1.13; relied on knowingly, as in assets/stream_assets.py.
    warnings.simplefilter("ignore", dg.BetaWarning)
    account_engagement_daily = _account_engagement_daily()


@dg.asset(
    partitions_def=tenant_partitions,
    group_name=ENGAGEMENT_GROUP,
    deps=[
        *(dg.AssetDep(key, partition_mapping=TENANT_OF_DAY) for key in DETAIL_ASSETS),
        crm_contacts,
    ],
    kinds={"sql"},
    automation_condition=CONTACT_ENGAGEMENT_AUTOMATION,
    description=(
        "One row per CRM contact of the tenant (untouched contacts too, with zeros): last "
        "inbound, outbound and meeting, and distinct emails and accepted meetings in the 7, 30 "
        "and 90 tenant-local days up to as_of (the build's local date). Kept current by its "
        "automation condition, which the daemon evaluates (engagement_automation_sensor, "
        "running by default): it runs after any of the tenant's detail days or its CRM is "
        "materialized."
    ),
)
def contact_engagement(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    counts = rebuild_contact_engagement(warehouse.get(), context.partition_key, datetime.now(UTC))
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(counts.rows),
            "rows_replaced": dg.MetadataValue.int(counts.removed),
            "dagster/row_count": dg.MetadataValue.int(counts.rows),
        }
    )
