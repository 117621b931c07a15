"""Asset checks: a tenant-day of raw_emails / raw_meetings with open missed windows is not whole.

A run can succeed while some mailbox of a tenant-day failed (the other connections go on), so
the materialization alone does not say the partition holds everything. The check does, in the
UI, next to the asset: WARN while a window of its stream is open, listing the connections and
windows (ids, owner address, status, cause code: nothing secret), passing once recovered.

Why not a partitioned check: Dagster 1.13 records a check's partition only for a step over one
partition key (`AssetCheckResult.to_asset_check_evaluation` reads `step_context.partition_key`),
and our runs are ranges (hourly blocks, backfills). So the check is unpartitioned and evaluates
the tenant-days of the run it runs in; run on its own (no partitions), it covers every tenant.
"""

from datetime import date

import dagster as dg

from assets.emails import raw_emails
from assets.meetings import raw_meetings
from assets.partition_sync import tenant_days
from assets.partitions import days_of, tenant_day_partitions
from resources.dagster_resources import WarehouseResource
from resources.registry import ConnectionHealth, ConnectionStore, MissedWindow, TenantStore
from resources.warehouse import Warehouse
from vocabulary.windows import SyncWindow

CHECK_NAME = "no_open_missed_windows"
ROW_LIMIT = 200
"""Rows listed in the metadata table; the counts cover all of them."""


def _days(window: MissedWindow) -> set[date]:
    return {d.start.date() for d in days_of(SyncWindow(window.window_start, window.window_end))}


def open_windows(
    store: Warehouse, stream: str, scope: dict[str, set[date]] | None
) -> list[tuple[str, MissedWindow]]:
    """(owner address, window) of the stream's open missed windows touching the scope's
    tenant-days (every tenant's, for `scope=None`), oldest first."""
    health = ConnectionHealth(store)
    connections = ConnectionStore(store)
    tenants = (
        sorted(scope)
        if scope is not None
        else [t.tenant_id for t in TenantStore(store).list_tenants()]
    )
    found = []
    for tenant_id in tenants:
        owners = {c.connection_id: c.owner_email for c in connections.list_connections(tenant_id)}
        for window in health.missed_windows(tenant_id):
            if window.stream != stream:
                continue
            if scope is not None and not _days(window) & scope[tenant_id]:
                continue
            found.append((owners.get(window.connection_id, ""), window))
    return found


def check_result(
    found: list[tuple[str, MissedWindow]], tenant_days_checked: int | None
) -> dg.AssetCheckResult:
    """WARN listing the windows when there are any; passed otherwise."""
    rows = [
        {
            "tenant": w.tenant_id,
            "connection": w.connection_id,
            "owner": owner,
            "stream": w.stream,
            "window_start": w.window_start.isoformat(),
            "window_end": w.window_end.isoformat(),
            "status": w.status.value,
            "cause": w.cause_code or "",
            "missed_since": w.recorded_at.isoformat(),
        }
        for owner, w in found
    ]
    metadata: dict[str, dg.RawMetadataValue] = {
        "open_missed_windows": dg.MetadataValue.int(len(rows)),
        "connections": dg.MetadataValue.int(len({r["connection"] for r in rows})),
        "tenant_days_checked": dg.MetadataValue.int(tenant_days_checked)
        if tenant_days_checked is not None
        else dg.MetadataValue.text("all tenants"),
    }
    if rows:
        columns = list(rows[0])
        table = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
        table += "".join(
            "| " + " | ".join(r[c] for c in columns) + " |\n" for r in rows[:ROW_LIMIT]
        )
        metadata["windows"] = dg.MetadataValue.md(table)
        metadata["windows_json"] = dg.MetadataValue.json(rows[:ROW_LIMIT])
    return dg.AssetCheckResult(
        passed=not rows,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=metadata,
        description=(
            f"{len(rows)} open missed window(s): the recovery sensor back-syncs them once the "
            "connection is healthy"
            if rows
            else "no open missed window"
        ),
    )


def _run_scope(context: dg.AssetCheckExecutionContext) -> dict[str, set[date]] | None:
    """The run's tenant-days, or None for a check run outside a partitioned run."""
    op_context = context.op_execution_context
    if not (op_context.has_partition_key or op_context.has_partition_key_range):
        return None
    plan = tenant_days(op_context.partition_keys, tenant_day_partitions)
    return {tenant: {w.start.date() for w in windows} for tenant, windows in plan.items()}


def missed_windows_check(asset: dg.AssetsDefinition, stream: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name=CHECK_NAME,
        description=(
            f"WARN when a tenant-day of the run has an open missed {stream} window (a mailbox "
            "that failed or ran out of time); lists the connections and windows."
        ),
    )
    def check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        scope = _run_scope(context)
        found = open_windows(warehouse.get(), stream, scope)
        checked = None if scope is None else sum(len(d) for d in scope.values())
        return check_result(found, checked)

    return check


raw_emails_missed_windows = missed_windows_check(raw_emails, "mail")
raw_meetings_missed_windows = missed_windows_check(raw_meetings, "calendar")
