"""The facts one notification carries, read from the registry and the raw tables.

Only our own words go in: the mailbox, the tenant's name, the provider's label, the status and
cause code, times and counts. A connection's `status_explanation` is never read here, so no
provider text can travel into an email or a webhook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from resources.providers import provider_kit
from resources.registry.connections import ConnectionStore
from resources.registry.incidents import IncidentStore
from resources.registry.records import Incident, MissedWindow
from resources.registry.tenants import TenantStore
from resources.schema.streams import STREAM_TABLES
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus


@dataclass(frozen=True)
class AlertFacts:
    incident_id: int
    tenant_id: str
    tenant_name: str
    connection_id: str
    mailbox: str
    provider: str
    provider_label: str
    status: ConnectionStatus
    cause_code: str | None
    opened_at: datetime
    closed_at: datetime | None
    missing_days: Mapping[str, int]
    """Stream ("mail", "calendar") -> UTC days with a window still missed."""
    recovered: Mapping[str, int] | None
    """Stream -> raw rows synced for the incident's days after it opened (closed incidents)."""


def window_days(windows: Iterable[MissedWindow]) -> dict[str, set[date]]:
    """Stream -> the UTC days its windows touch (a window is a day; an archive month is many)."""
    days: dict[str, set[date]] = {spec.stream: set() for spec in STREAM_TABLES}
    for w in windows:
        day = w.window_start.date()
        while datetime.combine(day, datetime.min.time(), w.window_start.tzinfo) < w.window_end:
            days.setdefault(w.stream, set()).add(day)
            day += timedelta(days=1)
    return days


def gather_facts(warehouse: Warehouse, incident_id: int) -> AlertFacts:
    incidents = IncidentStore(warehouse)
    incident = incidents.get(incident_id)
    connection = ConnectionStore(warehouse).get_connection(incident.connection_id)
    tenant = TenantStore(warehouse).get_tenant(incident.tenant_id)
    windows = incidents.windows(incident_id)
    missing = window_days(w for w in windows if w.recovered_at is None)
    recovered = None
    if not incident.is_open:
        recovered = _recovered_rows(warehouse, incident, window_days(windows))
    return AlertFacts(
        incident_id=incident.incident_id,
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.name,
        connection_id=connection.connection_id,
        mailbox=connection.owner_email,
        provider=connection.provider,
        provider_label=provider_kit(connection.provider).label,
        status=incident.status,
        cause_code=incident.cause_code,
        opened_at=incident.opened_at,
        closed_at=incident.closed_at,
        missing_days={stream: len(days) for stream, days in missing.items()},
        recovered=recovered,
    )


def _recovered_rows(
    warehouse: Warehouse, incident: Incident, days: Mapping[str, set[date]]
) -> dict[str, int]:
    """Raw rows of the connection on the incident's days synced after it opened: what the
    recovery brought back (rows held before the incident were synced earlier)."""
    counts: dict[str, int] = {}
    with warehouse.engine.connect() as conn:
        for spec in STREAM_TABLES:
            wanted = sorted(days.get(spec.stream, ()))
            if not wanted:
                counts[spec.stream] = 0
                continue
            raw = warehouse.table(spec.raw)
            counts[spec.stream] = conn.execute(
                sa.select(sa.func.count()).where(
                    raw.c.tenant_id == incident.tenant_id,
                    raw.c.connection_id == incident.connection_id,
                    raw.c.partition_day.in_(wanted),
                    raw.c.synced_at >= incident.opened_at,
                )
            ).scalar_one()
    return counts
