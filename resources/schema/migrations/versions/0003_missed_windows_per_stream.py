"""Schema version 3: missed windows per stream, so a calendar failure is not closed by the same
window's mail succeeding. The windows recorded before were all mail's.

Frozen history: this is what the hand-written runner's migration 3 did. Never edit it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime, big_serial

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _missed_windows(md: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        md,
        sa.Column("id", big_serial(), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recovered_at", UTCDateTime),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name="fk_missed_windows_stream_connection",
        ),
        sa.UniqueConstraint(
            "tenant_id",
            "connection_id",
            "stream",
            "window_start",
            "window_end",
            name="uq_missed_windows_stream_window",
        ),
    )


def upgrade() -> None:
    """Rebuild missed_windows with a stream column (copy, drop, rename: SQLite cannot add a
    column to a unique constraint in place)."""
    conn = op.get_bind()
    md = sa.MetaData()
    sa.Table("connections", md, autoload_with=conn)  # the foreign key's target
    new = _missed_windows(md, "missed_windows_v3")
    new.create(conn)
    old = sa.Table("missed_windows", sa.MetaData(), autoload_with=conn)
    copied = [c.name for c in old.c if c.name != "id"]
    conn.execute(
        new.insert().from_select(
            [*copied, "stream"], sa.select(*(old.c[n] for n in copied), sa.literal("mail"))
        )
    )
    old.drop(conn)
    op.rename_table("missed_windows_v3", "missed_windows")


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
