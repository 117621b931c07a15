"""The live warehouse schema: what `Warehouse.tables` exposes and the migrations must produce.

The registry and CRM tables are spelled out here; each stream's tables come from its
`StreamTables` entry (resources/schema/streams.py). A schema change edits these modules and adds
an Alembic revision; tests/test_migrations.py fails when the two disagree.
"""

from __future__ import annotations

import sqlalchemy as sa

from resources.schema.column_types import UTCDateTime, big_serial, json_list, tenant_id_column
from resources.schema.streams import STREAM_TABLES, add_stream_tables


def _add_registry_tables(md: sa.MetaData) -> None:
    """Tenants, connections, their status history and missed windows."""
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
        tenant_id_column(),
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
        sa.Column("id", big_serial(), primary_key=True),
        tenant_id_column(),
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
        sa.Column("id", big_serial(), primary_key=True),
        tenant_id_column(),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("window_start", UTCDateTime, nullable=False),
        sa.Column("window_end", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("cause_code", sa.Text),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("recovered_at", UTCDateTime),
        # The incident the window was (last) missed in; no foreign key, see revision 0006.
        sa.Column("incident_id", sa.BigInteger),
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
        sa.Index("ix_missed_windows_incident", "tenant_id", "incident_id"),
    )


def _add_incident_tables(md: sa.MetaData) -> None:
    """Incidents (a connection away from `active` until its gap is recovered) and the
    notifications sent about them."""
    sa.Table(
        "incidents",
        md,
        sa.Column("incident_id", big_serial(), primary_key=True),
        tenant_id_column(),
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
        tenant_id_column(),
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


def _add_reconnect_tables(md: sa.MetaData) -> None:
    """The server-side state of reconnect authorizations (by OAuth `state`) and the reconnect
    links already used, which makes each link single-use."""
    sa.Table(
        "reconnect_flows",
        md,
        sa.Column("state", sa.String(128), primary_key=True),
        tenant_id_column(),
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
        tenant_id_column(),
        sa.Column("connection_id", sa.String(32), nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.connection_id"],
            name="fk_reconnect_link_uses_connection",
        ),
    )


def _add_change_tracking_tables(md: sa.MetaData) -> None:
    """Where each connection stands in its provider's change feed, and the tenant-days whose
    deduplicated rows a change outside a run's own days left stale."""
    sa.Table(
        "change_cursors",
        md,
        tenant_id_column(primary_key=True),
        sa.Column("connection_id", sa.String(32), primary_key=True),
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("cursor", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"], ["connections.connection_id"], name="fk_change_cursors_connection"
        ),
    )
    sa.Table(
        "pending_rebuilds",
        md,
        tenant_id_column(primary_key=True),
        sa.Column("table_name", sa.String(32), primary_key=True),
        sa.Column("partition_day", sa.Date, primary_key=True),
        sa.Column("marked_at", UTCDateTime, nullable=False),
    )


def _add_crm_tables(md: sa.MetaData) -> None:
    """Each tenant's CRM accounts, contacts and which accounts each contact belongs to (a
    contact may be in several), which decide what counts as an engagement."""
    sa.Table(
        "accounts",
        md,
        tenant_id_column(primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("domains", json_list(), nullable=False),
    )
    sa.Table(
        "contacts",
        md,
        tenant_id_column(primary_key=True),
        sa.Column("contact_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.Text),
        sa.Column("email", sa.Text, nullable=False),
        sa.Index("ix_contacts_tenant_email", "tenant_id", "email"),
    )
    sa.Table(
        "account_contacts",
        md,
        tenant_id_column(primary_key=True),
        sa.Column("account_id", sa.String(128), primary_key=True),
        sa.Column("contact_id", sa.String(128), primary_key=True),
        sa.Index("ix_account_contacts_tenant_contact", "tenant_id", "contact_id"),
    )


def _tenant_key() -> sa.Column:
    return sa.Column("tenant_id", sa.String(63), primary_key=True)


def _calendar() -> list[sa.Column]:
    return [
        sa.Column("partition_day", sa.Date, nullable=False),
        sa.Column("local_day", sa.Date, nullable=False),
        sa.Column("local_week", sa.Date, nullable=False),
    ]


def _add_engagement_tables(md: sa.MetaData) -> None:
    """What analysts query (docs/analytics.md): engagements per message or meeting and CRM
    account, the daily and per-contact rollups, and the back-synced days and CRM versions
    that decide them."""
    sa.Table(
        "email_engagements",
        md,
        _tenant_key(),
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
        _tenant_key(),
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
        _tenant_key(),
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
        _tenant_key(),
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
        _tenant_key(),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
    )


def schema_metadata() -> sa.MetaData:
    """The current schema, as a fresh MetaData."""
    md = sa.MetaData()
    _add_registry_tables(md)
    _add_incident_tables(md)
    _add_reconnect_tables(md)
    _add_crm_tables(md)
    _add_engagement_tables(md)
    _add_change_tracking_tables(md)
    for spec in STREAM_TABLES:
        add_stream_tables(md, spec)
    return md
