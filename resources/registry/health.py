"""Connection health: status changes (with their history) and the windows a stream missed.

Every status change is kept in connection_status_history; a report of the same status again is
not a change and leaves no trace (alerting keys on `status_changed_at`). A missed window is a
`[start, end)` of one stream that was not synced; it stays open until a later sync recovers it,
and opens again when it is missed again after that.

Each of these also brings the connection's incident in line (incidents.py), in the same
transaction and under a lock on the connection's row, so two runs reporting on one connection at
once never open two incidents or lose a window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from resources.registry.connections import ConnectionStore, insert_status_change
from resources.registry.errors import InvalidInputError, UnknownConnectionError
from resources.registry.incidents import IncidentStore
from resources.registry.records import MissedWindow, StatusChange
from resources.registry.validation import now, validate_status, validate_stream
from resources.schema.column_types import to_utc
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

DISCONNECTED = "disconnected"
"""Cause code of a connection stopped by `touchpoint connections disconnect`."""


class ConnectionHealth:
    """Records and reads connection status changes and missed sync windows."""

    def __init__(self, warehouse: Warehouse, incidents: IncidentStore | None = None) -> None:
        self.warehouse = warehouse
        self.incidents = incidents or IncidentStore(warehouse)
        self._connections = ConnectionStore(warehouse)
        self._history = warehouse.table("connection_status_history")
        self._windows = warehouse.table("missed_windows")

    def _locked_connection(self, conn: sa.Connection, connection_id: str) -> sa.Row:
        """The connection's row, locked until the transaction ends (PostgreSQL; SQLite's write
        transaction already holds the database)."""
        connections = self.warehouse.table("connections")
        row = conn.execute(
            sa.select(
                connections.c.tenant_id,
                connections.c.connection_id,
                connections.c.status,
                connections.c.status_cause_code,
            )
            .where(connections.c.connection_id == connection_id)
            .with_for_update()
        ).first()
        if row is None:
            raise UnknownConnectionError(connection_id)
        return row

    def set_status(
        self,
        connection_id: str,
        status: ConnectionStatus | str,
        cause_code: str | None,
        explanation: str | None,
        at: datetime | None = None,
    ) -> bool:
        """Move the connection to `status`; True when that was a change (and was recorded).

        Reporting the status it already has changes nothing, not even the cause: the time of
        the change is what tells a persisting failure from a new one. It does count as the
        failure being seen again (the open incident's `last_seen_at`).
        """
        with self.warehouse.write() as conn:
            return self.change_status_in(conn, connection_id, status, cause_code, explanation, at)

    def change_status_in(
        self,
        conn: sa.Connection,
        connection_id: str,
        status: ConnectionStatus | str,
        cause_code: str | None,
        explanation: str | None,
        at: datetime | None = None,
    ) -> bool:
        """`set_status` inside the caller's write transaction (a reconnect stores the new token
        and the status change together)."""
        new_status = validate_status(status)
        changed_at = to_utc(at) if at is not None else now()
        connections = self.warehouse.table("connections")
        row = self._locked_connection(conn, connection_id)
        if row.status == new_status.value:
            self.incidents.apply(conn, row, changed_at, seen=True)
            return False
        values = {
            "status": new_status.value,
            "status_changed_at": changed_at,
            "status_cause_code": cause_code,
            "status_explanation": explanation,
        }
        conn.execute(
            sa.update(connections)
            .where(connections.c.connection_id == connection_id)
            .values(**values)
        )
        changed = {"connection_id": connection_id, "tenant_id": row.tenant_id, **values}
        insert_status_change(conn, self._history, changed, row.status, changed_at)
        self.incidents.apply(
            conn, self._locked_connection(conn, connection_id), changed_at, seen=True
        )
        return True

    def disconnect(self, connection_id: str, at: datetime | None = None) -> bool:
        """Stop the connection for good: status `stopped` (its incident closes, nobody is
        alerted), both stored tokens wiped in the same transaction, history kept. The refresh
        token column cannot be NULL, so a wiped token is the empty string. True when it was not
        stopped already."""
        connections = self.warehouse.table("connections")
        with self.warehouse.write() as conn:
            self._locked_connection(conn, connection_id)
            conn.execute(
                sa.update(connections)
                .where(connections.c.connection_id == connection_id)
                .values(refresh_token_encrypted="", token_cache_encrypted=None)
            )
            return self.change_status_in(
                conn,
                connection_id,
                ConnectionStatus.STOPPED,
                DISCONNECTED,
                "The mailbox was disconnected; its stored tokens were deleted.",
                at,
            )

    def status_history(self, connection_id: str) -> list[StatusChange]:
        """Every status change of the connection, oldest first."""
        history = self._history
        connection = self._connections.get_connection(connection_id)
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(
                sa.select(history)
                .where(
                    history.c.tenant_id == connection.tenant_id,
                    history.c.connection_id == connection_id,
                )
                .order_by(history.c.changed_at, history.c.id)
            ).all()
        return [
            StatusChange(
                connection_id=r.connection_id,
                changed_at=r.changed_at,
                previous_status=None
                if r.previous_status is None
                else ConnectionStatus(r.previous_status),
                status=ConnectionStatus(r.status),
                cause_code=r.cause_code,
                explanation=r.explanation,
            )
            for r in rows
        ]

    def record_missed_window(
        self,
        connection_id: str,
        start: datetime,
        end: datetime,
        status: ConnectionStatus | str,
        cause_code: str | None,
        *,
        stream: str,
        at: datetime | None = None,
    ) -> bool:
        """Remember that `stream` (mail, calendar) of `[start, end)` was not synced; True when the
        window was not open yet (new, or recovered before and missed again).

        A window missed again carries its latest status and cause; one missed again after its
        recovery is open again from `at` (recorded_at), so its recovery is owed again.
        """
        start, end = to_utc(start), to_utc(end)
        if end <= start:
            raise InvalidInputError("a missed window must end after it starts")
        stream = validate_stream(stream)
        status_value = validate_status(status).value
        recorded_at = to_utc(at) if at is not None else now()
        windows = self._windows
        with self.warehouse.write() as conn:
            connection = self._locked_connection(conn, connection_id)
            key = (
                windows.c.tenant_id == connection.tenant_id,
                windows.c.connection_id == connection_id,
                windows.c.stream == stream,
                windows.c.window_start == start,
                windows.c.window_end == end,
            )
            existing = conn.execute(sa.select(windows.c.id, windows.c.recovered_at).where(*key))
            found = existing.first()
            if found is None:
                conn.execute(
                    sa.insert(windows).values(
                        tenant_id=connection.tenant_id,
                        connection_id=connection_id,
                        stream=stream,
                        window_start=start,
                        window_end=end,
                        status=status_value,
                        cause_code=cause_code,
                        recorded_at=recorded_at,
                    )
                )
            else:
                values: dict = {"status": status_value, "cause_code": cause_code}
                if found.recovered_at is not None:
                    # Recovered once and missed again: open again, owed again.
                    values.update(recorded_at=recorded_at, recovered_at=None)
                conn.execute(sa.update(windows).where(windows.c.id == found.id).values(**values))
            incident_id = self.incidents.apply(
                conn,
                connection,
                recorded_at,
                seen=True,
                window_status=status_value,
                window_cause=cause_code,
            )
            if incident_id is not None:
                conn.execute(sa.update(windows).where(*key).values(incident_id=incident_id))
        return found is None or found.recovered_at is not None

    def mark_windows_recovered(
        self,
        connection_id: str,
        start: datetime,
        end: datetime,
        at: datetime | None = None,
        *,
        stream: str,
    ) -> int:
        """Close the stream's open missed windows that lie inside `[start, end)`; returns how
        many. The last one of an active connection closes its incident."""
        windows = self._windows
        recovered_at = to_utc(at) if at is not None else now()
        with self.warehouse.write() as conn:
            connection = self._locked_connection(conn, connection_id)
            result = conn.execute(
                sa.update(windows)
                .where(
                    windows.c.tenant_id == connection.tenant_id,
                    windows.c.connection_id == connection_id,
                    windows.c.stream == validate_stream(stream),
                    windows.c.recovered_at.is_(None),
                    windows.c.window_start >= to_utc(start),
                    windows.c.window_end <= to_utc(end),
                )
                .values(recovered_at=recovered_at)
            )
            if result.rowcount:
                self.incidents.apply(conn, connection, recovered_at, seen=False)
        return result.rowcount

    def missed_windows(
        self, tenant_id: str, connection_id: str | None = None, open_only: bool = True
    ) -> list[MissedWindow]:
        """The tenant's missed windows (only unrecovered ones by default), oldest first."""
        windows = self._windows
        query = (
            sa.select(windows)
            .where(windows.c.tenant_id == tenant_id)
            .order_by(windows.c.window_start, windows.c.connection_id, windows.c.stream)
        )
        if connection_id is not None:
            query = query.where(windows.c.connection_id == connection_id)
        if open_only:
            query = query.where(windows.c.recovered_at.is_(None))
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [MissedWindow.from_row(r._mapping) for r in rows]

    def open_windows_of(
        self, connections: Iterable[tuple[str, str]]
    ) -> dict[str, list[MissedWindow]]:
        """The unrecovered missed windows of each (tenant_id, connection_id), oldest first, by
        connection id: one query per 500 connections (on the tenant-led index), so the recovery
        sensor reads its incidents' windows without a query per incident."""
        pairs = sorted(set(connections))
        found: dict[str, list[MissedWindow]] = {cid: [] for _, cid in pairs}
        windows = self._windows
        with self.warehouse.engine.connect() as conn:
            for start in range(0, len(pairs), 500):
                chunk = pairs[start : start + 500]
                rows = conn.execute(
                    sa.select(windows)
                    .where(
                        windows.c.tenant_id.in_({t for t, _ in chunk}),
                        windows.c.connection_id.in_([c for _, c in chunk]),
                        windows.c.recovered_at.is_(None),
                    )
                    .order_by(windows.c.window_start, windows.c.connection_id, windows.c.stream)
                ).all()
                for r in rows:
                    if r.connection_id in found:
                        found[r.connection_id].append(MissedWindow.from_row(r._mapping))
        return found
