"""Schema version 7: reconnect flows (the server-side state of each OAuth authorization started
from a reconnect link, keyed by its `state`) and the links already used to reconnect.

Frozen history once released. Never edit it after that.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def add_tables(md: sa.MetaData) -> None:
    """The tables version 7 adds."""
    sa.Table(
        "reconnect_flows",
        md,
        sa.Column("state", sa.String(128), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("link_nonce", sa.String(64), nullable=False),
        sa.Column("flow_encrypted", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("outcome", sa.String(32)),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_reconnect_flows_connection"
        ),
        sa.Index("ix_reconnect_flows_connection", "tenant_id", "connection_id"),
    )
    sa.Table(
        "reconnect_link_uses",
        md,
        sa.Column("link_nonce", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name="fk_reconnect_link_uses_connection",
        ),
    )


def upgrade() -> None:
    conn = op.get_bind()
    md = sa.MetaData()
    sa.Table("connections", md, autoload_with=conn)  # the foreign keys' target
    add_tables(md)
    md.tables["reconnect_flows"].create(conn)
    md.tables["reconnect_link_uses"].create(conn)


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
