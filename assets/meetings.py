"""raw_meetings (every calendar copy) and meetings (one row per real occurrence), tenant x day."""

import dagster as dg

from assets.dedupe_tables import rebuild_meetings
from assets.meeting_sync import MeetingWindowSync
from assets.partition_sync import (
    PROVIDER_LABELS,
    SYNC_RESOURCE_KEYS,
    SYNC_RETRY_POLICY,
    dedupe_metadata,
    run_partition_sync,
    sync_resources,
)
from assets.partitions import split_tenant_day_key, tenant_day_partitions
from resources.dagster_resources import WarehouseResource
from resources.providers import PROVIDERS
from resources.registry import ConnectionStore


@dg.asset(
    partitions_def=tenant_day_partitions,
    group_name="meetings",
    kinds={kit.calendar_kind for kit in PROVIDERS.values()},
    required_resource_keys=SYNC_RESOURCE_KEYS,
    op_tags={"touchpoint/sync": "calendar"},
    retry_policy=SYNC_RETRY_POLICY,
    description=(
        f"Every meeting occurrence on every connected calendar of the tenant ({PROVIDER_LABELS}) "
        "starting in the partition's UTC day, recurring series expanded, cancelled ones kept "
        "as cancelled: one row per calendar copy."
    ),
)
def raw_meetings(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    store, registry, connectors = sync_resources(context.resources)
    return run_partition_sync(context, registry, MeetingWindowSync(store, connectors.calendar))


@dg.asset(
    partitions_def=tenant_day_partitions,
    deps=[raw_meetings],
    group_name="meetings",
    kinds={"sql"},
    description=(
        "One row per real meeting occurrence of the tenant (same iCalUID and start = same "
        "meeting), with the connected calendars that hold it."
    ),
)
def meetings(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    tenant_id, day = split_tenant_day_key(context.partition_key)
    store = warehouse.get()
    connections = ConnectionStore(store).list_connections(tenant_id)
    owners = {c.connection_id: c.owner_email for c in connections}
    return dg.MaterializeResult(
        metadata=dedupe_metadata(rebuild_meetings(store, tenant_id, day.date(), owners))
    )
