"""`email_engagements` and `meeting_engagements`: the (message or meeting, CRM account) pairs the
rules engage, per tenant x UTC day.

One step builds both tables (`rebuild_engagements` replaces a tenant-day of both in one
transaction), downstream of the deduplicated `emails` / `meetings` of the same partition and of
the tenant's CRM (`crm_contacts`, one partition per tenant), so the lineage reads
sync -> emails/meetings -> engagements <- CRM. Each run rebuilds every tenant-day it covers as
of the run's start: a meeting counts once it has started, so the hourly run picks it up.
"""

import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import dagster as dg

from assets.crm import crm_contacts
from assets.emails import emails
from assets.engagement_tables import EngagementRebuild, rebuild_engagements
from assets.meetings import meetings
from assets.partition_sync import step_failure, tenant_days
from assets.partitions import TENANT_DIMENSION, tenant_day_partitions
from assets.stream_assets import SYNC_BACKFILL_POLICY
from resources.dagster_resources import WarehouseResource
from resources.registry.engagement_context import load_engagement_context
from vocabulary.engagement import Exclusion

ENGAGEMENT_GROUP = "engagement"
EMAIL_EXCLUSIONS = (
    Exclusion.BEFORE_AUTHORIZATION,
    Exclusion.INTERNAL_ONLY,
    Exclusion.BLOCKED_ONLY,
    Exclusion.NO_CONTACT,
    Exclusion.BLOCKED_CONTACT,
)
MEETING_EXCLUSIONS = (
    Exclusion.CANCELLED,
    Exclusion.NOT_ORGANISED_BY_OWNER,
    Exclusion.NOT_STARTED,
    Exclusion.NO_CONTACT_ACCEPTED,
    Exclusion.NO_CONTACT,
    Exclusion.BLOCKED_CONTACT,
)
"""The rules that can keep an `emails` / `meetings` row out; each is reported, zeros included,
so the metadata plots the same series on every run."""

PROGRESS_EVERY_DAYS = 30
"""A long range logs its progress at least this often (in tenant-days)."""

EMAIL_DESCRIPTION = (
    "One row per (message, CRM account) the message engages (docs/analytics.md has the rules), "
    "on the UTC day of its `emails` row, with its local day and week in the tenant's time zone."
)
MEETING_DESCRIPTION = (
    "One row per (meeting occurrence, CRM account) it engages: organised by a connected owner, "
    "started, and accepted by a contact of the account; on the UTC day of its start, with its "
    "local day and week in the tenant's time zone."
)


def _engagement_assets() -> dg.AssetsDefinition:
    # Every day of a tenant reads that tenant's one CRM partition.
    crm = dg.AssetDep(
        crm_contacts,
        partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
            partition_dimension_name=TENANT_DIMENSION
        ),
    )

    @dg.multi_asset(
        name="engagements",
        partitions_def=tenant_day_partitions,
        backfill_policy=SYNC_BACKFILL_POLICY,
        specs=[
            dg.AssetSpec(
                "email_engagements",
                deps=[emails, crm],
                group_name=ENGAGEMENT_GROUP,
                kinds={"sql"},
                description=EMAIL_DESCRIPTION,
            ),
            dg.AssetSpec(
                "meeting_engagements",
                deps=[meetings, crm],
                group_name=ENGAGEMENT_GROUP,
                kinds={"sql"},
                description=MEETING_DESCRIPTION,
            ),
        ],
    )
    def engagements(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> Iterator[dg.MaterializeResult]:
        results = rebuild_run(context, warehouse)
        yield dg.MaterializeResult(
            asset_key="email_engagements",
            metadata=_metadata(
                results,
                "messages_read",
                lambda r: (r.emails_read, r.email_rows, r.email_accounts, r.emails_not_engaged),
                EMAIL_EXCLUSIONS,
            ),
        )
        yield dg.MaterializeResult(
            asset_key="meeting_engagements",
            metadata=_metadata(
                results,
                "meetings_read",
                lambda r: (
                    r.meetings_read,
                    r.meeting_rows,
                    r.meeting_accounts,
                    r.meetings_not_engaged,
                ),
                MEETING_EXCLUSIONS,
            ),
        )

    return engagements


with warnings.catch_warnings():
    # BackfillPolicy and the partition mapping are beta in Dagster 1.13; relied on knowingly
    # (assets/stream_assets.py), and kept out of every log.
    warnings.simplefilter("ignore", dg.BetaWarning)
    engagements = _engagement_assets()


def rebuild_run(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> list[EngagementRebuild]:
    """Rebuilds every tenant-day of the run, each tenant's rule inputs read once.

    As in the sync, a tenant that fails does not stop the others; the step fails afterwards.
    """
    store = warehouse.get()
    plan = tenant_days(context.partition_keys, tenant_day_partitions)
    total = sum(len(days) for days in plan.values())
    context.log.info(f"engagements: {total} tenant-day(s) of {len(plan)} tenant(s)")
    now = datetime.now(UTC)
    results: list[EngagementRebuild] = []
    failures: dict[str, BaseException] = {}
    for done, (tenant_id, days) in enumerate(plan.items(), start=1):
        try:
            ctx = load_engagement_context(store, tenant_id)
            for window in days:
                results.append(rebuild_engagements(store, tenant_id, window.start.date(), now, ctx))
                if len(results) % PROGRESS_EVERY_DAYS == 0:
                    context.log.info(f"engagements: {len(results)}/{total} tenant-days rebuilt")
        except Exception as error:  # noqa: BLE001 - raised below, once the other tenants ran
            context.log.error(f"tenant {tenant_id}: {type(error).__name__}: {error}")
            failures[tenant_id] = error
        if len(plan) > 1:
            context.log.info(f"{done}/{len(plan)} tenants done")
    if failures:
        raise step_failure(failures)
    return results


Figures = tuple[int, int, frozenset[str], Counter[str]]
"""(items read, rows written, accounts engaged, items not engaged by rule) of one tenant-day."""


def _metadata(
    results: list[EngagementRebuild],
    read_name: str,
    figures: Callable[[EngagementRebuild], Figures],
    exclusions: tuple[Exclusion, ...],
) -> dict[str, dg.MetadataValue]:
    """One table's totals over the run's tenant-days."""
    read = rows = 0
    accounts: set[tuple[str, str]] = set()
    reasons: Counter[str] = Counter()
    for result in results:
        day_read, day_rows, day_accounts, day_reasons = figures(result)
        read += day_read
        rows += day_rows
        accounts.update((result.tenant_id, a) for a in day_accounts)
        reasons.update(day_reasons)
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "tenant_days": dg.MetadataValue.int(len(results)),
        read_name: dg.MetadataValue.int(read),
        "engaged_accounts": dg.MetadataValue.int(len(accounts)),
    }
    for exclusion in exclusions:
        metadata[f"excluded_{exclusion.value}"] = dg.MetadataValue.int(reasons[exclusion.value])
    return metadata
