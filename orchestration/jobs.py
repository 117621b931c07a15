"""Jobs: what the schedule and a data engineer launch."""

from __future__ import annotations

import dagster as dg

from assets.emails import raw_emails

email_sync_job = dg.define_asset_job(
    "email_sync_job",
    selection=dg.AssetSelection.assets(raw_emails),
    description="Sync one tenant's mail for one UTC day from every connected mailbox.",
)
