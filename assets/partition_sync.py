"""What the raw sync assets share: running a TenantSync for the partition, and its metadata."""

import dagster as dg

from assets.partitions import split_tenant_day_key
from assets.tenant_sync import ConnectionSyncResult, TenantSync, TenantSyncResult, WindowSync
from resources.connectors import ConnectorFactory, provider_settings
from resources.providers import PROVIDERS
from resources.registry import Registry, UnknownTenantError
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus
from vocabulary.windows import SyncWindow

BACKFILL_TAG = "dagster/backfill"

SYNC_RESOURCE_KEYS = frozenset({"warehouse", "vault", *PROVIDERS})
"""What a raw sync asset needs: the warehouse, the credential vault and every provider's
resource (keyed by provider name, as the provider table lists them)."""

PROVIDER_LABELS = " and ".join(kit.label for kit in PROVIDERS.values())


def sync_resources(resources: object) -> tuple[Warehouse, Registry, ConnectorFactory]:
    """The warehouse, the decrypting registry and the connector factory of one sync step."""
    store = resources.warehouse.get()  # type: ignore[attr-defined]
    registry = resources.vault.registry(store)  # type: ignore[attr-defined]
    return store, registry, ConnectorFactory(registry.connections, provider_settings(resources))


COLUMNS = (
    ("connection", "connection_id"),
    ("owner", "owner_email"),
    ("provider", "provider"),
    ("status", "status"),
    ("cause", "cause_code"),
    ("listed", "listed"),
    ("already_held", "already_held"),
    ("fetched", "fetched"),
    ("synced", "synced"),
    ("skipped", "skipped_labels"),
    ("vanished", "vanished"),
    ("removed", "removed"),
    ("quarantined", "quarantined"),
)


def _connection_row(c: ConnectionSyncResult) -> dict:
    row = {name: getattr(c, attr) if getattr(c, attr) is not None else "" for name, attr in COLUMNS}
    row.update(
        api_calls=c.stats.api_calls,
        http_requests=c.stats.http_requests,
        quota_units=c.stats.quota_units,
        seconds=round(c.seconds, 2),
    )
    return row


def sync_metadata(result: TenantSyncResult) -> dict[str, dg.MetadataValue]:
    """Totals for charts plus a per-connection table that says what happened to each mailbox."""
    rows = [_connection_row(c) for c in result.connections]
    columns = list(rows[0]) if rows else ["connection"]
    table = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    table += "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)
    stats = result.stats
    not_active = [c for c in result.connections if c.status != ConnectionStatus.ACTIVE.value]
    metadata = {
        "connections": dg.MetadataValue.int(len(result.connections)),
        "connections_not_active": dg.MetadataValue.int(len(not_active)),
        "api_calls": dg.MetadataValue.int(stats.api_calls),
        "http_requests": dg.MetadataValue.int(stats.http_requests),
        "quota_units": dg.MetadataValue.int(stats.quota_units),
        "per_connection": dg.MetadataValue.md(table),
        "per_connection_json": dg.MetadataValue.json(rows),
    }
    for total in ("listed", "fetched", "synced", "already_held", "removed", "quarantined"):
        metadata[total] = dg.MetadataValue.int(result.total(total))
    return metadata


def run_partition_sync(
    context: dg.AssetExecutionContext, registry: Registry, window_sync: WindowSync
) -> dg.MaterializeResult:
    """Syncs the run's tenant-day with `window_sync` over every connection of the tenant."""
    tenant_id, day = split_tenant_day_key(context.partition_key)
    try:
        result = TenantSync(registry, window_sync, log=context.log).sync(
            tenant_id,
            SyncWindow.for_day(day),
            run_id=context.run.run_id,
            explicit_backfill=BACKFILL_TAG in context.run.tags,
        )
    except UnknownTenantError as error:
        # Retrying cannot make a tenant exist: fail once, clearly.
        raise dg.Failure(description=str(error), allow_retries=False) from None
    return dg.MaterializeResult(metadata=sync_metadata(result))


def dedupe_metadata(result) -> dict[str, dg.MetadataValue]:
    return {
        "raw_copies": dg.MetadataValue.int(result.raw_rows),
        "rows": dg.MetadataValue.int(result.rows),
        "seen_in_several": dg.MetadataValue.int(result.multi_copy),
        "removed": dg.MetadataValue.int(result.removed),
        "dagster/row_count": dg.MetadataValue.int(result.rows),
    }


SYNC_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)
