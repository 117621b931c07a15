"""Schema version 9: the engagement tables analysts query, and what decides them.

- `email_engagements`, `meeting_engagements`: one row per (message or meeting occurrence, CRM
  account) the rules in vocabulary/engagement.py say engaged, rebuilt per tenant x UTC day.
- `account_engagement_daily`: per account and LOCAL day (the tenant's time zone).
- `contact_engagement`: per contact, last touches and counts over 7 / 30 / 90 days.
- `back_synced_days`: the UTC days before a connection's authorization an operator recovered on
  purpose (`touchpoint backfill`); their mail counts as engagement.
- `crm_versions`: the fingerprint of each tenant's loaded CRM, so a sensor sees a change.
- `meetings.series_id`: whether an occurrence belongs to a recurring series.

Calendar columns (`local_day`, `local_week`) are stored, not computed in queries, so the
documented SQL runs as written on SQLite and PostgreSQL alike.

Frozen history once released. Never edit it after that.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime, json_list

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(63), primary_key=True)


def _calendar() -> list[sa.Column]:
    return [
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("local_day", sa.Date, nullable=False),
        sa.Column("local_week", sa.Date, nullable=False),
    ]


def add_tables(md: sa.MetaData) -> None:
    """The tables version 9 adds."""
    sa.Table(
        "email_engagements",
        md,
        _tenant(),
        sa.Column("email_key", sa.Text, primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        *_calendar(),
        sa.Column("internet_message_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("from_address", sa.Text),
        sa.Column("contact_ids", json_list(), nullable=False),
        sa.Column("contact_emails", json_list(), nullable=False),
        sa.Column("internal_participants", json_list(), nullable=False),
        sa.Column("seen_in_mailboxes", json_list(), nullable=False),
        sa.Index("ix_email_engagements_tenant_day", "tenant_id", "partition_day"),
        sa.Index("ix_email_engagements_tenant_account_sent", "tenant_id", "account_id", "sent_at"),
        sa.Index("ix_email_engagements_tenant_thread", "tenant_id", "thread_id"),
        sa.Index("ix_email_engagements_tenant_local_day", "tenant_id", "local_day"),
    )
    sa.Table(
        "meeting_engagements",
        md,
        _tenant(),
        sa.Column("meeting_key", sa.Text, primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        *_calendar(),
        sa.Column("ical_uid", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("start_at", UTCDateTime, nullable=False),
        sa.Column("end_at", UTCDateTime, nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("all_day", sa.Boolean, nullable=False),
        sa.Column("organizer_email", sa.Text),
        sa.Column("accepted_contact_ids", json_list(), nullable=False),
        sa.Column("declined_contact_ids", json_list(), nullable=False),
        sa.Column("tentative_contact_ids", json_list(), nullable=False),
        sa.Column("internal_attendees", json_list(), nullable=False),
        sa.Column("recurring", sa.Boolean, nullable=False),
        sa.Column("seen_in_calendars", json_list(), nullable=False),
        sa.Index("ix_meeting_engagements_tenant_day", "tenant_id", "partition_day"),
        sa.Index(
            "ix_meeting_engagements_tenant_account_start", "tenant_id", "account_id", "start_at"
        ),
        sa.Index("ix_meeting_engagements_tenant_local_day", "tenant_id", "local_day"),
    )
    sa.Table(
        "account_engagement_daily",
        md,
        _tenant(),
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("local_day", sa.Date, primary_key=True),
        sa.Column("local_week", sa.Date, nullable=False),
        sa.Column("emails_in", sa.Integer, nullable=False),
        sa.Column("emails_out", sa.Integer, nullable=False),
        sa.Column("meetings", sa.Integer, nullable=False),
        sa.Column("meeting_minutes", sa.Integer, nullable=False),
        sa.Column("distinct_contacts", sa.Integer, nullable=False),
        sa.Column("distinct_internal_people", sa.Integer, nullable=False),
        sa.Column("first_touch_at", UTCDateTime, nullable=False),
        sa.Column("last_touch_at", UTCDateTime, nullable=False),
        sa.Index("ix_account_engagement_daily_tenant_day", "tenant_id", "local_day"),
    )
    sa.Table(
        "contact_engagement",
        md,
        _tenant(),
        sa.Column("contact_id", sa.String(128), primary_key=True),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("last_inbound_at", UTCDateTime),
        sa.Column("last_outbound_at", UTCDateTime),
        sa.Column("last_meeting_at", UTCDateTime),
        *(
            sa.Column(f"{kind}_{days}d", sa.Integer, nullable=False)
            for kind in ("emails", "meetings")
            for days in (7, 30, 90)
        ),
    )
    sa.Table(
        "back_synced_days",
        md,
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Index("ix_back_synced_days_tenant", "tenant_id"),
    )
    sa.Table(
        "crm_versions",
        md,
        _tenant(),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
    )


def upgrade() -> None:
    md = sa.MetaData()
    add_tables(md)
    md.create_all(op.get_bind())
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("series_id", sa.Text))


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
