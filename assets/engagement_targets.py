"""Which partitions of the engagement assets a change of a tenant's inputs makes stale.

The CRM change sensor and the recoveries launch one Dagster asset backfill over these; the
backfill daemon orders them by the asset graph (CRM, then the detail tables, then the
rollups). Asset keys are named, not imported, so the sensors do not depend on how the assets
are built. Kept free of the instance so it is tested directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import dagster as dg
import sqlalchemy as sa
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from assets.partitions import WINDOW_START, tenant_day_key, tenant_day_partitions, tenant_partitions
from resources.warehouse import Warehouse

DAILY_ENGAGEMENT_KEYS = (
    dg.AssetKey("email_engagements"),
    dg.AssetKey("meeting_engagements"),
    dg.AssetKey("account_engagement_daily"),
)
"""The engagement assets on tenant x day partitions."""
TENANT_ENGAGEMENT_KEYS = (dg.AssetKey("contact_engagement"),)
"""The engagement assets on tenant partitions."""
CRM_KEYS = (dg.AssetKey("crm_accounts"), dg.AssetKey("crm_contacts"))

DAY_TABLES = ("emails", "meetings", "email_engagements", "meeting_engagements")
"""A tenant-day with rows in any of these may have engagements to add or to take away."""


def engagement_days(
    warehouse: Warehouse, tenant_id: str, window_start: date = WINDOW_START
) -> list[date]:
    """The tenant's UTC days in the daily window holding mail, meetings or engagements: the
    only days whose engagements a CRM change can alter (one indexed query per table)."""
    days: set[date] = set()
    with warehouse.engine.connect() as db:
        for name in DAY_TABLES:
            table = warehouse.table(name)
            days.update(
                db.execute(
                    sa.select(table.c.partition_day)
                    .where(table.c.tenant_id == tenant_id, table.c.partition_day >= window_start)
                    .distinct()
                ).scalars()
            )
    return sorted(days)


def engagement_subset(
    tenant_id: str, days: Iterable[date], *, with_crm: bool = False
) -> AssetGraphSubset:
    """The engagement partitions of the tenant's `days` (and its per-contact rollup; with
    `with_crm`, its CRM assets too, so the backfill records the CRM version it built from)."""
    keys = [str(tenant_day_key(tenant_id, d.isoformat())) for d in sorted(set(days))]
    subsets = {}
    if keys:
        daily = tenant_day_partitions.empty_subset().with_partition_keys(keys)
        subsets.update({key: daily for key in DAILY_ENGAGEMENT_KEYS})
    tenant = tenant_partitions.empty_subset().with_partition_keys([tenant_id])
    subsets.update({key: tenant for key in TENANT_ENGAGEMENT_KEYS})
    if with_crm:
        subsets.update({key: tenant for key in CRM_KEYS})
    return AssetGraphSubset(
        partitions_subsets_by_asset_key=subsets, non_partitioned_asset_keys=set()
    )
