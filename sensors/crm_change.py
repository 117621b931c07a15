"""Rebuilds a tenant's engagements when its CRM changes, so no one has to remember to.

`touchpoint crm load` writes the CRM and, in the same transaction, its fingerprint
(`crm_versions`). Each tick compares every tenant's fingerprint with the one this sensor last
acted on (its cursor) and, for each tenant whose CRM changed, launches ONE asset backfill of
that tenant only: its CRM assets, the engagement tables on every day holding mail, meetings or
engagements in the daily window, and its per-contact rollup. Other tenants are not touched.

A tenant the cursor does not know (a fresh cursor, a new deployment) is compared with the data
version of its latest `crm_contacts` materialization instead: engagements already built from
the current CRM are not rebuilt.
"""

from __future__ import annotations

import json

import dagster as dg

from assets.engagement_targets import (
    CRM_KEYS,
    DAILY_ENGAGEMENT_KEYS,
    TENANT_ENGAGEMENT_KEYS,
    engagement_days,
    engagement_subset,
)
from assets.partition_sync import TENANT_TAG
from resources.dagster_resources import WarehouseResource
from resources.registry import TenantStore

TRIGGER_TAG = "touchpoint/trigger"
CRM_VERSION_TAG = "touchpoint/crm_version"
MAX_TENANTS_PER_TICK = 25
"""A bulk CRM import of many tenants is spread over ticks (the rest wait for the next)."""


def built_crm_version(instance: dg.DagsterInstance, tenant_id: str) -> str | None:
    """The CRM fingerprint the tenant's latest `crm_contacts` materialization recorded."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("crm_contacts"), asset_partitions=[tenant_id]),
        limit=1,
    ).records
    if not records:
        return None
    materialization = records[0].asset_materialization
    return materialization.tags.get("dagster/data_version") if materialization else None


def changed_tenants(
    versions: dict[str, str],
    acted_on: dict[str, str],
    instance: dg.DagsterInstance,
) -> dict[str, str]:
    """tenant -> new fingerprint, for each tenant whose CRM differs from what was built."""
    changed = {}
    for tenant_id, fingerprint in sorted(versions.items()):
        known = acted_on.get(tenant_id)
        if known is None:
            # Not acted on by this cursor: what the instance last built decides.
            known = built_crm_version(instance, tenant_id)
        if known != fingerprint:
            changed[tenant_id] = fingerprint
    return changed


@dg.sensor(
    asset_selection=dg.AssetSelection.assets(
        *CRM_KEYS, *DAILY_ENGAGEMENT_KEYS, *TENANT_ENGAGEMENT_KEYS
    ),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "When `touchpoint crm load` changes a tenant's CRM, backfills that tenant's engagement "
        "tables on every day holding its mail or meetings, and its per-contact rollup."
    ),
)
def crm_change_sensor(
    context: dg.SensorEvaluationContext, warehouse: WarehouseResource
) -> dg.SensorResult:
    wh = warehouse.get()
    acted_on: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    versions = TenantStore(wh).crm_versions()
    changed = changed_tenants(versions, acted_on, context.instance)
    requests = []
    for tenant_id, fingerprint in list(changed.items())[:MAX_TENANTS_PER_TICK]:
        days = engagement_days(wh, tenant_id)
        context.log.info(
            f"tenant {tenant_id}: CRM version {fingerprint} -> rebuilding engagements on "
            f"{len(days)} day(s)" + (f" ({days[0]} .. {days[-1]})" if days else "")
        )
        requests.append(
            dg.RunRequest.for_asset_graph_subset(
                engagement_subset(tenant_id, days, with_crm=True),
                tags={
                    TRIGGER_TAG: "crm_change",
                    TENANT_TAG: tenant_id,
                    CRM_VERSION_TAG: fingerprint,
                },
            )
        )
        acted_on[tenant_id] = fingerprint
    # Tenants removed from the registry drop out of the cursor.
    cursor = {t: f for t, f in acted_on.items() if t in versions}
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))
