"""Incidents and the notifications sent about them.

`ConnectionHealth` drives incidents from the places where status and missed windows change
(`apply`, inside its own transaction, after locking the connection's row), following the pure
rules of incident_rules.py. Everything else here is what the alerting sensor and jobs read and
write: open incidents, incidents changed since a cursor, an incident's windows, and the record of
each notification attempt (so each kind goes out once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from resources.registry.errors import InvalidInputError, RegistryError
from resources.registry.incident_rules import (
    FAILING_STATUSES,
    ClosedReason,
    IncidentAction,
    NotificationChannel,
    NotificationKind,
    NotificationResult,
    incident_action,
)
from resources.registry.records import Incident, IncidentCursor, MissedWindow, Notification
from resources.registry.validation import now
from resources.schema.column_types import to_utc
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus


class UnknownIncidentError(RegistryError):
    def __init__(self, incident_id: int) -> None:
        super().__init__(f"no incident {incident_id}")


def _choice(enum: type, value: Any, what: str) -> str:
    try:
        return enum(value).value
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise InvalidInputError(f"invalid {what} {value!r}; one of: {allowed}") from None


class IncidentStore:
    """Opens, updates and closes incidents; records and reads their notifications."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._incidents = warehouse.table("incidents")
        self._notifications = warehouse.table("incident_notifications")
        self._windows = warehouse.table("missed_windows")

    # Driven by ConnectionHealth

    def apply(
        self,
        conn: sa.Connection,
        connection: sa.Row,
        at: datetime,
        *,
        seen: bool,
        window_status: str | None = None,
        window_cause: str | None = None,
    ) -> int | None:
        """Bring the connection's incident in line with its state; returns the open incident's
        id afterwards (None when there is none).

        `connection` is its locked row (tenant_id, connection_id, status, status_cause_code) as
        it is now. `seen`: this call reports the failure again (a failing status or a missed
        window), so `last_seen_at` moves; a recovered window is not a sighting. A window missed
        while the connection reads active opens the incident with the window's status.
        """
        incidents = self._incidents
        current = conn.execute(
            sa.select(incidents).where(
                incidents.c.tenant_id == connection.tenant_id,
                incidents.c.connection_id == connection.connection_id,
                incidents.c.closed_at.is_(None),
            )
        ).first()
        status = ConnectionStatus(connection.status)
        action = incident_action(
            incident_open=current is not None,
            status=status,
            open_windows=self._open_window_count(conn, connection),
        )
        failing = status in FAILING_STATUSES
        record_status = status.value if failing else window_status
        record_cause = connection.status_cause_code if failing else window_cause
        if action is IncidentAction.OPEN:
            if record_status is None:
                # Active, windows open, no incident, and no failure in hand (a recovery that
                # left older windows open): those windows' incident is opened when they are
                # next missed; nothing to say now.
                return None
            return conn.execute(
                sa.insert(incidents)
                .values(
                    tenant_id=connection.tenant_id,
                    connection_id=connection.connection_id,
                    status=record_status,
                    cause_code=record_cause,
                    opened_at=at,
                    last_seen_at=at,
                    changed_at=at,
                )
                .returning(incidents.c.incident_id)
            ).scalar_one()
        if current is None:
            return None
        where = incidents.c.incident_id == current.incident_id
        if action is IncidentAction.CLOSE:
            reason = ClosedReason.STOPPED if status is ConnectionStatus.STOPPED else None
            conn.execute(
                sa.update(incidents)
                .where(where)
                .values(
                    closed_at=at,
                    changed_at=at,
                    closed_reason=(reason or ClosedReason.RECOVERED).value,
                )
            )
            return None
        if action is IncidentAction.UPDATE and seen:
            values: dict[str, Any] = {"last_seen_at": max(current.last_seen_at, at)}
            # Only a new status is a change the sensor must see; a new cause under the same
            # status is not (set_status keeps the first cause of a status too).
            if current.status != status.value:
                values.update(status=status.value, cause_code=record_cause, changed_at=at)
            conn.execute(sa.update(incidents).where(where).values(**values))
        return current.incident_id

    def _open_window_count(self, conn: sa.Connection, connection: sa.Row) -> int:
        windows = self._windows
        return conn.execute(
            sa.select(sa.func.count()).where(
                windows.c.tenant_id == connection.tenant_id,
                windows.c.connection_id == connection.connection_id,
                windows.c.recovered_at.is_(None),
            )
        ).scalar_one()

    # Read by the sensors

    def get(self, incident_id: int) -> Incident:
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(
                sa.select(self._incidents).where(self._incidents.c.incident_id == incident_id)
            ).first()
        if row is None:
            raise UnknownIncidentError(incident_id)
        return Incident.from_row(row._mapping)

    def open_incident(self, tenant_id: str, connection_id: str) -> Incident | None:
        """The connection's open incident, if it has one (it never has two)."""
        found = self._select(
            self._incidents.c.tenant_id == tenant_id,
            self._incidents.c.connection_id == connection_id,
            self._incidents.c.closed_at.is_(None),
        )
        return found[0] if found else None

    def incidents(self, tenant_id: str, connection_id: str | None = None) -> list[Incident]:
        """The tenant's incidents, open and closed, oldest first."""
        conditions = [self._incidents.c.tenant_id == tenant_id]
        if connection_id is not None:
            conditions.append(self._incidents.c.connection_id == connection_id)
        return self._select(*conditions)

    def open_incidents(self, tenant_id: str | None = None) -> list[Incident]:
        """Open incidents (of one tenant, or of all for the sensors), oldest first."""
        conditions = [self._incidents.c.closed_at.is_(None)]
        if tenant_id is not None:
            conditions.append(self._incidents.c.tenant_id == tenant_id)
        return self._select(*conditions)

    def changed_since(
        self,
        cursor: IncidentCursor | None,
        *,
        limit: int = 1000,
        overlap: timedelta = timedelta(0),
    ) -> tuple[list[Incident], IncidentCursor | None]:
        """Incidents opened, changed in status or closed after `cursor`, in that order, and the
        cursor to pass next time (the same one when nothing changed).

        `changed_at` is the writer's clock at its transaction, so a transaction that commits late
        can land behind a cursor already passed; `overlap` re-reads that much before the cursor.
        Notifications are idempotent (`notification_sent`), so reading an incident twice is safe.
        """
        incidents = self._incidents
        conditions = []
        if cursor is not None:
            if overlap:
                conditions.append(incidents.c.changed_at >= to_utc(cursor.changed_at) - overlap)
            else:
                since = to_utc(cursor.changed_at)
                conditions.append(
                    sa.or_(
                        incidents.c.changed_at > since,
                        sa.and_(
                            incidents.c.changed_at == since,
                            incidents.c.incident_id > cursor.incident_id,
                        ),
                    )
                )
        found = self._select(*conditions, limit=limit)
        if not found:
            return [], cursor
        last = found[-1]
        return found, IncidentCursor(last.changed_at, last.incident_id)

    def windows(self, incident_id: int, *, open_only: bool = False) -> list[MissedWindow]:
        """The missed windows last missed during the incident, oldest first."""
        incident = self.get(incident_id)
        windows = self._windows
        query = (
            sa.select(windows)
            .where(windows.c.tenant_id == incident.tenant_id, windows.c.incident_id == incident_id)
            .order_by(windows.c.window_start, windows.c.stream)
        )
        if open_only:
            query = query.where(windows.c.recovered_at.is_(None))
        with self.warehouse.engine.connect() as conn:
            return [MissedWindow.from_row(r._mapping) for r in conn.execute(query).all()]

    def _select(self, *conditions: Any, limit: int | None = None) -> list[Incident]:
        incidents = self._incidents
        query = (
            sa.select(incidents)
            .where(*conditions)
            .order_by(incidents.c.changed_at, incidents.c.incident_id)
            .limit(limit)
        )
        with self.warehouse.engine.connect() as conn:
            return [Incident.from_row(r._mapping) for r in conn.execute(query).all()]

    # Notifications

    def record_notification(
        self,
        incident_id: int,
        kind: NotificationKind | str,
        channel: NotificationChannel | str,
        recipient: str,
        result: NotificationResult | str,
        *,
        error_code: str | None = None,
        at: datetime | None = None,
    ) -> Notification:
        """Record one attempt to notify `recipient` of the incident (sent or failed).

        `error_code` is our own short code (`smtp_refused`, `timeout`), never a server's text.
        """
        channel = _choice(NotificationChannel, channel, "notification channel")
        if not isinstance(recipient, str) or not recipient.strip():
            raise InvalidInputError("a notification needs a recipient")
        if channel == NotificationChannel.WEBHOOK and "://" in recipient:
            raise InvalidInputError("name the webhook, not its URL (which may carry a secret)")
        incident = self.get(incident_id)
        row = {
            "tenant_id": incident.tenant_id,
            "incident_id": incident_id,
            "kind": _choice(NotificationKind, kind, "notification kind"),
            "channel": channel,
            "recipient": recipient.strip(),
            "sent_at": to_utc(at) if at is not None else now(),
            "result": _choice(NotificationResult, result, "notification result"),
            "error_code": error_code,
        }
        notifications = self._notifications
        with self.warehouse.write() as conn:
            notification_id = conn.execute(
                sa.insert(notifications).values(**row).returning(notifications.c.notification_id)
            ).scalar_one()
        return Notification(notification_id=notification_id, **row)

    def notification_sent(
        self,
        incident_id: int,
        kind: NotificationKind | str,
        channel: NotificationChannel | str | None = None,
    ) -> bool:
        """Whether a notification of `kind` (on `channel`, or any) was sent successfully."""
        incident = self.get(incident_id)
        notifications = self._notifications
        query = sa.select(sa.func.count()).where(
            notifications.c.tenant_id == incident.tenant_id,
            notifications.c.incident_id == incident_id,
            notifications.c.kind == _choice(NotificationKind, kind, "notification kind"),
            notifications.c.result == NotificationResult.SENT.value,
        )
        if channel is not None:
            query = query.where(
                notifications.c.channel == _choice(NotificationChannel, channel, "channel")
            )
        with self.warehouse.engine.connect() as conn:
            return conn.execute(query).scalar_one() > 0

    def notifications(self, incident_id: int) -> list[Notification]:
        """Every attempt for the incident, oldest first."""
        incident = self.get(incident_id)
        notifications = self._notifications
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(
                sa.select(notifications)
                .where(
                    notifications.c.tenant_id == incident.tenant_id,
                    notifications.c.incident_id == incident_id,
                )
                .order_by(notifications.c.sent_at, notifications.c.notification_id)
            ).all()
        return [Notification.from_row(r._mapping) for r in rows]

    def notifications_of(self, incident_ids: Iterable[int]) -> dict[int, list[Notification]]:
        """Every attempt for each of `incident_ids` (oldest first): one query per 500 ids, so
        the alerting sensor reads hundreds of open incidents' histories cheaply."""
        ids = sorted(set(incident_ids))
        found: dict[int, list[Notification]] = {i: [] for i in ids}
        notifications = self._notifications
        with self.warehouse.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(notifications)
                    .where(notifications.c.incident_id.in_(ids[start : start + 500]))
                    .order_by(notifications.c.sent_at, notifications.c.notification_id)
                ).all()
                for r in rows:
                    found[r.incident_id].append(Notification.from_row(r._mapping))
        return found
