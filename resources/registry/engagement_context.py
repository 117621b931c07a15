"""What the engagement rules need to know about one tenant, read from the warehouse in one
place: who is internal or blocked, each connection's authorization (with the days an operator
back-synced), and the CRM's contacts. The engagement assets and `touchpoint explain` both read
it here, so the tables and the explanation can never disagree about the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from resources.registry.connections import ConnectionStore
from resources.registry.crm import CrmSnapshot
from resources.registry.records import Connection, Tenant
from resources.registry.tenants import TenantStore
from resources.warehouse import Warehouse
from vocabulary.engagement import Authorization, TenantPeople


@dataclass(frozen=True)
class EngagementContext:
    """One tenant's inputs to the rules, as of one read."""

    tenant: Tenant
    people: TenantPeople
    connections: Mapping[str, Connection]
    authorizations: Mapping[str, Authorization]
    """connection_id -> what that connection lets count."""
    crm: CrmSnapshot
    accounts_by_email: Mapping[str, frozenset[str]] = field(default_factory=dict)
    contact_ids_by_email: Mapping[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone, which decides its local days and weeks."""
        return ZoneInfo(self.tenant.time_zone)

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(a.account_id for a in self.crm.accounts)

    def authorized(self, connection_ids: Iterable[str]) -> Authorization:
        """The most permissive authorization among the mailboxes that saw a message: it counts
        when any one of them had agreed to log it (the earliest authorization, and every day
        any of them back-synced). A message no known mailbox saw never counts."""
        held = [self.authorizations[c] for c in connection_ids if c in self.authorizations]
        if not held:
            return Authorization(datetime.max.replace(tzinfo=UTC))
        return Authorization(
            min(a.authorized_at for a in held),
            frozenset().union(*(a.back_synced_days for a in held)),
        )


def back_synced_days(warehouse: Warehouse, tenant_id: str) -> dict[str, frozenset[date]]:
    """connection_id -> the UTC days an operator back-synced before its authorization."""
    table = warehouse.table("back_synced_days")
    with warehouse.engine.connect() as db:
        rows = db.execute(
            sa.select(table.c.connection_id, table.c.day).where(table.c.tenant_id == tenant_id)
        ).all()
    out: dict[str, set[date]] = {}
    for connection_id, day in rows:
        out.setdefault(connection_id, set()).add(day)
    return {c: frozenset(days) for c, days in out.items()}


def record_back_synced_day(
    warehouse: Warehouse, connection: Connection, day: date, run_id: str
) -> None:
    """Remember that an explicit backfill synced `day` of `connection` before its
    authorization: from now on that day's mail counts as engagement (idempotent)."""
    warehouse.upsert(
        "back_synced_days",
        [
            {
                "tenant_id": connection.tenant_id,
                "connection_id": connection.connection_id,
                "day": day,
                "run_id": run_id,
                "recorded_at": datetime.now(UTC),
            }
        ],
        ("connection_id", "day"),
    )


def load_engagement_context(warehouse: Warehouse, tenant_id: str) -> EngagementContext:
    """The tenant's rule inputs; an unknown tenant raises UnknownTenantError."""
    tenants = TenantStore(warehouse)
    tenant = tenants.get_tenant(tenant_id)
    connections = ConnectionStore(warehouse).list_connections(tenant_id)
    crm = tenants.read_crm(tenant_id)
    back_synced = back_synced_days(warehouse, tenant_id)
    people = TenantPeople.of(
        tenant.internal_domains,
        tenant.blocked_domains,
        [address for c in connections for address in c.addresses],
    )
    return EngagementContext(
        tenant=tenant,
        people=people,
        connections={c.connection_id: c for c in connections},
        authorizations={
            c.connection_id: Authorization(
                c.authorized_at, back_synced.get(c.connection_id, frozenset())
            )
            for c in connections
        },
        crm=crm,
        accounts_by_email=crm.accounts_by_email(),
        contact_ids_by_email={c.email: c.contact_id for c in crm.contacts},
    )
