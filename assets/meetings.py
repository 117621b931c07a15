"""raw_meetings (every calendar copy) and meetings (one row per real occurrence), tenant x day."""

import dagster as dg

from assets.connectors import ConnectorFactory
from assets.dedupe_tables import rebuild_meetings
from assets.meeting_sync import MeetingWindowSync
from assets.partition_sync import SYNC_RETRY_POLICY, dedupe_metadata, run_partition_sync
from orchestration.partitions import split_tenant_day_key, tenant_day_partitions
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.google_resource import GoogleWorkspaceResource
from resources.microsoft_resource import MicrosoftGraphResource
from resources.registry import ConnectionStore


@dg.asset(
    partitions_def=tenant_day_partitions,
    group_name="meetings",
    kinds={"googlecalendar", "outlook"},
    op_tags={"touchpoint/sync": "calendar"},
    retry_policy=SYNC_RETRY_POLICY,
    description=(
        "Every meeting occurrence on every connected calendar of the tenant (Google Calendar "
        "and Microsoft 365) starting in the partition's UTC day, recurring series expanded, "
        "cancelled ones kept as cancelled: one row per calendar copy."
    ),
)
def raw_meetings(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    vault: CredentialVaultResource,
    google: GoogleWorkspaceResource,
    microsoft: MicrosoftGraphResource,
) -> dg.MaterializeResult:
    store = warehouse.get()
    registry = vault.registry(store)
    connectors = ConnectorFactory(registry.connections, google, microsoft)
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
