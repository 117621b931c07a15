"""The engagement rollup tables in the warehouse: `account_engagement_daily` rebuilt for the
local days a UTC day touches, `contact_engagement` rebuilt per tenant, each in one transaction
(readers see the old rows or the new ones, never a mix).

JSON lists are read back as Python lists and counted here, not in SQL: SQLite's json_each and
PostgreSQL's jsonb functions differ, and a tenant-day's detail rows are few.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from assets.engagement_rollups_logic import (
    EmailTouch,
    MeetingTouch,
    account_daily_rows,
    contact_engagement_rows,
    local_date,
    local_days_of_utc_day,
)
from resources.registry import TenantStore
from resources.warehouse import Warehouse

ACCOUNT_DAILY = "account_engagement_daily"
CONTACT_ENGAGEMENT = "contact_engagement"


@dataclass(frozen=True)
class RollupCounts:
    """What one rebuild did: the local days (or 1 for a tenant) it covered, rows written, rows
    it replaced."""

    local_days: int
    rows: int
    removed: int


def tenant_zone(warehouse: Warehouse, tenant_id: str) -> ZoneInfo:
    """The tenant's time zone (an unknown tenant raises UnknownTenantError)."""
    return ZoneInfo(TenantStore(warehouse).get_tenant(tenant_id).time_zone)


def _rows_on(
    warehouse: Warehouse,
    conn: sa.Connection,
    table: str,
    columns: Sequence[str],
    tenant_id: str,
    local_days: Sequence[date] | None,
) -> list[sa.Row]:
    """`columns` of the tenant's rows of `table` on `local_days` (every day for None)."""
    t = warehouse.table(table)
    query = sa.select(*(t.c[c] for c in columns)).where(t.c.tenant_id == tenant_id)
    if local_days is not None:
        query = query.where(t.c.local_day.in_(list(local_days)))
    return list(conn.execute(query))


EMAIL_TOUCH_COLUMNS = ("email_key", "account_id", "local_day", "sent_at", "direction")
MEETING_TOUCH_COLUMNS = ("meeting_key", "account_id", "local_day", "start_at", "duration_minutes")


def email_touches(
    warehouse: Warehouse, conn: sa.Connection, tenant_id: str, local_days: Sequence[date] | None
) -> list[EmailTouch]:
    """The tenant's email_engagements rows on `local_days` (every day for None)."""
    columns = (*EMAIL_TOUCH_COLUMNS, "contact_ids", "internal_participants")
    rows = _rows_on(warehouse, conn, "email_engagements", columns, tenant_id, local_days)
    return [EmailTouch(*r[:5], tuple(r[5]), tuple(r[6])) for r in rows]


def meeting_touches(
    warehouse: Warehouse, conn: sa.Connection, tenant_id: str, local_days: Sequence[date] | None
) -> list[MeetingTouch]:
    """The tenant's meeting_engagements rows on `local_days` (every day for None)."""
    columns = (*MEETING_TOUCH_COLUMNS, "accepted_contact_ids", "internal_attendees")
    rows = _rows_on(warehouse, conn, "meeting_engagements", columns, tenant_id, local_days)
    return [MeetingTouch(*r[:5], tuple(r[5]), tuple(r[6])) for r in rows]


def expected_account_daily(
    warehouse: Warehouse, conn: sa.Connection, tenant_id: str, local_days: Sequence[date]
) -> list[dict[str, Any]]:
    """The account_engagement_daily rows the detail tables imply for `local_days`."""
    return account_daily_rows(
        tenant_id,
        email_touches(warehouse, conn, tenant_id, local_days),
        meeting_touches(warehouse, conn, tenant_id, local_days),
    )


def stored_rows(
    warehouse: Warehouse,
    conn: sa.Connection,
    table_name: str,
    tenant_id: str,
    local_days: Sequence[date] | None = None,
) -> list[dict[str, Any]]:
    """A rollup table's rows of the tenant (on `local_days` only, when given), as dicts sorted
    by primary key, comparable with the expected rows."""
    t = warehouse.table(table_name)
    query = sa.select(t).where(t.c.tenant_id == tenant_id).order_by(*t.primary_key.columns)
    if local_days is not None:
        query = query.where(t.c.local_day.in_(list(local_days)))
    return [dict(r._mapping) for r in conn.execute(query)]


def rebuild_account_daily(
    warehouse: Warehouse, tenant_id: str, utc_day: date, zone: ZoneInfo | None = None
) -> RollupCounts:
    """Recompute the tenant's account_engagement_daily rows of every local day that overlaps
    the UTC day `utc_day`, from the detail rows of those local days (some of which belong to
    the neighbouring UTC days' partitions), and replace them in one transaction. A run over
    many days passes the tenant's `zone` once instead of reading it for every day."""
    days = local_days_of_utc_day(utc_day, zone or tenant_zone(warehouse, tenant_id))
    table = warehouse.table(ACCOUNT_DAILY)
    with warehouse.write() as conn:
        rows = expected_account_daily(warehouse, conn, tenant_id, days)
        removed = conn.execute(
            sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.local_day.in_(days))
        ).rowcount
        if rows:
            conn.execute(sa.insert(table), rows)
    return RollupCounts(local_days=len(days), rows=len(rows), removed=removed)


def crm_contacts(
    warehouse: Warehouse, conn: sa.Connection, tenant_id: str
) -> list[tuple[str, str]]:
    """(contact_id, email) of the tenant's CRM contacts."""
    t = warehouse.table("contacts")
    query = sa.select(t.c.contact_id, t.c.email).where(t.c.tenant_id == tenant_id)
    return [(r.contact_id, r.email) for r in conn.execute(query)]


def expected_contact_engagement(
    warehouse: Warehouse, conn: sa.Connection, tenant_id: str, as_of: date
) -> list[dict[str, Any]]:
    """The contact_engagement rows the CRM and the detail tables imply as of `as_of`."""
    return contact_engagement_rows(
        tenant_id,
        crm_contacts(warehouse, conn, tenant_id),
        email_touches(warehouse, conn, tenant_id, None),
        meeting_touches(warehouse, conn, tenant_id, None),
        as_of,
    )


def rebuild_contact_engagement(warehouse: Warehouse, tenant_id: str, now: datetime) -> RollupCounts:
    """Replace the tenant's contact_engagement rows, as of the tenant-local date of `now`, in
    one transaction (a contact removed from the CRM loses its row)."""
    as_of = local_date(now, tenant_zone(warehouse, tenant_id))
    table = warehouse.table(CONTACT_ENGAGEMENT)
    with warehouse.write() as conn:
        rows = expected_contact_engagement(warehouse, conn, tenant_id, as_of)
        removed = conn.execute(sa.delete(table).where(table.c.tenant_id == tenant_id)).rowcount
        if rows:
            conn.execute(sa.insert(table), rows)
    return RollupCounts(local_days=1, rows=len(rows), removed=removed)
