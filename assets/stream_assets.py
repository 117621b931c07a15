"""The two assets of a stream (mail, calendar), built once per partitioning.

Each stream has a raw asset (every mailbox's copy, synced from the providers) and a
deduplicated table rebuilt from it. They exist twice with the same code: on the window's
tenant x day partitions (hourly sync, day-by-day backfills) and, under the `archive/` prefix, on
tenant x month partitions for the history before the window (assets/partitions.py says why).
Both write the same warehouse tables.
"""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg

from assets.partition_sync import (
    SYNC_RESOURCE_KEYS,
    SYNC_RETRY_POLICY,
    rebuild_days,
    run_partition_sync,
    sync_resources,
)
from assets.tenant_sync import WindowSync
from resources.connectors import ConnectorFactory
from resources.dagster_resources import WarehouseResource
from resources.warehouse import Warehouse

PARTITIONS_PER_RUN = 100
"""A backfill's runs cover up to this many partitions each (Dagster splits larger selections),
so one tenant's date range is one run, not one run per day."""
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.BetaWarning)
    SYNC_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=PARTITIONS_PER_RUN)


@dataclass(frozen=True)
class StreamSpec:
    """What differs between the mail and the calendar assets."""

    raw_name: str
    table_name: str
    group: str
    sync_tag: str
    raw_kinds: frozenset[str]
    raw_description: str
    table_description: str
    window_sync: Callable[[Warehouse, ConnectorFactory], WindowSync]
    rebuild: Callable[[Warehouse, str, date, Any], Any]


def stream_assets(
    spec: StreamSpec,
    partitions_def: dg.MultiPartitionsDefinition,
    *,
    key_prefix: str | None = None,
    group: str | None = None,
    note: str = "",
) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """(raw asset, deduplicated table asset) of `spec` on `partitions_def`."""
    with warnings.catch_warnings():
        # BackfillPolicy is marked beta in Dagster 1.13; we rely on it knowingly (it is what
        # makes a tenant's date range one run) and keep the warning out of every log.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build(spec, partitions_def, key_prefix, group, note)


def _build(
    spec: StreamSpec,
    partitions_def: dg.MultiPartitionsDefinition,
    key_prefix: str | None,
    group: str | None,
    note: str,
) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    @dg.asset(
        name=spec.raw_name,
        key_prefix=key_prefix,
        partitions_def=partitions_def,
        group_name=group or spec.group,
        kinds=set(spec.raw_kinds),
        required_resource_keys=SYNC_RESOURCE_KEYS,
        op_tags={"touchpoint/sync": spec.sync_tag},
        retry_policy=SYNC_RETRY_POLICY,
        backfill_policy=SYNC_BACKFILL_POLICY,
        description=spec.raw_description + note,
    )
    def raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        store, registry, connectors = sync_resources(context.resources)
        window_sync = spec.window_sync(store, connectors)
        return run_partition_sync(context, registry, window_sync, partitions_def)

    @dg.asset(
        name=spec.table_name,
        key_prefix=key_prefix,
        partitions_def=partitions_def,
        deps=[raw],
        group_name=group or spec.group,
        kinds={"sql"},
        backfill_policy=SYNC_BACKFILL_POLICY,
        description=spec.table_description + note,
    )
    def table(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        return rebuild_days(context, warehouse.get(), partitions_def, spec.table_name, spec.rebuild)

    return raw, table
