"""Sync one tenant's mail for one window: the logic behind the raw_emails asset, free of Dagster.

Window-based and idempotent: list what each mailbox holds in the window, fetch only what the
warehouse lacks (plus anything quarantined earlier, for another try), upsert. A connection that
fails in an expected way gets its status and missed window recorded; the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice

from assets.email_parsing import is_syncable, parse_gmail_message
from assets.email_records import EmailRecord, QuarantinedRecord
from resources.provider import (
    CREDENTIAL_STATUSES,
    ApiStats,
    ConnectionFailure,
    ConnectionStatus,
    MailConnector,
    RawMessage,
    SyncWindow,
)
from resources.registry import Connection, Registry
from resources.warehouse import Warehouse

ConnectorFactory = Callable[[Connection, str], MailConnector]
"""Builds the connector of one connection from its decrypted refresh token."""

WRITE_CHUNK = 500
"""Rows per upsert while messages stream in: bounds memory and keeps progress on a failure."""

RAW_EMAIL_KEY = ("tenant_id", "connection_id", "provider_message_id")

PAYLOAD_PARSERS: dict[str, Callable[[RawMessage], EmailRecord | QuarantinedRecord]] = {
    "google": parse_gmail_message,
}
"""Each provider's payload parser; a connector exists only for providers listed here."""


@dataclass
class ConnectionSyncResult:
    """What happened to one connection in one window; becomes metadata and a sync_log row."""

    connection_id: str
    owner_email: str
    provider: str
    status: str
    listed: int = 0
    already_held: int = 0
    fetched: int = 0
    synced: int = 0
    skipped_labels: int = 0
    vanished: int = 0
    quarantined: int = 0
    cause_code: str | None = None
    explanation: str | None = None
    attempted: bool = True
    stats: ApiStats = field(default_factory=ApiStats)
    seconds: float = 0.0


@dataclass
class TenantSyncResult:
    tenant_id: str
    window: SyncWindow
    connections: list[ConnectionSyncResult] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(getattr(c, name) for c in self.connections)

    @property
    def stats(self) -> ApiStats:
        total = ApiStats()
        for c in self.connections:
            total.add(c.stats)
        return total


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


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


class TenantEmailSync:
    """Runs the window sync of every connection of one tenant."""

    def __init__(
        self,
        registry: Registry,
        warehouse: Warehouse,
        connector_for: ConnectorFactory,
        *,
        initial_lookback: timedelta = timedelta(days=7),
        log: logging.Logger | None = None,
    ) -> None:
        self.registry = registry
        self.warehouse = warehouse
        self.connector_for = connector_for
        self.initial_lookback = initial_lookback
        self.log = log or logging.getLogger(__name__)

    def sync(
        self, tenant_id: str, window: SyncWindow, *, run_id: str, explicit_backfill: bool = False
    ) -> TenantSyncResult:
        self.registry.get_tenant(tenant_id)  # an unknown tenant is a clear error, not an empty run
        result = TenantSyncResult(tenant_id, window)
        connections = self.registry.list_connections(tenant_id)
        self.log.info(
            "syncing %d connection(s) of tenant %s for [%s, %s)",
            len(connections),
            tenant_id,
            window.start.isoformat(),
            window.end.isoformat(),
        )
        for conn in connections:
            started = datetime.now(UTC)
            t0 = time.perf_counter()
            outcome = self._sync_connection(conn, window, explicit_backfill)
            outcome.seconds = time.perf_counter() - t0
            result.connections.append(outcome)
            if outcome.attempted:
                self._log_sync(tenant_id, outcome, window, run_id, started)
            self.log.info(
                "%s %s: status=%s listed=%d held=%d fetched=%d synced=%d quarantined=%d "
                "api_calls=%d quota_units=%d in %.1fs",
                tenant_id,
                conn.owner_email,
                outcome.status,
                outcome.listed,
                outcome.already_held,
                outcome.fetched,
                outcome.synced,
                outcome.quarantined,
                outcome.stats.api_calls,
                outcome.stats.quota_units,
                outcome.seconds,
            )
        return result

    def _sync_connection(
        self, conn: Connection, window: SyncWindow, explicit_backfill: bool
    ) -> ConnectionSyncResult:
        out = ConnectionSyncResult(conn.connection_id, conn.owner_email, conn.provider, conn.status)
        if conn.status == ConnectionStatus.STOPPED:
            out.attempted = False
            return out
        if conn.status in CREDENTIAL_STATUSES:
            # Only the owner can fix these; retrying a dead grant every hour achieves nothing.
            # The window is recorded so the reconnect can recover it.
            self.registry.record_missed_window(
                conn.connection_id,
                window.start,
                window.end,
                conn.status,
                conn.status_cause_code or conn.status,
            )
            out.attempted = False
            out.cause_code = conn.status_cause_code
            out.explanation = conn.status_explanation
            return out
        if not explicit_backfill and window.end <= conn.authorized_at - self.initial_lookback:
            out.attempted = False
            out.cause_code = "before_authorization"
            out.explanation = "older than the connection's initial look-back; backfill to sync it"
            return out

        connector: MailConnector | None = None
        try:
            connector = self.connector_for(conn, self.registry.refresh_token(conn.connection_id))
            self._sync_window(conn, connector, window, out)
        except ConnectionFailure as failure:
            out.status = failure.status.value
            out.cause_code = failure.cause_code
            out.explanation = failure.explanation
            self.registry.set_status(
                conn.connection_id, failure.status, failure.cause_code, failure.explanation
            )
            self.registry.record_missed_window(
                conn.connection_id, window.start, window.end, failure.status, failure.cause_code
            )
        else:
            out.status = ConnectionStatus.ACTIVE.value
            self.registry.mark_windows_recovered(conn.connection_id, window.start, window.end)
            if conn.status != ConnectionStatus.ACTIVE:
                self.registry.set_status(
                    conn.connection_id,
                    ConnectionStatus.ACTIVE,
                    "sync_succeeded",
                    "the mailbox synced normally again",
                )
        finally:
            if connector is not None:
                out.stats = connector.stats
        return out

    def _sync_window(
        self,
        conn: Connection,
        connector: MailConnector,
        window: SyncWindow,
        out: ConnectionSyncResult,
    ) -> None:
        tenant_id = conn.tenant_id
        listed = connector.list_message_ids(window)
        out.listed = len(listed)
        held = self.warehouse.existing_keys(
            "raw_emails", tenant_id, conn.connection_id, "provider_message_id", listed
        )
        out.already_held = len(held)
        missing = [mid for mid in listed if mid not in held]
        returned: set[str] = set()
        parse = PAYLOAD_PARSERS[conn.provider]
        for chunk in _chunks(connector.fetch_messages(missing), WRITE_CHUNK):
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
            out.synced += len(rows)
            out.quarantined += len(quarantined)
            self._write(tenant_id, conn.connection_id, rows, quarantined)
        out.vanished = len(missing) - len(returned)

    def _write(
        self, tenant_id: str, connection_id: str, rows: list[dict], quarantined: list[dict]
    ) -> None:
        if rows:
            self.warehouse.upsert("raw_emails", rows, RAW_EMAIL_KEY)
            self.warehouse.delete_keys(
                "quarantined_messages",
                tenant_id,
                connection_id,
                "provider_message_id",
                [r["provider_message_id"] for r in rows],
            )
        if quarantined:
            self.warehouse.upsert(
                "quarantined_messages",
                quarantined,
                RAW_EMAIL_KEY,
                update_columns=["reason", "excerpt", "quarantined_at"],
                increment_columns=["attempts"],
            )

    def _log_sync(
        self,
        tenant_id: str,
        out: ConnectionSyncResult,
        window: SyncWindow,
        run_id: str,
        started: datetime,
    ) -> None:
        self.warehouse.upsert(
            "sync_log",
            [
                {
                    "tenant_id": tenant_id,
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
            ("tenant_id", "connection_id", "partition_day", "run_id"),
        )
