"""Jobs: what the schedule and a data engineer launch."""

import dagster as dg

tenant_sync_job = dg.define_asset_job(
    "tenant_sync_job",
    selection=dg.AssetSelection.groups("email", "meetings"),
    description=(
        "Sync one tenant's UTC day: mail and meetings from every connected mailbox and calendar, "
        "then the deduplicated emails and meetings tables."
    ),
)
