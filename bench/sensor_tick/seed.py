"""Bulk seeding of the registry and the Dagster instance for the sensor-tick benchmark.

Rows go straight into the registry's tables (one executemany per table), not through 10,000
CLI calls: the sensors only read them. The picture is deterministic (one seeded `Random`):
10 connections per tenant, Google and Microsoft alternating, authorized 1-60 days ago; open
incidents of mixed statuses and ages (credential, transient, operator, and ones whose
connection is active again with its windows still open), about half already notified; a
history of closed incidents, a few closed minutes ago and due their `resolved` note.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from resources.registry.connections import connection_id_for
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus as S

CONNECTIONS_PER_TENANT = 10
PROVIDERS = ("google", "microsoft")
# (status of the incident, cause, connection status now, share of the open incidents)
OPEN_KINDS: Sequence[tuple[S, str, S, float]] = (
    (S.INVALID_CREDENTIALS, "invalid_grant", S.INVALID_CREDENTIALS, 0.25),
    (S.INSUFFICIENT_PERMISSIONS, "consent_revoked", S.INSUFFICIENT_PERMISSIONS, 0.10),
    (S.ACCOUNT_SUSPENDED, "account_disabled", S.ACCOUNT_SUSPENDED, 0.05),
    (S.THROTTLED, "rate_limited", S.THROTTLED, 0.15),
    (S.NO_SERVICE_CONNECTION, "provider_unavailable", S.NO_SERVICE_CONNECTION, 0.15),
    (S.SYNC_ERROR, "unexpected_response", S.SYNC_ERROR, 0.10),
    (S.REQUEST_INVALID, "bad_request", S.REQUEST_INVALID, 0.05),
    # Reconnected or healthy again, windows still open: the recovery sensor's case.
    (S.THROTTLED, "rate_limited", S.ACTIVE, 0.10),
    (S.INVALID_CREDENTIALS, "invalid_grant", S.ACTIVE, 0.05),
)
FIRST_NOTICE = {
    S.INVALID_CREDENTIALS: "first",
    S.INSUFFICIENT_PERMISSIONS: "first",
    S.ACCOUNT_SUSPENDED: "first",
    S.THROTTLED: "transient_persisting",
    S.NO_SERVICE_CONNECTION: "transient_persisting",
    S.SYNC_ERROR: "operators",
    S.REQUEST_INVALID: "operators",
}


def tenant_id(n: int) -> str:
    return f"t-{n:05d}"


@dataclass
class Seeded:
    """What is in the registry so far."""

    tenants: list[str]
    connections: list[dict[str, Any]]
    open_incidents: int = 0
    closed_incidents: int = 0
    notifications: int = 0
    windows: int = 0


def add_tenants(warehouse: Warehouse, first: int, count: int, now: datetime) -> Seeded:
    """Tenants `first`..`first+count-1`, each with 10 active connections."""
    rng = random.Random(first)
    tenants = [tenant_id(n) for n in range(first, first + count)]
    connections = []
    for t in tenants:
        for c in range(CONNECTIONS_PER_TENANT):
            provider = PROVIDERS[c % 2]
            owner = f"user{c}@{t}.example"
            authorized = now - timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1440))
            connections.append(
                {
                    "connection_id": connection_id_for(t, provider, owner),
                    "tenant_id": t,
                    "owner_email": owner,
                    "aliases": [],
                    "provider": provider,
                    "scopes": ["mail.read", "calendar.read"],
                    "authorized_at": authorized,
                    "status": S.ACTIVE.value,
                    "status_changed_at": authorized,
                    "status_cause_code": None,
                    "status_explanation": None,
                    "refresh_token_encrypted": "bench-not-a-token",
                    "token_cache_encrypted": None,
                    "created_at": authorized,
                }
            )
    with warehouse.write() as conn:
        conn.execute(
            sa.insert(warehouse.table("tenants")),
            [
                {
                    "tenant_id": t,
                    "name": t,
                    "internal_domains": [f"{t}.example"],
                    "blocked_domains": [],
                    "time_zone": "UTC",
                    "created_at": now - timedelta(days=90),
                }
                for t in tenants
            ],
        )
        conn.execute(sa.insert(warehouse.table("connections")), connections)
    return Seeded(tenants, connections)


def _kinds(count: int) -> Iterator[tuple[S, str, S]]:
    for status, cause, now_status, share in OPEN_KINDS:
        for _ in range(round(count * share)):
            yield status, cause, now_status


def add_incidents(
    warehouse: Warehouse, seeded: Seeded, open_count: int, closed_count: int, now: datetime
) -> None:
    """`open_count` open incidents on distinct connections (ages 2 minutes to 10 days, about
    half notified, 1-5 missed days each) and `closed_count` closed ones (a few just now)."""
    rng = random.Random(11)
    chosen = rng.sample(seeded.connections, open_count)
    incidents = warehouse.table("incidents")
    open_rows, notes, windows, status_updates = [], [], [], []
    for conn_row, (status, cause, now_status) in zip(chosen, _kinds(open_count), strict=False):
        opened = now - timedelta(minutes=rng.choice([2, 30, 300, 900, 1800, 3000, 5000, 14000]))
        changed = opened + (now - opened) * rng.random() * 0.1
        open_rows.append(
            {
                "tenant_id": conn_row["tenant_id"],
                "connection_id": conn_row["connection_id"],
                "status": status.value,
                "cause_code": cause,
                "opened_at": opened,
                "last_seen_at": now - timedelta(minutes=rng.randint(0, 60)),
                "changed_at": changed,
            }
        )
        status_updates.append(
            {
                "cid": conn_row["connection_id"],
                "status": now_status.value,
                "cause": None if now_status is S.ACTIVE else cause,
                "at": now - timedelta(minutes=1) if now_status is S.ACTIVE else opened,
            }
        )
    with warehouse.write() as conn:
        ids = _insert_incidents(conn, incidents, open_rows)
        for incident_id, row in zip(ids, open_rows, strict=True):
            age = now - row["opened_at"]
            if rng.random() < 0.5 and age > timedelta(minutes=10):
                kind = FIRST_NOTICE[S(row["status"])]
                notes.append(_note(row["tenant_id"], incident_id, kind, row["opened_at"]))
                if age > timedelta(hours=24) and kind != "operators":
                    at = row["opened_at"] + timedelta(hours=24)
                    notes.append(_note(row["tenant_id"], incident_id, "reminder_24h", at))
            first_day = (row["opened_at"] - timedelta(days=rng.randint(0, 4))).date()
            day = first_day
            while day <= row["opened_at"].date():
                for stream in ("mail", "calendar"):
                    windows.append(_window(row, incident_id, stream, day))
                day += timedelta(days=1)
        conn.execute(
            sa.update(warehouse.table("connections"))
            .where(warehouse.table("connections").c.connection_id == sa.bindparam("cid"))
            .values(
                status=sa.bindparam("status"),
                status_cause_code=sa.bindparam("cause"),
                status_changed_at=sa.bindparam("at"),
            ),
            status_updates,
        )
        closed_rows = []
        for n in range(closed_count):
            conn_row = rng.choice(seeded.connections)
            recent = n < 20
            opened = (
                now - timedelta(days=rng.randint(11, 80))
                if not recent
                else now - timedelta(hours=30)
            )
            closed = (
                now - timedelta(minutes=rng.randint(1, 4))
                if recent
                else opened + timedelta(hours=rng.randint(1, 48))
            )
            closed_rows.append(
                {
                    "tenant_id": conn_row["tenant_id"],
                    "connection_id": conn_row["connection_id"],
                    "status": S.INVALID_CREDENTIALS.value,
                    "cause_code": "invalid_grant",
                    "opened_at": opened,
                    "last_seen_at": closed,
                    "changed_at": closed,
                    "closed_at": closed,
                    "closed_reason": "recovered",
                }
            )
        closed_ids = _insert_incidents(conn, incidents, closed_rows)
        for n, (incident_id, row) in enumerate(zip(closed_ids, closed_rows, strict=True)):
            notes.append(_note(row["tenant_id"], incident_id, "first", row["opened_at"]))
            if n >= 20:
                notes.append(_note(row["tenant_id"], incident_id, "resolved", row["closed_at"]))
        conn.execute(sa.insert(warehouse.table("incident_notifications")), notes)
        conn.execute(sa.insert(warehouse.table("missed_windows")), windows)
    seeded.open_incidents += len(open_rows)
    seeded.closed_incidents += len(closed_rows)
    seeded.notifications += len(notes)
    seeded.windows += len(windows)


def _insert_incidents(
    conn: sa.Connection, incidents: sa.Table, rows: list[dict[str, Any]]
) -> Sequence[int]:
    """Inserts `rows`; their new ids, in the rows' order."""
    query = sa.insert(incidents).returning(incidents.c.incident_id, sort_by_parameter_order=True)
    return conn.execute(query, rows).scalars().all()


def _note(tenant: str, incident_id: int, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant,
        "incident_id": incident_id,
        "kind": kind,
        "channel": "email",
        "recipient": "owner@example.test",
        "sent_at": at + timedelta(minutes=1),
        "result": "sent",
        "error_code": None,
    }


def _window(row: dict[str, Any], incident_id: int, stream: str, day: date) -> dict[str, Any]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        "tenant_id": row["tenant_id"],
        "connection_id": row["connection_id"],
        "stream": stream,
        "window_start": start,
        "window_end": start + timedelta(days=1),
        "status": row["status"],
        "cause_code": row["cause_code"],
        "recorded_at": row["opened_at"],
        "recovered_at": None,
        "incident_id": incident_id,
    }


def materialized_keys(seeded: Seeded, window_start: date, today: date) -> Iterator[str]:
    """Tenant-day keys the hourly runs materialized: every day since each tenant's first
    authorization, before today, in the window, except a 3-day outage for one tenant in 50."""
    first_auth: dict[str, date] = {}
    for c in seeded.connections:
        d = c["authorized_at"].date()
        first_auth[c["tenant_id"]] = min(first_auth.get(c["tenant_id"], d), d)
    for n, t in enumerate(seeded.tenants):
        day = max(window_start, first_auth[t])
        gap = {today - timedelta(days=k) for k in (2, 3, 4)} if n % 50 == 0 else set()
        while day < today:
            if day not in gap:
                yield f"{day.isoformat()}|{t}"
            day += timedelta(days=1)
