"""Which partitions of which synced assets a back-sync of some tenant-days targets.

The recovery sensor and `touchpoint backfill` both launch one Dagster asset backfill of a
tenant's days over both streams (raw and deduplicated). Days inside the daily window are tenant x
day partitions; days before it are the archive assets' tenant x month partitions (a month is
synced whole, assets/partitions.py says why). Kept free of the instance so it is tested directly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from assets.emails import archive_emails, archive_raw_emails, emails, raw_emails
from assets.engagement_targets import (
    DAILY_ENGAGEMENT_KEYS,
    TENANT_ENGAGEMENT_KEYS,
    engagement_subset,
)
from assets.meetings import archive_meetings, archive_raw_meetings, meetings, raw_meetings
from assets.partitions import (
    MONTH_DIMENSION,
    TENANT_DIMENSION,
    WINDOW_START,
    tenant_day_key,
    tenant_day_partitions,
    tenant_month_partitions,
)

DAILY_ASSETS = (raw_emails, emails, raw_meetings, meetings)
ARCHIVE_ASSETS = (archive_raw_emails, archive_emails, archive_raw_meetings, archive_meetings)
RECOVERY_ASSETS = (*DAILY_ASSETS, *ARCHIVE_ASSETS)
"""Every synced asset a back-sync may target: both streams, raw and deduplicated, daily and
archive (plus the engagement assets of the window's days, RECOVERY_KEYS)."""
RECOVERY_KEYS = (
    *(a.key for a in RECOVERY_ASSETS),
    *DAILY_ENGAGEMENT_KEYS,
    *TENANT_ENGAGEMENT_KEYS,
)
"""Every asset key a back-sync may target."""

MAX_DAYS_ENV = "TOUCHPOINT_RECOVERY_MAX_DAYS"
DEFAULT_MAX_DAYS = 30
"""A connection back after months would otherwise re-sync its whole history in one go; the
providers' change tracking reaches back about 30 days, and older days stay launchable by hand."""


def recovery_max_days(raw: str | None = None) -> int:
    """`TOUCHPOINT_RECOVERY_MAX_DAYS` (default 30); a bad value is one clear error."""
    text = os.environ.get(MAX_DAYS_ENV, str(DEFAULT_MAX_DAYS)) if raw is None else raw
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{MAX_DAYS_ENV}={text!r} is not a positive whole number of days")
    return int(text)


@dataclass(frozen=True)
class TenantDays:
    """One tenant's days to back-sync: `days` (newest `cap` of those asked, oldest first) and
    `dropped` (older ones left out by the cap, to be named in the log)."""

    tenant_id: str
    days: tuple[date, ...]
    dropped: tuple[date, ...] = field(default=())

    @classmethod
    def capped(cls, tenant_id: str, days: Iterable[date], cap: int) -> TenantDays:
        ordered = sorted(set(days))
        keep = ordered[-cap:] if cap else []
        return cls(tenant_id, tuple(keep), tuple(ordered[: len(ordered) - len(keep)]))

    def daily_keys(self, window_start: date = WINDOW_START) -> list[str]:
        """Tenant x day keys of the days inside the daily window."""
        return [
            str(tenant_day_key(self.tenant_id, d.isoformat()))
            for d in self.days
            if d >= window_start
        ]

    def month_keys(self, window_start: date = WINDOW_START) -> list[str]:
        """Tenant x month keys of the archive months holding the days before the window."""
        months = sorted({d.replace(day=1) for d in self.days if d < window_start})
        return [
            str(
                dg.MultiPartitionKey(
                    {TENANT_DIMENSION: self.tenant_id, MONTH_DIMENSION: m.isoformat()}
                )
            )
            for m in months
        ]


def recovery_subset(
    targets: Iterable[TenantDays], window_start: date = WINDOW_START
) -> AssetGraphSubset:
    """The asset partitions a back-sync of `targets` covers, as Dagster's backfills take them
    (`dg.RunRequest.for_asset_graph_subset`, `PartitionBackfill.from_asset_graph_subset`): both
    streams, and the engagement partitions of the days in the window."""
    targets = list(targets)
    daily: list[str] = []
    monthly: list[str] = []
    for target in targets:
        daily += target.daily_keys(window_start)
        monthly += target.month_keys(window_start)
    subsets = {}
    for assets, partitions_def, keys in (
        (DAILY_ASSETS, tenant_day_partitions, daily),
        (ARCHIVE_ASSETS, tenant_month_partitions, monthly),
    ):
        if keys:
            subset = partitions_def.empty_subset().with_partition_keys(keys)
            subsets.update({a.key: subset for a in assets})
    subset = AssetGraphSubset(
        partitions_subsets_by_asset_key=subsets, non_partitioned_asset_keys=set()
    )
    for target in targets:
        days = [d for d in target.days if d >= window_start]
        if days:
            # Recovered mail is logged in the same backfill: its days' engagements follow it.
            subset |= engagement_subset(target.tenant_id, days)
    return subset
