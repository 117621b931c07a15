"""Mail of one connection for one window: list, fetch only what is missing, parse, upsert.

Window-based and idempotent: what the warehouse already holds is never fetched again (anything
quarantined earlier is, for another try); running a window twice leaves the same tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime

from assets.tenant_sync import CONNECTION_KEY, ConnectionSyncResult, chunks, upsert_quarantine
from resources.providers import provider_kit
from resources.registry import Connection
from resources.warehouse import Warehouse
from vocabulary.connectors import MailConnector
from vocabulary.records import EmailRecord, QuarantinedRecord, is_syncable
from vocabulary.text import safe_excerpt
from vocabulary.windows import SyncWindow

MailConnectorFactory = Callable[[Connection], MailConnector]
"""Builds the mail connector of one connection (decrypting its credentials)."""

WRITE_CHUNK = 500
"""Rows per upsert while messages stream in: bounds memory and keeps progress on a failure."""

RAW_EMAIL_KEY = (*CONNECTION_KEY, "provider_message_id")


def email_row(tenant_id: str, connection_id: str, rec: EmailRecord, now: datetime) -> dict:
    row = asdict(rec)
    row.update(
        tenant_id=tenant_id,
        connection_id=connection_id,
        partition_day=rec.received_at.astimezone(UTC).date(),
        synced_at=now,
    )
    return row


def _quarantine_row(
    tenant_id: str, connection_id: str, q: QuarantinedRecord, window: SyncWindow, now: datetime
) -> dict:
    received = q.received_at or window.start
    return {
        "tenant_id": tenant_id,
        "connection_id": connection_id,
        "provider_message_id": q.provider_message_id,
        "partition_day": received.astimezone(UTC).date(),
        "reason": q.reason,
        "excerpt": q.excerpt,
        "received_at": q.received_at,
        "quarantined_at": now,
        "attempts": 1,
    }


def _refused_row(row: dict, reason: str, now: datetime) -> dict:
    """The quarantine row of a parsed message the warehouse refused to store."""
    return {
        "tenant_id": row["tenant_id"],
        "connection_id": row["connection_id"],
        "provider_message_id": row["provider_message_id"],
        "partition_day": row["partition_day"],
        "reason": reason,
        "excerpt": safe_excerpt(str(row.get("subject") or "")),
        "received_at": row["received_at"],
        "quarantined_at": now,
        "attempts": 1,
    }


class EmailWindowSync:
    kind = "mail"

    def __init__(self, warehouse: Warehouse, connector_for: MailConnectorFactory) -> None:
        self.warehouse = warehouse
        self.connector_for = connector_for

    def sync(self, conn: Connection, window: SyncWindow, out: ConnectionSyncResult) -> None:
        connector = self.connector_for(conn)
        out.stats = connector.stats
        tenant_id = conn.tenant_id
        listed = connector.list_message_ids(window)
        out.listed = len(listed)
        held = self.warehouse.existing_keys(
            "raw_emails", tenant_id, conn.connection_id, "provider_message_id", listed
        )
        out.already_held = len(held)
        missing = [mid for mid in listed if mid not in held]
        returned: set[str] = set()
        parse = provider_kit(conn.provider).parse_message
        for chunk in chunks(connector.fetch_messages(missing), WRITE_CHUNK):
            now = datetime.now(UTC)
            rows, quarantined = [], []
            for raw in chunk:
                returned.add(raw.provider_message_id)
                parsed = parse(raw)
                if isinstance(parsed, QuarantinedRecord):
                    quarantined.append(
                        _quarantine_row(tenant_id, conn.connection_id, parsed, window, now)
                    )
                elif not is_syncable(parsed.labels):
                    out.skipped_labels += 1
                else:
                    rows.append(email_row(tenant_id, conn.connection_id, parsed, now))
            out.fetched += len(chunk)
            if rows:
                refused = self.warehouse.upsert_or_refuse("raw_emails", rows, RAW_EMAIL_KEY)
                for row, reason in refused:
                    # Parsed, but the database will not store it: kept for another try.
                    quarantined.append(_refused_row(row, reason, now))
                refused_ids = {row["provider_message_id"] for row, _ in refused}
                rows = [r for r in rows if r["provider_message_id"] not in refused_ids]
            out.synced += len(rows)
            out.quarantined += len(quarantined)
            upsert_quarantine(
                self.warehouse,
                "quarantined_messages",
                "provider_message_id",
                quarantined,
                [r["provider_message_id"] for r in rows],
                tenant_id,
                conn.connection_id,
            )
        out.vanished = len(missing) - len(returned)

    def log(
        self, out: ConnectionSyncResult, window: SyncWindow, run_id: str, started: datetime
    ) -> None:
        self.warehouse.upsert(
            "sync_log",
            [
                {
                    "tenant_id": out.tenant_id,
                    "connection_id": out.connection_id,
                    "partition_day": window.start.date(),
                    "run_id": run_id,
                    "listed": out.listed,
                    "already_held": out.already_held,
                    "fetched": out.fetched,
                    "vanished": out.vanished,
                    "quarantined": out.quarantined,
                    "status": out.status,
                    "cause_code": out.cause_code,
                    "api_calls": out.stats.api_calls,
                    "http_requests": out.stats.http_requests,
                    "quota_units": out.stats.quota_units,
                    "started_at": started,
                    "finished_at": datetime.now(UTC),
                }
            ],
            (*CONNECTION_KEY, "partition_day", "run_id"),
        )
