"""Meetings of one connection for one window: the calendar mirrored into raw_meetings.

Calendars change in place (reschedules, cancellations, new attendees), so each window is
mirrored rather than appended: every occurrence listed is upserted, cancelled ones with status
cancelled, and rows of the window the calendar no longer lists (moved to another day, deleted)
are removed. A rescheduled occurrence thus leaves its old day and appears on its new one. An
event the provider reports deleted without a time (`DeletedEvent`) cancels the rows held
under its id or series, whatever their day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

from assets.tenant_sync import CONNECTION_KEY, ConnectionSyncResult, upsert_quarantine
from resources.providers import provider_kit
from resources.registry import Connection
from resources.warehouse import Warehouse
from vocabulary.connectors import CalendarConnector
from vocabulary.records import DeletedEvent, MeetingRecord, QuarantinedRecord
from vocabulary.text import safe_excerpt
from vocabulary.windows import SyncWindow

CalendarConnectorFactory = Callable[[Connection], CalendarConnector]

RAW_MEETING_KEY = (*CONNECTION_KEY, "provider_event_id")


def meeting_row(tenant_id: str, connection_id: str, rec: MeetingRecord, now: datetime) -> dict:
    row = asdict(rec)
    row.update(
        tenant_id=tenant_id,
        connection_id=connection_id,
        partition_day=rec.start_at.astimezone(UTC).date(),
        synced_at=now,
    )
    return row


class MeetingWindowSync:
    kind = "calendar"

    def __init__(self, warehouse: Warehouse, connector_for: CalendarConnectorFactory) -> None:
        self.warehouse = warehouse
        self.connector_for = connector_for

    def sync(self, conn: Connection, window: SyncWindow, out: ConnectionSyncResult) -> None:
        connector = self.connector_for(conn)
        out.stats = connector.stats
        events = connector.list_events(window)
        out.listed = out.fetched = len(events)
        now = datetime.now(UTC)
        parse = provider_kit(conn.provider).parse_event
        rows, quarantined, deleted = [], [], set()
        for raw in events:
            parsed = parse(raw, conn.addresses)
            if isinstance(parsed, DeletedEvent):
                deleted.add(parsed.provider_event_id)
                continue
            if isinstance(parsed, QuarantinedRecord):
                quarantined.append(
                    {
                        "tenant_id": conn.tenant_id,
                        "connection_id": conn.connection_id,
                        "provider_event_id": parsed.provider_message_id,  # the event's id here
                        "partition_day": window.start.date(),
                        "reason": parsed.reason,
                        "excerpt": parsed.excerpt,
                        "quarantined_at": now,
                        "attempts": 1,
                    }
                )
                continue
            row = meeting_row(conn.tenant_id, conn.connection_id, parsed, now)
            if window.start <= parsed.start_at < window.end:
                rows.append(row)
        listed_ids = (
            {r["provider_event_id"] for r in rows}
            | {q["provider_event_id"] for q in quarantined}
            | deleted  # marked cancelled below, not removed
        )
        stale = self._held_ids(conn, window) - listed_ids
        if rows:
            # A held occurrence keeps its synced_at (when it was first synced): a calendar is
            # mirrored whole each run, and a resolved note counts only what a recovery brought.
            changed = [c for c in rows[0] if c not in RAW_MEETING_KEY and c != "synced_at"]
            refused = self.warehouse.upsert_or_refuse(
                "raw_meetings", rows, RAW_MEETING_KEY, changed
            )
            refused_ids = {row["provider_event_id"] for row, _ in refused}
            # Parsed, but the database will not store it: kept for another try.
            quarantined.extend(
                {
                    "tenant_id": conn.tenant_id,
                    "connection_id": conn.connection_id,
                    "provider_event_id": row["provider_event_id"],
                    "partition_day": window.start.date(),
                    "reason": reason,
                    "excerpt": safe_excerpt(str(row.get("subject") or "")),
                    "quarantined_at": now,
                    "attempts": 1,
                }
                for row, reason in refused
            )
            rows = [r for r in rows if r["provider_event_id"] not in refused_ids]
        if stale:
            self.warehouse.delete_keys(
                "raw_meetings",
                conn.tenant_id,
                conn.connection_id,
                "provider_event_id",
                sorted(stale),
            )
        if deleted:
            self._cancel_held(conn, deleted, now)
        upsert_quarantine(
            self.warehouse,
            "quarantined_events",
            "provider_event_id",
            quarantined,
            [r["provider_event_id"] for r in rows],
            conn.tenant_id,
            conn.connection_id,
        )
        out.synced = len(rows)
        out.removed = len(stale)
        out.quarantined = len(quarantined)

    def _cancel_held(self, conn: Connection, deleted: set[str], now: datetime) -> None:
        """Marks cancelled every row of this calendar held under a deleted event's id, or as an
        occurrence of a deleted series, on whatever day it was filed (the provider said when)."""
        table = self.warehouse.table("raw_meetings")
        ids = sorted(deleted)
        statement = (
            table.update()
            .where(
                table.c.tenant_id == conn.tenant_id,
                table.c.connection_id == conn.connection_id,
                table.c.provider_event_id.in_(ids) | table.c.series_id.in_(ids),
                table.c.status != "cancelled",
            )
            .values(status="cancelled", synced_at=now)
        )
        with self.warehouse.engine.begin() as db:
            db.execute(statement)

    def _held_ids(self, conn: Connection, window: SyncWindow) -> set[str]:
        table = self.warehouse.table("raw_meetings")
        query = (
            table.select()
            .with_only_columns(table.c.provider_event_id)
            .where(
                table.c.tenant_id == conn.tenant_id,
                table.c.connection_id == conn.connection_id,
                table.c.partition_day == window.start.date(),
            )
        )
        with self.warehouse.engine.connect() as db:
            return set(db.scalars(query))

    def log(
        self, out: ConnectionSyncResult, window: SyncWindow, run_id: str, started: datetime
    ) -> None:
        self.warehouse.upsert(
            "calendar_sync_log",
            [
                {
                    "tenant_id": out.tenant_id,
                    "connection_id": out.connection_id,
                    "partition_day": window.start.date(),
                    "run_id": run_id,
                    "listed": out.listed,
                    "synced": out.synced,
                    "removed": out.removed,
                    "quarantined": out.quarantined,
                    "status": out.status,
                    "cause_code": out.cause_code,
                    "api_calls": out.stats.api_calls,
                    "http_requests": out.stats.http_requests,
                    "started_at": started,
                    "finished_at": datetime.now(UTC),
                }
            ],
            (*CONNECTION_KEY, "partition_day", "run_id"),
        )
