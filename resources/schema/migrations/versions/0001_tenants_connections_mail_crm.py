"""Schema version 1: tenants, connections, status history, missed windows, raw mail, CRM.

Frozen history: this is what the hand-written runner's migration 1 created (databases it built
are stamped with this revision). Never edit it; change the schema with a new revision.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime, big_serial, json_list

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tenant_id(**kwargs: object) -> sa.Column:
    return sa.Column("tenant_id", sa.String(63), nullable=False, **kwargs)


def _autoinc_id() -> sa.Column:
    return sa.Column("id", big_serial(), primary_key=True)


def add_tables(md: sa.MetaData) -> None:
    """The version-1 tables (the tests also build a runner-era database from these)."""
    sa.Table(
        "tenants",
        md,
        sa.Column("tenant_id", sa.String(63), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("internal_domains", json_list(), nullable=False),
        sa.Column("blocked_domains", json_list(), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    sa.Table(
        "connections",
        md,
        sa.Column("connection_id", sa.String(32), primary_key=True),
        _tenant_id(),
        sa.Column("owner_email", sa.Text, nullable=False),
        sa.Column("aliases", json_list(), nullable=False),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("scopes", json_list(), nullable=False),
        sa.Column("authorized_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_changed_at", UTCDateTime, nullable=False),
        sa.Column("status_cause_code", sa.Text),
        sa.Column("status_explanation", sa.Text),
        sa.Column("refresh_token_encrypted", sa.Text, nullable=False),
        sa.Column("token_cache_encrypted", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.tenant_id"], name="fk_connections_tenant"),
        sa.UniqueConstraint(
            "tenant_id", "provider", "owner_email", name="uq_connections_tenant_provider_owner"
        ),
        sa.Index("ix_connections_tenant_status", "tenant_id", "status"),
    )
    sa.Table(
        "connection_status_history",
        md,
        _autoinc_id(),
        _tenant_id(),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("previous_status", sa.String(32)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("explanation", sa.Text),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_status_history_connection"
        ),
        sa.Index("ix_status_history_connection", "tenant_id", "connection_id", "changed_at"),
    )
    sa.Table(
        "missed_windows",
        md,
        _autoinc_id(),
        _tenant_id(),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recovered_at", UTCDateTime),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_missed_windows_connection"
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "connection_id",
            "window_start",
            "window_end",
            name="uq_missed_windows_window",
        ),
    )
    sa.Table(
        "raw_emails",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("provider_message_id", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("internet_message_id", sa.Text),
        sa.Column("thread_id", sa.Text),
        sa.Column("subject", sa.Text),
        sa.Column("from_address", sa.Text),
        sa.Column("from_name", sa.Text),
        sa.Column("to_addresses", json_list(), nullable=False),
        sa.Column("cc_addresses", json_list(), nullable=False),
        sa.Column("bcc_addresses", json_list(), nullable=False),
        sa.Column("in_reply_to", sa.Text),
        sa.Column("labels", json_list(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("header_defects", json_list(), nullable=False),
        sa.Column("synced_at", UTCDateTime, nullable=False),
        sa.Index("ix_raw_emails_tenant_day", "tenant_id", "partition_day"),
        sa.Index("ix_raw_emails_tenant_imid", "tenant_id", "internet_message_id"),
    )
    sa.Table(
        "quarantined_messages",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("provider_message_id", sa.Text, primary_key=True),
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("excerpt", sa.Text),
        sa.Column("received_at", UTCDateTime),
        sa.Column("quarantined_at", UTCDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Index("ix_quarantined_tenant_day", "tenant_id", "partition_day"),
    )
    sa.Table(
        "sync_log",
        md,
        _tenant_id(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(64), primary_key=True),
        *(
            sa.Column(name, sa.Integer, nullable=False, server_default="0")
            for name in ("listed", "already_held", "fetched", "vanished", "quarantined")
        ),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        *(
            sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
            for name in ("api_calls", "http_requests", "quota_units")
        ),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    sa.Table(
        "accounts",
        md,
        _tenant_id(primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("domains", json_list(), nullable=False),
    )
    sa.Table(
        "contacts",
        md,
        _tenant_id(primary_key=True),
        sa.Column("contact_id", sa.String(128), primary_key=True),
        sa.Column("account_id", sa.String(128)),
        sa.Column("name", sa.Text),
        sa.Column("email", sa.Text, nullable=False),
        sa.Index("ix_contacts_tenant_email", "tenant_id", "email"),
    )


def upgrade() -> None:
    md = sa.MetaData()
    add_tables(md)
    md.create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
