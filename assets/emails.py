"""raw_emails (every mailbox copy) and emails (one row per real message), tenant x day."""

import dagster as dg

from assets.dedupe_tables import rebuild_emails
from assets.email_sync import EmailWindowSync
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
    group_name="email",
    kinds={kit.mail_kind for kit in PROVIDERS.values()},
    required_resource_keys=SYNC_RESOURCE_KEYS,
    op_tags={"touchpoint/sync": "mail"},
    retry_policy=SYNC_RETRY_POLICY,
    description=(
        f"Every message of every connected mailbox of the tenant ({PROVIDER_LABELS}), "
        "received in the partition's UTC day, drafts, spam/junk and trash/deleted excluded: "
        "one row per mailbox copy."
    ),
)
def raw_emails(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    store, registry, connectors = sync_resources(context.resources)
    return run_partition_sync(context, registry, EmailWindowSync(store, connectors.mail))


@dg.asset(
    partitions_def=tenant_day_partitions,
    deps=[raw_emails],
    group_name="email",
    kinds={"sql"},
    description=(
        "One row per real-world message of the tenant (same Internet-Message-ID = same "
        "message), with the connected mailboxes that saw it; on the day of its first copy."
    ),
)
def emails(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    tenant_id, day = split_tenant_day_key(context.partition_key)
    store = warehouse.get()
    connections = ConnectionStore(store).list_connections(tenant_id)
    owners = {c.connection_id: c.owner_email for c in connections}
    return dg.MaterializeResult(
        metadata=dedupe_metadata(rebuild_emails(store, tenant_id, day.date(), owners))
    )
