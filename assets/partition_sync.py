"""What the synced assets share: the run's tenant-days, syncing and rebuilding them, metadata."""

import math
import os
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import dagster as dg

from assets import pending_rebuilds
from assets.partitions import days_of, tenant_window
from assets.tenant_sync import ConnectionSyncResult, TenantSync, TenantSyncResult, WindowSync
from resources.connectors import ConnectorFactory, provider_settings
from resources.providers import PROVIDERS
from resources.registry import ConnectionStore, Registry, UnknownTenantError
from resources.warehouse import Warehouse
from vocabulary.connectors import ApiStats
from vocabulary.status import ConnectionStatus
from vocabulary.windows import SyncWindow

BACKFILL_TAG = "dagster/backfill"
CONNECTION_TAG = "touchpoint/connection"
"""A run (or a backfill, whose tags its runs carry) with this tag syncs only that connection of
its tenants: `touchpoint backfill --connection` re-syncs one mailbox without touching the others."""
TENANT_TAG = "touchpoint/tenant"
"""The one tenant a run (or backfill) syncs, when it syncs exactly one: the run queue limits how
many runs of one tenant go at once (deploy/dagster.yaml)."""
PROVIDER_TAG = "touchpoint/provider"
"""The one provider a run calls, when it calls one only (a `--connection` backfill): the run queue
limits how many such runs of one provider go at once (deploy/dagster.yaml)."""

SYNC_RESOURCE_KEYS = frozenset({"warehouse", "vault", *PROVIDERS})
"""What a raw sync asset needs: the warehouse, the credential vault and every provider's
resource (keyed by provider name, as the provider table lists them)."""

PROVIDER_LABELS = " and ".join(kit.label for kit in PROVIDERS.values())

CONNECTION_BUDGET_ENV = "TOUCHPOINT_CONNECTION_BUDGET_SECONDS"
DEFAULT_CONNECTION_BUDGET_SECONDS = 180.0
"""A heavy day (5,000 messages at a provider's per-mailbox ceiling of ~50 a second) takes
~100 s; a timeout storm costs ~50 s per call sequence, so a storming mailbox gives up after a
few."""


def connection_budget(raw: str) -> float:
    """Seconds per window a connection may spend in a run (0: no budget); a bad value is one
    clear error at load."""
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(
            f"{CONNECTION_BUDGET_ENV}={raw!r} is not a number of seconds (0 turns the budget off)"
        )
    return seconds


CONNECTION_BUDGET_SECONDS = connection_budget(
    os.environ.get(CONNECTION_BUDGET_ENV, str(DEFAULT_CONNECTION_BUDGET_SECONDS))
)


PARALLEL_ENV = "TOUCHPOINT_PARALLEL_CONNECTIONS"
DEFAULT_PARALLEL_CONNECTIONS = 20
"""Connections of a run that sync at once. Each waits mostly on its provider (latency, its own
quota: a mailbox at its quota ceiling is ~5% of a core), so a tenant's time is about
`ceil(connections / parallel)` times one mailbox's until the CPU is the limit; 20 covers a
tenant of 20 mailboxes in one wave (docs/benchmarks.md, "Pacing to the quota ceiling")."""


def parallel_connections(raw: str) -> int:
    """`TOUCHPOINT_PARALLEL_CONNECTIONS` as a whole number >= 1; a bad value is one clear error."""
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ValueError(f"{PARALLEL_ENV}={raw!r} is not a whole number of connections (>= 1)")
    return int(raw)


PARALLEL_CONNECTIONS = parallel_connections(
    os.environ.get(PARALLEL_ENV, str(DEFAULT_PARALLEL_CONNECTIONS))
)


def sync_resources(resources: Any) -> tuple[Warehouse, Registry, ConnectorFactory]:
    """The warehouse, the decrypting registry and the connector factory of one sync step."""
    store = resources.warehouse.get()
    registry = resources.vault.registry(store)
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


def sync_metadata(results: list[TenantSyncResult]) -> dict[str, dg.MetadataValue]:
    """Totals for charts plus a per-connection table (one row per connection and day) that says
    what happened to each mailbox."""
    rows = [
        {"tenant": r.tenant_id, "day": r.window.start.date().isoformat(), **_connection_row(c)}
        for r in results
        for c in r.connections
    ]
    columns = list(rows[0]) if rows else ["connection"]
    table = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    table += "".join("| " + " | ".join(str(r[c]) for c in columns) + " |\n" for r in rows)
    stats = ApiStats()
    for r in results:
        stats.add(r.stats)
    connections = [c for r in results for c in r.connections]
    not_active = {c.connection_id for c in connections if c.status != ConnectionStatus.ACTIVE}
    out_of_time = {c.connection_id for c in connections if c.out_of_time}
    metadata = {
        "tenants": dg.MetadataValue.int(len({r.tenant_id for r in results})),
        "tenant_days": dg.MetadataValue.int(len(results)),
        "connections": dg.MetadataValue.int(len({c.connection_id for c in connections})),
        "connections_not_active": dg.MetadataValue.int(len(not_active)),
        "connections_out_of_time": dg.MetadataValue.int(len(out_of_time)),
        "api_calls": dg.MetadataValue.int(stats.api_calls),
        "http_requests": dg.MetadataValue.int(stats.http_requests),
        "quota_units": dg.MetadataValue.int(stats.quota_units),
        "per_connection": dg.MetadataValue.md(table),
        "per_connection_json": dg.MetadataValue.json(rows),
    }
    for total in ("listed", "fetched", "synced", "already_held", "removed", "quarantined"):
        metadata[total] = dg.MetadataValue.int(sum(r.total(total) for r in results))
    return metadata


def tenant_days(
    partition_keys: Sequence[str], partitions_def: dg.MultiPartitionsDefinition
) -> dict[str, list[SyncWindow]]:
    """The UTC days per tenant of a run's partition keys: one partition, or every key of a ranged
    run (a shard of tenants for today, one tenant's date range, a tenant's archive months)."""
    days: dict[str, set[SyncWindow]] = {}
    for key in partition_keys:
        tenant_id, window = tenant_window(key, partitions_def)
        days.setdefault(tenant_id, set()).update(days_of(window))
    return {tenant: sorted(windows, key=lambda w: w.start) for tenant, windows in days.items()}


def run_partition_sync(
    context: dg.AssetExecutionContext,
    registry: Registry,
    window_sync: WindowSync,
    partitions_def: dg.MultiPartitionsDefinition,
) -> dg.MaterializeResult:
    """Syncs every tenant-day of the run with `window_sync` over each tenant's connections.

    A tenant that fails unexpectedly does not stop the others: its error is logged, the rest
    finish, and then the step fails (one failure as itself, several as one `dg.Failure` naming
    the tenants) so Dagster's retry policy and the UI show it. A retry re-runs the whole run,
    which is cheap: what the warehouse already holds is never fetched again.
    """
    plan = tenant_days(context.partition_keys, partitions_def)
    total = sum(len(days) for days in plan.values())
    context.log.info(f"{window_sync.kind}: {total} tenant-day(s) of {len(plan)} tenant(s)")
    only = context.run.tags.get(CONNECTION_TAG)
    if only:
        context.log.info(f"{window_sync.kind}: only connection {only} ({CONNECTION_TAG})")
    tenant_sync = TenantSync(
        registry,
        window_sync,
        log=context.log,
        budget_seconds=CONNECTION_BUDGET_SECONDS,
        only_connection=only,
        parallel=PARALLEL_CONNECTIONS,
    )
    backfill = BACKFILL_TAG in context.run.tags
    results: list[TenantSyncResult] = []
    failures: dict[str, BaseException] = {}
    for done, (tenant_id, days) in enumerate(plan.items(), start=1):
        try:
            for day in days:
                results.append(
                    tenant_sync.sync(
                        tenant_id,
                        day,
                        run_id=context.run.run_id,
                        explicit_backfill=backfill,
                        windows_in_run=len(days),
                    )
                )
        except Exception as error:  # noqa: BLE001 - raised below, once the other tenants ran
            context.log.error(f"tenant {tenant_id}: {type(error).__name__}: {error}")
            failures[tenant_id] = error
        if len(plan) > 1:
            context.log.info(f"{done}/{len(plan)} tenants done")
    out_of_time = sorted({c.owner_email for r in results for c in r.connections if c.out_of_time})
    if out_of_time:
        context.log.warning(
            f"{window_sync.kind}: {len(out_of_time)} connection(s) ran out of their time budget "
            f"({CONNECTION_BUDGET_ENV}); what they left is recorded as missed windows: "
            + ", ".join(out_of_time)
        )
    if failures:
        raise step_failure(failures)
    return dg.MaterializeResult(metadata=sync_metadata(results))


def step_failure(failures: dict[str, BaseException]) -> BaseException:
    """The error a step raises once every tenant of its run had its turn (tenant -> error)."""
    if all(isinstance(e, UnknownTenantError) for e in failures.values()):
        # Retrying cannot make a tenant exist: fail once, clearly.
        text = "; ".join(str(e) for e in failures.values())
        return dg.Failure(description=text, allow_retries=False)
    if len(failures) == 1:
        return next(iter(failures.values()))
    names = ", ".join(sorted(failures))
    return dg.Failure(description=f"{len(failures)} tenants failed: {names} (see the step log)")


def rebuild_days(
    context: dg.AssetExecutionContext,
    store: Warehouse,
    partitions_def: dg.MultiPartitionsDefinition,
    table_name: str,
    rebuild: Callable[[Warehouse, str, date, dict[str, str]], Any],
) -> dg.MaterializeResult:
    """Rebuilds a deduplicated table for every tenant-day of the run, and for the days of the
    run's tenants that a change feed marked stale (assets/pending_rebuilds.py); metadata sums
    the days."""
    totals = dict.fromkeys(("raw_rows", "rows", "multi_copy", "removed"), 0)
    other_days = 0
    for tenant_id, days in tenant_days(context.partition_keys, partitions_def).items():
        connections = ConnectionStore(store).list_connections(tenant_id)
        owners = {c.connection_id: c.owner_email for c in connections}
        marked = pending_rebuilds.pending(store, table_name, tenant_id)
        own = {day.start.date() for day in days}
        other_days += len(set(marked) - own)
        for day in sorted(own | set(marked)):
            result = rebuild(store, tenant_id, day, owners)
            for name in totals:
                totals[name] += getattr(result, name)
        pending_rebuilds.clear(store, table_name, tenant_id, marked)
    return dg.MaterializeResult(
        metadata={
            "other_days_rebuilt": dg.MetadataValue.int(other_days),
            "raw_copies": dg.MetadataValue.int(totals["raw_rows"]),
            "rows": dg.MetadataValue.int(totals["rows"]),
            "seen_in_several": dg.MetadataValue.int(totals["multi_copy"]),
            "removed": dg.MetadataValue.int(totals["removed"]),
            "dagster/row_count": dg.MetadataValue.int(totals["rows"]),
        }
    )


SYNC_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)
