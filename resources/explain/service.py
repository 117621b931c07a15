"""Reads what explaining one message or meeting needs and decides it: the one entry point the
CLI calls. An unknown tenant raises UnknownTenantError (from the engagement context)."""

from __future__ import annotations

from datetime import UTC, datetime

from resources.explain import reading
from resources.explain.deciding import decide_email, decide_meeting, normalize_message_id
from resources.explain.records import Explanation
from resources.registry.engagement_context import load_engagement_context
from resources.warehouse import Warehouse


def explain_message(warehouse: Warehouse, tenant_id: str, message_id: str) -> Explanation:
    """Why the message with this Message-ID (brackets optional) is or is not logged."""
    ctx = load_engagement_context(warehouse, tenant_id)
    mid = normalize_message_id(message_id)
    raw = reading.rows_where(warehouse, "raw_emails", tenant_id, "internet_message_id", mid)
    # The emails row lies on its earliest copy's day; where copies exist, only their days'
    # quarantine can hold another copy, else any day's can.
    days = {r["partition_day"] for r in raw} or None
    emails = (
        reading.rows_where(warehouse, "emails", tenant_id, "internet_message_id", mid, days)
        if days
        else []
    )
    quarantined = reading.quarantined_rows(warehouse, "quarantined_messages", tenant_id, days)
    keys = [r["email_key"] for r in emails] or [mid]
    engaged = reading.engaged_accounts_by_key(
        warehouse, "email_engagements", "email_key", tenant_id, keys
    )
    last_synced = reading.last_synced_days(warehouse, "sync_log", tenant_id)
    return decide_email(ctx, mid, raw, quarantined, emails, engaged, last_synced)


def explain_meeting(
    warehouse: Warehouse, tenant_id: str, ical_uid: str, now: datetime | None = None
) -> Explanation:
    """Why each held occurrence of this iCalUID is or is not logged, judged as of `now`."""
    ctx = load_engagement_context(warehouse, tenant_id)
    uid = ical_uid.strip()
    raw = reading.rows_where(warehouse, "raw_meetings", tenant_id, "ical_uid", uid)
    # Not limited to the copies' days: a cancelled event's copies are deleted, and meetings
    # keeps the occurrence until it is rebuilt, which the explanation must show.
    meetings = reading.rows_where(warehouse, "meetings", tenant_id, "ical_uid", uid)
    days = {r["partition_day"] for r in raw} or None
    quarantined = reading.quarantined_rows(warehouse, "quarantined_events", tenant_id, days)
    engaged = reading.engaged_accounts_by_key(
        warehouse,
        "meeting_engagements",
        "meeting_key",
        tenant_id,
        [m["meeting_key"] for m in meetings],
    )
    last_synced = reading.last_synced_days(warehouse, "calendar_sync_log", tenant_id)
    return decide_meeting(
        ctx, uid, raw, quarantined, meetings, engaged, last_synced, now or datetime.now(UTC)
    )
