"""The warehouse schema and the versioned migrations that build it.

`schema_metadata()` is the schema as the code uses it today. Each migration is a frozen step:
migration 1 creates the tables exactly as `_v1_metadata()` defines them, and must never change
once released. A later schema change edits `schema_metadata()` and appends a step to
`MIGRATIONS` that moves a version-(n-1) database to version n; the test that compares a migrated
database with `schema_metadata()` catches a step that was forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


def to_utc(value: datetime) -> datetime:
    """`value` in UTC; naive datetimes are refused because their zone is a guess."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: Touchpoint stores timezone-aware UTC datetimes only")
    return value.astimezone(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp that is timezone-aware UTC going in and coming out, on every backend.

    PostgreSQL stores TIMESTAMPTZ and answers in the session zone; SQLite has no zone at all, so
    values are stored as naive UTC text and given their UTC zone back when read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_list() -> sa.types.TypeEngine:
    """A JSON column (JSONB on PostgreSQL) where Python None is SQL NULL, not JSON 'null'."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _autoinc_id() -> sa.Column:
    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)


def _tenant_id(**kwargs: object) -> sa.Column:
    return sa.Column("tenant_id", sa.String(63), nullable=False, **kwargs)


def _v1_metadata() -> sa.MetaData:
    """Schema version 1. Frozen: migration 1 creates exactly this."""
    md = sa.MetaData()
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
    return md


def _add_v2_tables(md: sa.MetaData) -> None:
    """Schema version 2 (frozen): meetings, and one row per real-world message and meeting."""
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


STREAMS = ("mail", "calendar")
"""What a connection syncs; each stream misses and recovers its windows on its own."""


def _missed_windows_v3(md: sa.MetaData, name: str = "missed_windows") -> sa.Table:
    """Schema version 3 (frozen): missed windows per stream, so a calendar failure is not
    closed by the same window's mail succeeding."""
    return sa.Table(
        name,
        md,
        _autoinc_id(),
        _tenant_id(),
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


def schema_metadata() -> sa.MetaData:
    """The current schema: what `Warehouse.tables` exposes and migrations must produce."""
    md = _v1_metadata()
    md.remove(md.tables["missed_windows"])
    _add_v2_tables(md)
    _missed_windows_v3(md)
    return md


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _create_v1(conn: sa.Connection) -> None:
    _v1_metadata().create_all(conn)


def _create_v2(conn: sa.Connection) -> None:
    md = sa.MetaData()
    _add_v2_tables(md)
    md.create_all(conn)


def _apply_v3(conn: sa.Connection) -> None:
    """Rebuild missed_windows with a stream column; the windows recorded so far were mail's."""
    md = sa.MetaData()
    sa.Table("connections", md, autoload_with=conn)  # the foreign key's target
    new = _missed_windows_v3(md, "missed_windows_v3")
    new.create(conn)
    old = sa.Table("missed_windows", sa.MetaData(), autoload_with=conn)
    copied = [c.name for c in old.c if c.name != "id"]
    conn.execute(
        new.insert().from_select(
            [*copied, "stream"], sa.select(*(old.c[n] for n in copied), sa.literal("mail"))
        )
    )
    old.drop(conn)
    conn.exec_driver_sql("ALTER TABLE missed_windows_v3 RENAME TO missed_windows")


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tenants, connections, status history, missed windows, raw mail, CRM", _create_v1),
    Migration(2, "raw meetings, deduplicated emails and meetings, calendar sync log", _create_v2),
    Migration(3, "missed windows per stream (mail, calendar)", _apply_v3),
)
"""Every migration, in version order; versions are 1, 2, 3, ... without gaps."""

SCHEMA_MIGRATIONS = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
"""Bookkeeping of applied migrations; created before any migration runs."""
