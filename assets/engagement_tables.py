"""Rebuilds one tenant-day of `email_engagements` and `meeting_engagements` from the `emails`
and `meetings` rows of that UTC day.

A rebuild replaces the day's rows of both tables in one transaction, so an analyst never reads
a day half rebuilt, and a contact removed from the CRM loses its engagements at the next rebuild
(nothing is patched in place). Only the tenant and day asked for are touched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from assets.engagement_rows import build_email_engagements, build_meeting_engagements
from resources.registry.engagement_context import EngagementContext, load_engagement_context
from resources.warehouse import Warehouse

TABLES = ("email_engagements", "meeting_engagements")


@dataclass(frozen=True)
class EngagementRebuild:
    """What one tenant-day's rebuild read and wrote."""

    tenant_id: str
    day: date
    emails_read: int
    meetings_read: int
    email_rows: int
    meeting_rows: int
    email_accounts: frozenset[str] = frozenset()
    """Accounts a message of the day engaged."""
    meeting_accounts: frozenset[str] = frozenset()
    emails_not_engaged: Counter[str] = field(default_factory=Counter)
    """Exclusion value -> messages of the day that engaged no account, by the rule."""
    meetings_not_engaged: Counter[str] = field(default_factory=Counter)


def _day_rows(warehouse: Warehouse, table: str, tenant_id: str, day: date) -> list[dict[str, Any]]:
    source = warehouse.table(table)
    query = source.select().where(source.c.tenant_id == tenant_id, source.c.partition_day == day)
    with warehouse.engine.connect() as db:
        return [dict(r) for r in db.execute(query).mappings()]


def rebuild_engagements(
    warehouse: Warehouse,
    tenant_id: str,
    day: date,
    now: datetime,
    ctx: EngagementContext | None = None,
) -> EngagementRebuild:
    """Replaces the tenant-day's engagement rows with what the rules say of its `emails` and
    `meetings` rows as of `now` (which meetings have started).

    `ctx`: the tenant's rule inputs, when the caller rebuilds several days of one tenant and
    loaded them once; read here otherwise (an unknown tenant raises UnknownTenantError).
    """
    if ctx is None:
        ctx = load_engagement_context(warehouse, tenant_id)
    mail = build_email_engagements(_day_rows(warehouse, "emails", tenant_id, day), ctx)
    meetings = build_meeting_engagements(_day_rows(warehouse, "meetings", tenant_id, day), ctx, now)
    with warehouse.write() as db:
        for name, rows in zip(TABLES, (mail.rows, meetings.rows), strict=True):
            target = warehouse.table(name)
            db.execute(
                target.delete().where(
                    target.c.tenant_id == tenant_id, target.c.partition_day == day
                )
            )
            if rows:
                # executemany: SQLAlchemy batches the rows into multi-row INSERTs.
                db.execute(sa.insert(target), rows)
    return EngagementRebuild(
        tenant_id=tenant_id,
        day=day,
        emails_read=mail.read,
        meetings_read=meetings.read,
        email_rows=len(mail.rows),
        meeting_rows=len(meetings.rows),
        email_accounts=frozenset(mail.accounts),
        meeting_accounts=frozenset(meetings.accounts),
        emails_not_engaged=mail.not_engaged,
        meetings_not_engaged=meetings.not_engaged,
    )
