"""The raw_emails asset: every connected mailbox's mail, one tenant x day partition at a time."""

import dagster as dg

from assets.email_sync import ConnectionSyncResult, TenantEmailSync, TenantSyncResult
from orchestration.partitions import split_tenant_day_key, tenant_day_partitions
from resources.dagster_resources import CredentialVaultResource, WarehouseResource
from resources.google_resource import GoogleWorkspaceResource
from resources.provider import ConnectionFailure, ConnectionStatus, MailConnector, SyncWindow
from resources.registry import Connection, UnknownTenantError

BACKFILL_TAG = "dagster/backfill"


def connector_factory(google: GoogleWorkspaceResource):
    """Maps a connection to its provider's connector."""

    def connector_for(conn: Connection, refresh_token: str) -> MailConnector:
        if conn.provider == "google":
            return google.mail_connector(conn.owner_email, refresh_token)
        raise ConnectionFailure(
            ConnectionStatus.REQUEST_INVALID,
            "provider_not_supported",
            f"Touchpoint cannot sync {conn.provider} mailboxes yet.",
        )

    return connector_for


def _connection_row(c: ConnectionSyncResult) -> dict:
    return {
        "connection": c.connection_id,
        "owner": c.owner_email,
        "provider": c.provider,
        "status": c.status,
        "cause": c.cause_code or "",
        "listed": c.listed,
        "already_held": c.already_held,
        "fetched": c.fetched,
        "synced": c.synced,
        "skipped": c.skipped_labels,
        "vanished": c.vanished,
        "quarantined": c.quarantined,
        "api_calls": c.stats.api_calls,
        "quota_units": c.stats.quota_units,
    }


def sync_metadata(result: TenantSyncResult) -> dict[str, dg.MetadataValue]:
    """Totals for charts plus a per-connection table that says what happened to each mailbox."""
    rows = [_connection_row(c) for c in result.connections]
    columns = list(rows[0]) if rows else ["connection"]
    table = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    table += "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)
    stats = result.stats
    failed = [c for c in result.connections if c.status != ConnectionStatus.ACTIVE.value]
    return {
        "connections": dg.MetadataValue.int(len(result.connections)),
        "connections_not_active": dg.MetadataValue.int(len(failed)),
        "listed": dg.MetadataValue.int(result.total("listed")),
        "fetched": dg.MetadataValue.int(result.total("fetched")),
        "synced": dg.MetadataValue.int(result.total("synced")),
        "already_held": dg.MetadataValue.int(result.total("already_held")),
        "quarantined": dg.MetadataValue.int(result.total("quarantined")),
        "api_calls": dg.MetadataValue.int(stats.api_calls),
        "http_requests": dg.MetadataValue.int(stats.http_requests),
        "quota_units": dg.MetadataValue.int(stats.quota_units),
        "per_connection": dg.MetadataValue.md(table),
        "per_connection_json": dg.MetadataValue.json(rows),
    }


@dg.asset(
    partitions_def=tenant_day_partitions,
    group_name="email",
    kinds={"python", "sql"},
    op_tags={"touchpoint/sync": "email"},
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    description=(
        "Every message of every connected mailbox of the tenant, received in the partition's "
        "UTC day (drafts, spam and trash excluded), one row per mailbox copy in raw_emails."
    ),
)
def raw_emails(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    vault: CredentialVaultResource,
    google: GoogleWorkspaceResource,
) -> dg.MaterializeResult:
    tenant_id, day = split_tenant_day_key(context.partition_key)
    store = warehouse.get()
    sync = TenantEmailSync(vault.registry(store), store, connector_factory(google), log=context.log)
    try:
        result = sync.sync(
            tenant_id,
            SyncWindow.for_day(day),
            run_id=context.run.run_id,
            explicit_backfill=BACKFILL_TAG in context.run.tags,
        )
    except UnknownTenantError as error:
        # Retrying cannot make a tenant exist: fail once, clearly.
        raise dg.Failure(description=str(error), allow_retries=False) from None
    return dg.MaterializeResult(metadata=sync_metadata(result))
