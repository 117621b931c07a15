"""The per-connection loop every tenant x day sync shares, free of Dagster.

For each connection of the tenant: skip what must be skipped, run the window sync of one kind
(mail, calendar), and turn a classified `ConnectionFailure` into a recorded status and missed
window while the other connections go on. Anything else is a bug or an outage of our own and
propagates, so the Dagster step fails and retries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Protocol

from resources.registry import Connection, Registry
from resources.registry.engagement_context import record_back_synced_day
from resources.warehouse import Warehouse
from vocabulary.budget import TimeBudgetExhausted, time_budget
from vocabulary.connectors import ApiStats
from vocabulary.status import CREDENTIAL_STATUSES, ConnectionFailure, ConnectionStatus
from vocabulary.windows import SyncWindow

CONNECTION_KEY = ("tenant_id", "connection_id")
OUT_OF_TIME = "time_budget_exhausted"


@dataclass
class ConnectionSyncResult:
    """What happened to one connection in one window; becomes metadata and a sync log row."""

    tenant_id: str
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
    removed: int = 0
    quarantined: int = 0
    cause_code: str | None = None
    explanation: str | None = None
    attempted: bool = True
    out_of_time: bool = False
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


class WindowSync(Protocol):
    """Syncs one kind of data (mail, calendar) of one connection for one window."""

    kind: str

    def sync(self, conn: Connection, window: SyncWindow, out: ConnectionSyncResult) -> None:
        """Fills `out`; raises ConnectionFailure for classified connection failures."""
        ...

    def log(
        self, out: ConnectionSyncResult, window: SyncWindow, run_id: str, started: datetime
    ) -> None:
        """Writes the sync log row of an attempted connection."""
        ...


def chunks(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class TenantSync:
    """Runs one WindowSync over every connection of one tenant.

    `budget_seconds` bounds each connection's time in this sync (one run's step): that many
    seconds per window the run holds for its tenant, pooled, so a backfill's quiet days leave
    room for a busy one. Once spent, the connection stops for the run: the window it was in and
    every later one are recorded as missed windows (cause `time_budget_exhausted`) and its
    status is left alone, while the other connections go on. `only_connection` limits the
    sync to that one connection of the tenant (a back-sync of one mailbox). `parallel`
    connections sync at once, each paced by its own provider limits.
    """

    def __init__(
        self,
        registry: Registry,
        window_sync: WindowSync,
        *,
        initial_lookback: timedelta = timedelta(days=7),
        log: logging.Logger | None = None,
        budget_seconds: float | None = None,
        only_connection: str | None = None,
        parallel: int = 1,
    ) -> None:
        self.registry = registry
        self.parallel = max(1, parallel)
        self.only_connection = only_connection
        self.window_sync = window_sync
        self.initial_lookback = initial_lookback
        self.log = log or logging.getLogger(__name__)
        self.budget_seconds = budget_seconds
        self._spent: dict[str, float] = {}

    def sync(
        self,
        tenant_id: str,
        window: SyncWindow,
        *,
        run_id: str,
        explicit_backfill: bool = False,
        windows_in_run: int = 1,
    ) -> TenantSyncResult:
        # An unknown tenant is a clear error, not an empty run.
        self.registry.tenants.get_tenant(tenant_id)
        result = TenantSyncResult(tenant_id, window)
        connections = self.registry.connections.list_connections(tenant_id)
        if self.only_connection is not None:
            # A back-sync of one mailbox: the tenant's other connections are not touched.
            connections = [c for c in connections if c.connection_id == self.only_connection]
        kind = self.window_sync.kind
        self.log.info(
            f"{kind} sync of {len(connections)} connection(s) of tenant {tenant_id} "
            f"for [{window.start.isoformat()}, {window.end.isoformat()})"
        )
        def sync_one(conn: Connection) -> ConnectionSyncResult:
            return self._sync_and_log(conn, window, run_id, explicit_backfill, windows_in_run)

        workers = min(self.parallel, len(connections))
        if workers > 1:
            # Each connection waits on its own provider and quota, so they overlap; results
            # keep the connections' order. A bug in one connection's sync still lets the
            # others finish before it is raised (the pool waits for all on exit).
            with ThreadPoolExecutor(workers, thread_name_prefix=f"sync-{tenant_id}") as pool:
                result.connections.extend(pool.map(sync_one, connections))
        else:
            result.connections.extend(sync_one(conn) for conn in connections)
        return result

    def _sync_and_log(
        self,
        conn: Connection,
        window: SyncWindow,
        run_id: str,
        explicit_backfill: bool,
        windows_in_run: int,
    ) -> ConnectionSyncResult:
        """One connection's window, timed against its budget and logged; safe to run in a
        thread beside the tenant's other connections (it touches only this connection's state)."""
        started = datetime.now(UTC)
        t0 = time.perf_counter()
        left = self._time_left(conn.connection_id, windows_in_run)
        outcome = self._sync_connection(conn, window, explicit_backfill, left, run_id)
        outcome.seconds = time.perf_counter() - t0
        self._spent[conn.connection_id] = self._spent.get(conn.connection_id, 0.0) + outcome.seconds
        if outcome.attempted:
            self.window_sync.log(outcome, window, run_id, started)
        self.log.info(
            f"{self.window_sync.kind} {conn.tenant_id} {conn.owner_email} ({conn.provider}): "
            f"status={outcome.status} listed={outcome.listed} held={outcome.already_held} "
            f"synced={outcome.synced} removed={outcome.removed} "
            f"quarantined={outcome.quarantined} api_calls={outcome.stats.api_calls} "
            f"quota_units={outcome.stats.quota_units} in {outcome.seconds:.1f}s"
        )
        return outcome

    def _time_left(self, connection_id: str, windows_in_run: int) -> float | None:
        """Seconds the connection may still spend in this sync; None without a budget."""
        if not self.budget_seconds:
            return None
        allowance = self.budget_seconds * max(1, windows_in_run)
        return allowance - self._spent.get(connection_id, 0.0)

    def _sync_connection(
        self,
        conn: Connection,
        window: SyncWindow,
        explicit_backfill: bool,
        left: float | None,
        run_id: str,
    ) -> ConnectionSyncResult:
        out = ConnectionSyncResult(
            conn.tenant_id, conn.connection_id, conn.owner_email, conn.provider, conn.status
        )
        if conn.status == ConnectionStatus.STOPPED:
            out.attempted = False
            return out
        if conn.status in CREDENTIAL_STATUSES:
            # Only the owner can fix these; retrying a dead grant every hour achieves nothing.
            # The window is recorded so the reconnect can recover it.
            self.registry.health.record_missed_window(
                conn.connection_id,
                window.start,
                window.end,
                conn.status,
                conn.status_cause_code or conn.status,
                stream=self.window_sync.kind,
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
        if left is not None and left <= 0:
            # Spent on an earlier window of this run: no provider call at all.
            out.attempted = False
            self._out_of_time(conn, window, out)
            return out
        try:
            with nullcontext() if left is None else time_budget(left):
                self.window_sync.sync(conn, window, out)
        except TimeBudgetExhausted:
            self._out_of_time(conn, window, out)
        except ConnectionFailure as failure:
            out.status = failure.status.value
            out.cause_code = failure.cause_code
            out.explanation = failure.explanation
            self.registry.health.set_status(
                conn.connection_id, failure.status, failure.cause_code, failure.explanation
            )
            self.registry.health.record_missed_window(
                conn.connection_id,
                window.start,
                window.end,
                failure.status,
                failure.cause_code,
                stream=self.window_sync.kind,
            )
        else:
            out.status = ConnectionStatus.ACTIVE.value
            if explicit_backfill and window.start < conn.authorized_at:
                # An operator recovered days before the authorization on purpose: their mail
                # counts as engagement from now on (vocabulary/engagement.py).
                self._record_back_sync(conn, window, run_id)
            self.registry.health.mark_windows_recovered(
                conn.connection_id, window.start, window.end, stream=self.window_sync.kind
            )
            if conn.status != ConnectionStatus.ACTIVE:
                self.registry.health.set_status(
                    conn.connection_id,
                    ConnectionStatus.ACTIVE,
                    "sync_succeeded",
                    "the mailbox synced normally again",
                )
        return out

    def _record_back_sync(self, conn: Connection, window: SyncWindow, run_id: str) -> None:
        for day in window.days():
            if day.start < conn.authorized_at:
                record_back_synced_day(self.registry.warehouse, conn, day.start.date(), run_id)

    def _out_of_time(self, conn: Connection, window: SyncWindow, out: ConnectionSyncResult) -> None:
        """Records the window as missed for the next run; the connection's status stays."""
        out.out_of_time = True
        out.cause_code = OUT_OF_TIME
        out.explanation = "the connection used its time budget for this run; the next run goes on"
        self.registry.health.record_missed_window(
            conn.connection_id,
            window.start,
            window.end,
            conn.status,
            OUT_OF_TIME,
            stream=self.window_sync.kind,
        )
        self.log.warning(
            f"{self.window_sync.kind} {conn.tenant_id} {conn.owner_email}: out of time budget "
            f"({self.budget_seconds:g}s per window); [{window.start.isoformat()}, "
            f"{window.end.isoformat()}) recorded as a missed window"
        )


def upsert_quarantine(
    warehouse: Warehouse,
    table: str,
    id_column: str,
    rows: list[dict],
    synced_ids: list[str],
    tenant_id: str,
    connection_id: str,
) -> None:
    """Records unparseable items (counting attempts) and releases the ones that now parsed."""
    if synced_ids:
        # A connection has few items in quarantine, if any: read them (one query) rather than
        # delete a batch's thousands of ids blindly, 500 per statement.
        held = warehouse.keys_of(table, tenant_id, connection_id, id_column)
        released = [item for item in synced_ids if item in held]
        if released:
            warehouse.delete_keys(table, tenant_id, connection_id, id_column, released)
    if rows:
        warehouse.upsert(
            table,
            rows,
            (*CONNECTION_KEY, id_column),
            update_columns=["reason", "excerpt", "quarantined_at"],
            increment_columns=["attempts"],
        )
