"""Hand-written engagement detail rows for the rollup and check tests: a tenant with a CRM in a
time zone, and rows inserted straight into email_engagements / meeting_engagements (as the
detail assets would write them), with their calendar columns derived from the instant."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from assets.engagement_rollups_logic import local_week
from resources.registry import TenantStore
from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot
from resources.warehouse import Warehouse

ACCOUNTS = (CrmAccount("acc-1", "Globex", ("globex.example",)), CrmAccount("acc-2", "Initech", ()))
CONTACTS = (
    CrmContact("c-1", "Ann", "ann@globex.example", ("acc-1",)),
    CrmContact("c-2", "Bob", "bob@globex.example", ("acc-1", "acc-2")),
    CrmContact("c-3", "Cy", "cy@initech.example", ("acc-2",)),
    CrmContact("c-4", "Di", "di@initech.example", ("acc-2",)),
)
EMAILS = {c.contact_id: c.email for c in CONTACTS}


def add_tenant(warehouse: Warehouse, tenant_id: str, time_zone: str) -> ZoneInfo:
    """A tenant on internal domain <tenant>.example with the CRM above; returns its zone."""
    store = TenantStore(warehouse)
    store.add_tenant(tenant_id, tenant_id, [f"{tenant_id}.example"], time_zone=time_zone)
    store.replace_crm(tenant_id, CrmSnapshot(ACCOUNTS, CONTACTS))
    return ZoneInfo(time_zone)


def _calendar(at: datetime, zone: ZoneInfo) -> dict[str, Any]:
    local_day = at.astimezone(zone).date()
    return {
        "partition_day": at.astimezone(UTC).date(),
        "local_day": local_day,
        "local_week": local_week(local_day),
    }


def email(
    tenant_id: str,
    zone: ZoneInfo,
    key: str,
    sent_at: datetime,
    account_id: str = "acc-1",
    contacts: Iterable[str] = ("c-1",),
    direction: str = "inbound",
    internal: Iterable[str] | None = None,
    contact_emails: Iterable[str] | None = None,
) -> dict[str, Any]:
    contacts = sorted(contacts)
    internal = sorted(internal if internal is not None else [f"rep@{tenant_id}.example"])
    return {
        "tenant_id": tenant_id,
        "email_key": key,
        "account_id": account_id,
        **_calendar(sent_at, zone),
        "internet_message_id": f"<{key}@mail.example>",
        "thread_id": f"thread-{key}",
        "subject": f"Subject {key}",
        "sent_at": sent_at,
        "direction": direction,
        "from_address": internal[0] if direction == "outbound" else EMAILS[contacts[0]],
        "contact_ids": contacts,
        "contact_emails": sorted(
            contact_emails if contact_emails is not None else [EMAILS[c] for c in contacts]
        ),
        "internal_participants": internal,
        "seen_in_mailboxes": ["conn-1"],
    }


def meeting(
    tenant_id: str,
    zone: ZoneInfo,
    key: str,
    start_at: datetime,
    minutes: int = 30,
    account_id: str = "acc-1",
    accepted: Iterable[str] = ("c-1",),
    declined: Iterable[str] = (),
    internal: Iterable[str] | None = None,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "meeting_key": key,
        "account_id": account_id,
        **_calendar(start_at, zone),
        "ical_uid": f"{key}@calendar.example",
        "subject": f"Meeting {key}",
        "start_at": start_at,
        "end_at": start_at + timedelta(minutes=minutes),
        "duration_minutes": minutes,
        "all_day": False,
        "organizer_email": f"rep@{tenant_id}.example",
        "accepted_contact_ids": sorted(accepted),
        "declined_contact_ids": sorted(declined),
        "tentative_contact_ids": [],
        "internal_attendees": sorted(
            internal if internal is not None else [f"rep@{tenant_id}.example"]
        ),
        "recurring": False,
        "seen_in_calendars": ["conn-1"],
    }


def insert(warehouse: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    with warehouse.write() as conn:
        conn.execute(sa.insert(warehouse.table(table)), rows)


def rows_of(warehouse: Warehouse, table: str, tenant_id: str | None = None) -> list[dict]:
    """A table's rows (of one tenant), sorted by primary key, as dicts."""
    t = warehouse.table(table)
    query = sa.select(t).order_by(*t.primary_key.columns)
    if tenant_id is not None:
        query = query.where(t.c.tenant_id == tenant_id)
    with warehouse.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def at(text: str) -> datetime:
    """An aware UTC instant from 'YYYY-MM-DDTHH:MM'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
