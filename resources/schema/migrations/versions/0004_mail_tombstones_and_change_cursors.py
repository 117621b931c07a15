"""Schema version 4: the mail side mirrors the mailbox.

raw_emails rows get a tombstone (`removed_at`, `removed_reason`) instead of being deleted when
their message leaves the synced folders; `change_cursors` keeps each connection's position in
its provider's change feed (Gmail historyId, Graph delta link per folder); `pending_rebuilds`
names the tenant-days whose deduplicated rows must be rebuilt because a change feed touched raw
rows outside the run's own days; sync_log counts the tombstones of each run.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: both SQLite and PostgreSQL do them in place.
    op.add_column("raw_emails", sa.Column("removed_at", UTCDateTime))
    op.add_column("raw_emails", sa.Column("removed_reason", sa.String(16)))
    op.add_column("sync_log", sa.Column("removed", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "change_cursors",
        sa.Column("tenant_id", sa.String(63), nullable=False, primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_change_cursors_connection"
        ),
    )
    op.create_table(
        "pending_rebuilds",
        sa.Column("tenant_id", sa.String(63), nullable=False, primary_key=True),
        sa.Column("table_name", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("marked_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
