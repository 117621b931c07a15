"""Incidents: the pure rules, and the store driven by status changes and missed windows, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from resources.registry import (
    IncidentCursor,
    InvalidInputError,
    NotificationKind,
    Registry,
    UnknownIncidentError,
)
from resources.registry.incident_rules import IncidentAction, incident_action
from vocabulary.status import ConnectionStatus

S = ConnectionStatus
A = IncidentAction
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("incident_open", "status", "open_windows", "expected"),
    [
        (False, S.INVALID_CREDENTIALS, 0, A.OPEN),
        (False, S.THROTTLED, 3, A.OPEN),
        (True, S.INSUFFICIENT_PERMISSIONS, 0, A.UPDATE),
        (True, S.SYNC_ERROR, 2, A.UPDATE),
        (True, S.ACTIVE, 0, A.CLOSE),
        (True, S.ACTIVE, 1, A.NONE),  # active again, gap not recovered yet
        (False, S.ACTIVE, 0, A.NONE),
        (False, S.ACTIVE, 2, A.OPEN),  # a gap with no incident still needs one
        (True, S.STOPPED, 4, A.CLOSE),  # disconnected on purpose: nobody to alert
        (False, S.STOPPED, 1, A.NONE),
    ],
)
def test_incident_rules(
    incident_open: bool, status: ConnectionStatus, open_windows: int, expected: IncidentAction
) -> None:
    assert (
        incident_action(incident_open=incident_open, status=status, open_windows=open_windows)
        is expected
    )


def _add(registry: Registry, tenant: str, owner: str) -> str:
    if tenant not in {t.tenant_id for t in registry.tenants.list_tenants()}:
        registry.tenants.add_tenant(tenant, tenant.title())
    return registry.connections.add_connection(tenant, owner, "google", "token").connection_id


def test_an_incident_lives_from_the_first_failure_to_the_last_recovered_window(
    registry: Registry,
) -> None:
    cid = _add(registry, "acme", "bob@acme.com")
    health, incidents = registry.health, registry.incidents
    assert incidents.open_incident("acme", cid) is None

    health.set_status(cid, S.INVALID_CREDENTIALS, "invalid_grant", "revoked", at=at(1))
    (opened,) = incidents.open_incidents("acme")
    assert (opened.connection_id, opened.status, opened.cause_code) == (
        cid,
        S.INVALID_CREDENTIALS,
        "invalid_grant",
    )
    assert opened.opened_at == opened.last_seen_at == opened.changed_at == at(1)

    # missed windows belong to the incident and count as the failure seen again
    for stream in ("mail", "calendar"):
        health.record_missed_window(
            cid, T0, T0 + DAY, S.INVALID_CREDENTIALS, "invalid_grant", stream=stream, at=at(2)
        )
    # the same status again: no change for the sensor, but seen again
    assert not health.set_status(cid, S.INVALID_CREDENTIALS, "invalid_grant", "x", at=at(3))
    seen = incidents.get(opened.incident_id)
    assert (seen.last_seen_at, seen.changed_at) == (at(3), at(1))
    assert [(w.stream, w.incident_id) for w in incidents.windows(opened.incident_id)] == [
        ("calendar", opened.incident_id),
        ("mail", opened.incident_id),
    ]

    # a new failing status while open updates the same incident
    health.set_status(cid, S.INSUFFICIENT_PERMISSIONS, "scope_missing", "x", at=at(4))
    changed = incidents.get(opened.incident_id)
    assert (changed.status, changed.cause_code, changed.changed_at) == (
        S.INSUFFICIENT_PERMISSIONS,
        "scope_missing",
        at(4),
    )
    assert changed.opened_at == at(1)

    # active again with windows open: still open, until the last window is recovered
    health.set_status(cid, S.ACTIVE, "reconnected", "x", at=at(5))
    assert incidents.open_incident("acme", cid) == changed
    assert health.mark_windows_recovered(cid, T0, T0 + DAY, at=at(6), stream="mail") == 1
    assert incidents.open_incident("acme", cid) is not None
    assert health.mark_windows_recovered(cid, T0, T0 + DAY, at=at(7), stream="calendar") == 1
    closed = incidents.get(opened.incident_id)
    assert (closed.closed_at, closed.closed_reason, closed.changed_at) == (
        at(7),
        "recovered",
        at(7),
    )
    assert incidents.open_incidents() == []
    assert incidents.windows(opened.incident_id, open_only=True) == []

    # failing again later is a new incident; the window missed again is open again in it
    health.set_status(cid, S.THROTTLED, "rate_limited", "x", at=at(8))
    health.record_missed_window(cid, T0, T0 + DAY, S.THROTTLED, "429", stream="mail", at=at(9))
    (second,) = incidents.open_incidents("acme")
    assert second.incident_id != opened.incident_id and second.opened_at == at(8)
    (window,) = incidents.windows(second.incident_id)
    assert (window.stream, window.recovered_at, window.recorded_at) == ("mail", None, at(9))
    assert [i.incident_id for i in incidents.incidents("acme", cid)] == [
        opened.incident_id,
        second.incident_id,
    ]


def test_active_again_without_a_gap_closes_at_once_and_stopped_closes_too(
    registry: Registry,
) -> None:
    first = _add(registry, "acme", "ann@acme.com")
    second = _add(registry, "acme", "cid@acme.com")
    registry.health.set_status(first, S.NO_SERVICE_CONNECTION, "http_503", "x", at=at(1))
    registry.health.set_status(first, S.ACTIVE, "sync_succeeded", "x", at=at(2))
    (closed,) = registry.incidents.incidents("acme", first)
    assert (closed.closed_at, closed.closed_reason) == (at(2), "recovered")

    registry.health.set_status(second, S.ACCOUNT_SUSPENDED, "suspended", "x", at=at(1))
    registry.health.record_missed_window(
        second, T0, T0 + DAY, S.ACCOUNT_SUSPENDED, "suspended", stream="mail", at=at(1)
    )
    registry.health.set_status(second, S.STOPPED, "disconnected", "x", at=at(3))
    (stopped,) = registry.incidents.incidents("acme", second)
    assert (stopped.closed_at, stopped.closed_reason) == (at(3), "stopped")
    # stopping and active-without-incident open nothing
    registry.health.set_status(first, S.STOPPED, "disconnected", "x", at=at(4))
    assert len(registry.incidents.incidents("acme")) == 2


def test_a_window_missed_with_no_status_change_opens_the_incident(registry: Registry) -> None:
    """A connection already failing before incidents existed (or any path that records a window
    first) still gets its incident, with the window's status."""
    cid = _add(registry, "acme", "bob@acme.com")
    assert registry.health.record_missed_window(
        cid, T0, T0 + DAY, S.THROTTLED, "429", stream="mail", at=at(1)
    )
    (incident,) = registry.incidents.open_incidents("acme")
    assert (incident.status, incident.cause_code) == (S.THROTTLED, "429")
    registry.health.mark_windows_recovered(cid, T0, T0 + DAY, at=at(2), stream="mail")
    assert registry.incidents.get(incident.incident_id).closed_reason == "recovered"


def test_one_open_incident_per_connection_is_enforced_by_the_database(registry: Registry) -> None:
    cid = _add(registry, "acme", "bob@acme.com")
    registry.health.set_status(cid, S.THROTTLED, "429", "x", at=at(1))
    incidents = registry.warehouse.table("incidents")
    with pytest.raises(sa.exc.IntegrityError), registry.warehouse.write() as conn:
        conn.execute(
            sa.insert(incidents).values(
                tenant_id="acme",
                connection_id=cid,
                status="throttled",
                opened_at=at(2),
                last_seen_at=at(2),
                changed_at=at(2),
            )
        )


def test_changed_since_pages_through_opens_changes_and_closes(registry: Registry) -> None:
    a = _add(registry, "acme", "ann@acme.com")
    b = _add(registry, "globex", "bea@globex.com")
    health, incidents = registry.health, registry.incidents
    health.set_status(a, S.INVALID_CREDENTIALS, "invalid_grant", "x", at=at(1))
    health.set_status(b, S.THROTTLED, "429", "x", at=at(1))

    first, cursor = incidents.changed_since(None, limit=1)
    second, cursor = incidents.changed_since(cursor, limit=10)
    assert [i.connection_id for i in first + second] == [a, b]
    assert incidents.changed_since(cursor) == ([], cursor)

    # a sighting is not a change; a new status and a close are
    health.set_status(a, S.INVALID_CREDENTIALS, "invalid_grant", "x", at=at(2))
    assert incidents.changed_since(cursor)[0] == []
    health.set_status(b, S.ACTIVE, "sync_succeeded", "x", at=at(3))
    health.set_status(a, S.ACCOUNT_SUSPENDED, "suspended", "x", at=at(4))
    changed, cursor = incidents.changed_since(IncidentCursor.decode(cursor.encode()))
    assert [(i.connection_id, i.is_open) for i in changed] == [(b, False), (a, True)]
    assert cursor == IncidentCursor(at(4), changed[-1].incident_id)
    # with an overlap the reader sees the last changes again (idempotent notifications)
    again, _ = incidents.changed_since(cursor, overlap=timedelta(hours=1))
    assert [i.connection_id for i in again] == [b, a]
    assert [i.tenant_id for i in incidents.open_incidents("globex")] == []
    assert [i.tenant_id for i in incidents.open_incidents("acme")] == ["acme"]


def test_notifications_are_recorded_per_attempt_and_kind(registry: Registry) -> None:
    cid = _add(registry, "acme", "bob@acme.com")
    registry.health.set_status(cid, S.INVALID_CREDENTIALS, "invalid_grant", "x", at=at(1))
    (incident,) = registry.incidents.open_incidents("acme")
    store, iid = registry.incidents, incident.incident_id

    assert not store.notification_sent(iid, NotificationKind.FIRST)
    failed = store.record_notification(
        iid, "first", "email", "bob@acme.com", "failed", error_code="smtp_refused", at=at(1)
    )
    assert failed.tenant_id == "acme" and failed.error_code == "smtp_refused"
    assert not store.notification_sent(iid, "first")
    store.record_notification(iid, "first", "email", "bob@acme.com", "sent", at=at(2))
    store.record_notification(iid, "operators", "webhook", "ops-webhook", "sent", at=at(2))
    assert store.notification_sent(iid, "first")
    assert store.notification_sent(iid, "first", "email")
    assert not store.notification_sent(iid, "first", "webhook")
    assert not store.notification_sent(iid, NotificationKind.REMINDER_24H)
    assert [(n.kind, n.result, n.sent_at) for n in store.notifications(iid)] == [
        ("first", "failed", at(1)),
        ("first", "sent", at(2)),
        ("operators", "sent", at(2)),
    ]

    with pytest.raises(InvalidInputError, match="notification kind"):
        store.record_notification(iid, "carrier_pigeon", "email", "bob@acme.com", "sent")
    with pytest.raises(InvalidInputError, match="channel"):
        store.record_notification(iid, "first", "fax", "bob@acme.com", "sent")
    with pytest.raises(InvalidInputError, match="not its URL"):
        store.record_notification(iid, "operators", "webhook", "https://h/T0k3n", "sent")
    with pytest.raises(UnknownIncidentError):
        store.record_notification(iid + 1000, "first", "email", "bob@acme.com", "sent")
    assert len(store.notifications(iid)) == 3
