"""Jobs: what the schedule and a data engineer launch."""

import dagster as dg

tenant_sync_job = dg.define_asset_job(
    "tenant_sync_job",
    # Only tenant x day assets: the schedule launches it over tenant x day ranges. The
    # engagement group also holds tenant-partitioned rollups, so its day tables are named.
    selection=dg.AssetSelection.groups("email", "meetings")
    | dg.AssetSelection.assets(
        "email_engagements", "meeting_engagements", "account_engagement_daily"
    ),
    description=(
        "Sync one tenant's UTC day: mail and meetings from every connected mailbox and calendar, "
        "then the deduplicated emails and meetings tables, then the day's email and meeting "
        "engagements and the daily rollup of the local days it touches."
    ),
)
