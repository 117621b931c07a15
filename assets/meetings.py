"""raw_meetings (every calendar copy) and meetings (one row per real occurrence), on the
window's tenant x day partitions and, under archive/, on tenant x month."""

from assets.dedupe_tables import rebuild_meetings
from assets.meeting_sync import MeetingWindowSync
from assets.partition_sync import PROVIDER_LABELS
from assets.partitions import tenant_day_partitions, tenant_month_partitions
from assets.stream_assets import StreamSpec, stream_assets
from resources.providers import PROVIDERS

CALENDAR = StreamSpec(
    raw_name="raw_meetings",
    table_name="meetings",
    group="meetings",
    sync_tag="calendar",
    raw_kinds=frozenset(kit.calendar_kind for kit in PROVIDERS.values()),
    raw_description=(
        f"Every meeting occurrence on every connected calendar of the tenant ({PROVIDER_LABELS}) "
        "starting in the partition's UTC days, recurring series expanded, cancelled ones kept "
        "as cancelled: one row per calendar copy."
    ),
    table_description=(
        "One row per real meeting occurrence of the tenant (same iCalUID and start = same "
        "meeting), with the connected calendars that hold it."
    ),
    window_sync=lambda store, connectors: MeetingWindowSync(store, connectors.calendar),
    rebuild=rebuild_meetings,
)

raw_meetings, meetings = stream_assets(CALENDAR, tenant_day_partitions)
archive_raw_meetings, archive_meetings = stream_assets(
    CALENDAR,
    tenant_month_partitions,
    key_prefix="archive",
    group="archive",
    note=" Archive: whole UTC months before the daily window, into the same tables.",
)
