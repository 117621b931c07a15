"""raw_emails (every mailbox copy) and emails (one row per real message), on the window's
tenant x day partitions and, under archive/, on tenant x month."""

from assets.dedupe_tables import rebuild_emails
from assets.email_sync import EmailWindowSync
from assets.partition_sync import PROVIDER_LABELS
from assets.partitions import tenant_day_partitions, tenant_month_partitions
from assets.stream_assets import StreamSpec, stream_assets
from resources.providers import PROVIDERS

MAIL = StreamSpec(
    raw_name="raw_emails",
    table_name="emails",
    group="email",
    sync_tag="mail",
    raw_kinds=frozenset(kit.mail_kind for kit in PROVIDERS.values()),
    raw_description=(
        f"Every message of every connected mailbox of the tenant ({PROVIDER_LABELS}), "
        "received in the partition's UTC days, drafts, spam/junk and trash/deleted excluded: "
        "one row per mailbox copy."
    ),
    table_description=(
        "One row per real-world message of the tenant (same Internet-Message-ID = same "
        "message), with the connected mailboxes that saw it; on the day of its first copy."
    ),
    window_sync=lambda store, connectors: EmailWindowSync(store, connectors.mail),
    rebuild=rebuild_emails,
)

raw_emails, emails = stream_assets(MAIL, tenant_day_partitions)
archive_raw_emails, archive_emails = stream_assets(
    MAIL,
    tenant_month_partitions,
    key_prefix="archive",
    group="archive",
    note=" Archive: whole UTC months before the daily window, into the same tables.",
)
