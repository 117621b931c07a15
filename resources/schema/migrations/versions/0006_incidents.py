"""Schema version 6: incidents (a connection away from `active` until its gap is recovered), the
notifications sent about them, and each missed window's incident.

Connections already failing, or active with open missed windows, get their open incident here,
so the invariant "a failing connection has exactly one open incident" holds from the start.

Frozen history once released. Never edit it after that.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from resources.schema.column_types import UTCDateTime, big_serial

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_NOT_FAILING = ("active", "stopped")


def add_tables(md: sa.MetaData) -> None:
    """The tables version 6 adds."""
    sa.Table(
        "incidents",
        md,
        sa.Column("incident_id", big_serial(), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("changed_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime),
        sa.Column("closed_reason", sa.String(16)),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_incidents_connection"
        ),
        sa.Index("ix_incidents_tenant_connection", "tenant_id", "connection_id"),
        sa.Index("ix_incidents_changed", "changed_at", "incident_id"),
        # At most one open incident per connection, enforced by the database.
        sa.Index(
            "uq_incidents_open_per_connection",
            "connection_id",
            unique=True,
            sqlite_where=sa.text("closed_at IS NULL"),
            postgresql_where=sa.text("closed_at IS NULL"),
        ),
    )
    sa.Table(
        "incident_notifications",
        md,
        sa.Column("notification_id", big_serial(), primary_key=True),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("incident_id", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("error_code", sa.Text),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.incident_id"], name="fk_notifications_incident"
        ),
        sa.Index("ix_notifications_incident_kind", "tenant_id", "incident_id", "kind"),
    )


# The columns the backfill reads, typed as the code types them (reflection would hand SQLite's
# timestamps back naive).
_connections = sa.table(
    "connections",
    sa.column("tenant_id", sa.String),
    sa.column("connection_id", sa.String),
    sa.column("status", sa.String),
    sa.column("status_cause_code", sa.Text),
    sa.column("status_changed_at", UTCDateTime),
)
_windows = sa.table(
    "missed_windows",
    sa.column("tenant_id", sa.String),
    sa.column("connection_id", sa.String),
    sa.column("status", sa.String),
    sa.column("cause_code", sa.Text),
    sa.column("recorded_at", UTCDateTime),
    sa.column("recovered_at", UTCDateTime),
    sa.column("incident_id", sa.BigInteger),
)


def _open_existing_incidents(conn: sa.Connection, incidents: sa.Table) -> None:
    """One open incident per connection that is failing, or active with open missed windows;
    its open windows are linked to it."""
    connections, windows = _connections, _windows
    open_windows = (
        sa.select(
            windows.c.tenant_id,
            windows.c.connection_id,
            sa.func.min(windows.c.recorded_at).label("first_missed"),
            sa.func.max(windows.c.recorded_at).label("last_missed"),
        )
        .where(windows.c.recovered_at.is_(None))
        .group_by(windows.c.tenant_id, windows.c.connection_id)
        .subquery()
    )
    joined = connections.outerjoin(
        open_windows,
        sa.and_(
            open_windows.c.tenant_id == connections.c.tenant_id,
            open_windows.c.connection_id == connections.c.connection_id,
        ),
    )
    rows = conn.execute(
        sa.select(
            connections.c.tenant_id,
            connections.c.connection_id,
            connections.c.status,
            connections.c.status_cause_code,
            connections.c.status_changed_at,
            open_windows.c.first_missed,
            open_windows.c.last_missed,
        )
        .select_from(joined)
        .where(
            connections.c.status != "stopped",
            sa.or_(
                connections.c.status.not_in(_NOT_FAILING),
                open_windows.c.first_missed.is_not(None),
            ),
        )
    ).all()
    for row in rows:
        times = [t for t in (row.status_changed_at, row.first_missed, row.last_missed) if t]
        failing = row.status not in _NOT_FAILING
        # An active connection with open windows: the incident's status is the latest window's.
        status, cause = row.status, row.status_cause_code
        if not failing:
            status, cause = conn.execute(
                sa.select(windows.c.status, windows.c.cause_code)
                .where(
                    windows.c.tenant_id == row.tenant_id,
                    windows.c.connection_id == row.connection_id,
                    windows.c.recovered_at.is_(None),
                )
                .order_by(windows.c.recorded_at.desc())
                .limit(1)
            ).one()
        incident_id = conn.execute(
            sa.insert(incidents)
            .values(
                tenant_id=row.tenant_id,
                connection_id=row.connection_id,
                status=status,
                cause_code=cause,
                opened_at=min(times),
                last_seen_at=max(times),
                changed_at=max(times),
            )
            .returning(incidents.c.incident_id)
        ).scalar_one()
        conn.execute(
            sa.update(windows)
            .where(
                windows.c.tenant_id == row.tenant_id,
                windows.c.connection_id == row.connection_id,
                windows.c.recovered_at.is_(None),
            )
            .values(incident_id=incident_id)
        )


def upgrade() -> None:
    conn = op.get_bind()
    md = sa.MetaData()
    sa.Table("connections", md, autoload_with=conn)  # the foreign keys' target
    add_tables(md)
    md.tables["incidents"].create(conn)
    md.tables["incident_notifications"].create(conn)
    # No foreign key on the link: SQLite cannot add one to an existing table in place.
    op.add_column("missed_windows", sa.Column("incident_id", sa.BigInteger))
    op.create_index("ix_missed_windows_incident", "missed_windows", ["tenant_id", "incident_id"])
    _open_existing_incidents(conn, md.tables["incidents"])


def downgrade() -> None:
    raise NotImplementedError("Touchpoint migrates forward only; restore a backup to go back")
