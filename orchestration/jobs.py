"""Jobs: what the schedule and a data engineer launch."""

from __future__ import annotations

import dagster as dg

from assets.emails import raw_emails
from orchestration.partitions import tenant_day_partitions

email_sync_job = dg.define_asset_job(
    "email_sync_job",
    selection=dg.AssetSelection.assets(raw_emails),
    partitions_def=tenant_day_partitions,
    description="Sync one tenant's mail for one UTC day from every connected mailbox.",
)
