"""The tables of each stream a connection syncs (mail, calendar), built from one spec each.

Mail and calendar keep their data in parallel tables of the same shape: raw copies per mailbox,
quarantined items, a sync log per run, one deduplicated row per real-world item. Each stream is
one `StreamTables` entry in `STREAM_TABLES`, so adding a stream is one entry here (plus the
Alembic revision that creates its tables).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from resources.schema.column_types import UTCDateTime, json_list, tenant_id_column

ColumnsFactory = Callable[[], Sequence[sa.Column]]
"""Makes fresh columns: a SQLAlchemy column belongs to exactly one table."""


@dataclass(frozen=True)
class StreamTables:
    """One stream's tables and what its rows carry beyond the shape all streams share."""

    stream: str
    """The stream's name in missed_windows.stream ("mail", "calendar")."""
    item_id: str
    """The provider's id of one item in one mailbox or calendar (part of the raw key)."""
    raw: str
    raw_columns: ColumnsFactory
    """The raw table's own columns, between partition_day and synced_at."""
    uid_column: str
    """The raw column naming the real-world item across mailboxes (indexed for deduplication)."""
    uid_index: str
    quarantine: str
    quarantine_index: str
    quarantine_columns: ColumnsFactory
    """Extra quarantine columns, between excerpt and quarantined_at."""
    sync_log: str
    counters: tuple[str, ...]
    """The sync log's per-run item counts."""
    usage: tuple[str, ...]
    """The sync log's per-run API usage counts."""
    deduplicated: str
    dedup_key: str
    dedup_columns: ColumnsFactory
    """The deduplicated table's own columns, between partition_day and seen_in_connections."""
    seen_in: str
    """The deduplicated column listing the owners' mailboxes or calendars that hold a copy."""


def _connection_key() -> tuple[sa.Column, sa.Column]:
    return (
        tenant_id_column(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
    )


def _message_header_columns() -> list[sa.Column]:
    """Header fields both raw and deduplicated mail carry, in their stored order."""
    return [
        sa.Column("internet_message_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("from_address", sa.Text),
        sa.Column("from_name", sa.Text),
        *(sa.Column(f"{k}_addresses", json_list(), nullable=False) for k in ("to", "cc", "bcc")),
    ]


def _raw_email_columns() -> list[sa.Column]:
    return [
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        *_message_header_columns(),
        sa.Column("in_reply_to", sa.Text),
        sa.Column("labels", json_list(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("header_defects", json_list(), nullable=False),
        # A tombstone: the message left the synced folders (trash, spam, deleted, moved out).
        sa.Column("removed_at", UTCDateTime),
        sa.Column("removed_reason", sa.String(16)),
    ]


def _email_columns() -> list[sa.Column]:
    return [
        *_message_header_columns(),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("received_at", UTCDateTime, nullable=False),
        # True when another row of the tenant carries the same Message-ID with other content
        # (revision 0005; assets/dedupe.py's fingerprint decides).
        sa.Column("message_id_conflict", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


def _meeting_time_columns() -> list[sa.Column]:
    return [
        sa.Column("ical_uid", sa.Text),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("all_day", sa.Boolean, nullable=False),
    ]


def _raw_meeting_columns() -> list[sa.Column]:
    return [
        *_meeting_time_columns(),
        sa.Column("start_time_zone", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("organizer_email", sa.Text),
        sa.Column("organizer_name", sa.Text),
        sa.Column("organized_by_owner", sa.Boolean, nullable=False),
        sa.Column("attendees", json_list(), nullable=False),
        sa.Column("series_id", sa.Text),
        sa.Column("original_start_at", UTCDateTime),
        sa.Column("location", sa.Text),
        sa.Column("updated_at", UTCDateTime),
    ]


def _meeting_columns() -> list[sa.Column]:
    return [
        *_meeting_time_columns(),
        sa.Column("subject", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("organizer_email", sa.Text),
        sa.Column("attendees", json_list(), nullable=False),
        # The recurring series the occurrence belongs to (revision 0009).
        sa.Column("series_id", sa.Text),
    ]


STREAM_TABLES: tuple[StreamTables, ...] = (
    StreamTables(
        stream="mail",
        item_id="provider_message_id",
        raw="raw_emails",
        raw_columns=_raw_email_columns,
        uid_column="internet_message_id",
        uid_index="ix_raw_emails_tenant_imid",
        quarantine="quarantined_messages",
        quarantine_index="ix_quarantined_tenant_day",
        quarantine_columns=lambda: [sa.Column("received_at", UTCDateTime)],
        sync_log="sync_log",
        counters=("listed", "already_held", "fetched", "vanished", "quarantined", "removed"),
        usage=("api_calls", "http_requests", "quota_units"),
        deduplicated="emails",
        dedup_key="email_key",
        dedup_columns=_email_columns,
        seen_in="seen_in_mailboxes",
    ),
    StreamTables(
        stream="calendar",
        item_id="provider_event_id",
        raw="raw_meetings",
        raw_columns=_raw_meeting_columns,
        uid_column="ical_uid",
        uid_index="ix_raw_meetings_tenant_uid",
        quarantine="quarantined_events",
        quarantine_index="ix_quarantined_events_tenant_day",
        quarantine_columns=list,
        sync_log="calendar_sync_log",
        counters=("listed", "synced", "removed", "quarantined"),
        usage=("api_calls", "http_requests"),
        deduplicated="meetings",
        dedup_key="meeting_key",
        dedup_columns=_meeting_columns,
        seen_in="seen_in_calendars",
    ),
)
"""One entry per stream a connection syncs."""

STREAMS: tuple[str, ...] = tuple(spec.stream for spec in STREAM_TABLES)
"""What a connection syncs; each stream misses and recovers its windows on its own."""


def add_stream_tables(md: sa.MetaData, spec: StreamTables) -> None:
    """The four tables of one stream."""
    sa.Table(
        spec.raw,
        md,
        *_connection_key(),
        sa.Column(spec.item_id, sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        *spec.raw_columns(),
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.Index(f"ix_{spec.raw}_tenant_day", "tenant_id", "partition_day"),
        sa.Index(spec.uid_index, "tenant_id", spec.uid_column),
    )
    sa.Table(
        spec.quarantine,
        md,
        *_connection_key(),
        sa.Column(spec.item_id, sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excerpt", sa.Text),
        *spec.quarantine_columns(),
        sa.Column("quarantined_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Index(spec.quarantine_index, "tenant_id", "partition_day"),
    )
    sa.Table(
        spec.sync_log,
        md,
        *_connection_key(),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        *(sa.Column(n, sa.Integer, nullable=False, server_default="0") for n in spec.counters),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        *(sa.Column(n, sa.BigInteger, nullable=False, server_default="0") for n in spec.usage),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    sa.Table(
        spec.deduplicated,
        md,
        tenant_id_column(primary_key=True),
        sa.Column(spec.dedup_key, sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        *spec.dedup_columns(),
        sa.Column("seen_in_connections", json_list(), nullable=False),
        sa.Column(spec.seen_in, json_list(), nullable=False),
        sa.Column("copies", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Index(f"ix_{spec.deduplicated}_tenant_day", "tenant_id", "partition_day"),
    )
