"""Schema version 2: raw meetings, calendar quarantine and sync log, deduplicated emails and
meetings (one row per real-world message or meeting).

Frozen history: this is what the hand-written runner's migration 2 created. Never edit it.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime, json_list

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tenant_id(**kwargs: object) -> sa.Column:
    return sa.Column("tenant_id", sa.String(63), nullable=False, **kwargs)


def add_tables(md: sa.MetaData) -> None:
    """The tables version 2 adds (the tests also build a runner-era database from these)."""
    sa.Table(
        "raw_meetings",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("provider_event_id", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("ical_uid", sa.Text),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("all_day", sa.Boolean, nullable=False),
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
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.Index("ix_raw_meetings_tenant_day", "tenant_id", "partition_day"),
        sa.Index("ix_raw_meetings_tenant_uid", "tenant_id", "ical_uid"),
    )
    sa.Table(
        "quarantined_events",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("provider_event_id", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excerpt", sa.Text),
        sa.Column("quarantined_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Index("ix_quarantined_events_tenant_day", "tenant_id", "partition_day"),
    )
    sa.Table(
        "calendar_sync_log",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default="0")
            for name in ("listed", "synced", "removed", "quarantined")
        ),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("api_calls", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("http_requests", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    sa.Table(
        "emails",
        md,
        _tenant_id(primary_key=True),
        sa.Column("email_key", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("internet_message_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("from_address", sa.Text),
        sa.Column("from_name", sa.Text),
        sa.Column("to_addresses", json_list(), nullable=False),
        sa.Column("cc_addresses", json_list(), nullable=False),
        sa.Column("bcc_addresses", json_list(), nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("seen_in_connections", json_list(), nullable=False),
        sa.Column("seen_in_mailboxes", json_list(), nullable=False),
        sa.Column("copies", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Index("ix_emails_tenant_day", "tenant_id", "partition_day"),
    )
    sa.Table(
        "meetings",
        md,
        _tenant_id(primary_key=True),
        sa.Column("meeting_key", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("ical_uid", sa.Text),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("all_day", sa.Boolean, nullable=False),
        sa.Column("subject", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("organizer_email", sa.Text),
        sa.Column("attendees", json_list(), nullable=False),
        sa.Column("seen_in_connections", json_list(), nullable=False),
        sa.Column("seen_in_calendars", json_list(), nullable=False),
        sa.Column("copies", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Index("ix_meetings_tenant_day", "tenant_id", "partition_day"),
    )


def upgrade() -> None:
    md = sa.MetaData()
    add_tables(md)
    md.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
