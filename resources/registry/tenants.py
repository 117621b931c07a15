"""Tenants and their CRM data (accounts, contacts): who the warehouse works for."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from resources.registry.crm import CrmAccount, CrmContact, CrmSnapshot
from resources.registry.errors import DuplicateTenantError, UnknownTenantError
from resources.registry.records import Tenant
from resources.registry.validation import (
    normalise_domains,
    now,
    validate_name,
    validate_tenant_id,
    validate_time_zone,
)
from resources.warehouse import Warehouse


class TenantStore:
    """Adds, reads and lists tenants, and loads each tenant's CRM accounts and contacts."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._tenants = warehouse.table("tenants")

    def add_tenant(
        self,
        tenant_id: str,
        name: str,
        internal_domains: Iterable[str] = (),
        blocked_domains: Iterable[str] = (),
        time_zone: str = "UTC",
    ) -> Tenant:
        tenant_id = validate_tenant_id(tenant_id)
        row = {
            "tenant_id": tenant_id,
            "name": validate_name(name, "tenant name"),
            "internal_domains": normalise_domains(internal_domains, "internal domain"),
            "blocked_domains": normalise_domains(blocked_domains, "blocked domain"),
            "time_zone": validate_time_zone(time_zone),
            "created_at": now(),
        }
        try:
            with self.warehouse.write() as conn:
                conn.execute(sa.insert(self._tenants), row)
        except sa.exc.IntegrityError:
            raise DuplicateTenantError(f"tenant {tenant_id!r} already exists") from None
        return Tenant.from_row(row)

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenants = self._tenants
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)).first()
        if row is None:
            raise UnknownTenantError(tenant_id)
        return Tenant.from_row(row._mapping)

    def list_tenants(self) -> list[Tenant]:
        tenants = self._tenants
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(sa.select(tenants).order_by(tenants.c.tenant_id)).all()
        return [Tenant.from_row(r._mapping) for r in rows]

    def replace_crm(self, tenant_id: str, crm: CrmSnapshot) -> None:
        """Make `crm` the tenant's whole CRM, in one transaction: accounts, contacts and
        memberships absent from it are deleted (a contact removed at the source disappears),
        and no reader ever sees half of the old CRM and half of the new one."""
        self.get_tenant(tenant_id)
        tables = [self.warehouse.table(n) for n in ("account_contacts", "contacts", "accounts")]
        memberships, contacts, accounts = tables
        with self.warehouse.write() as conn:
            for table in tables:
                conn.execute(sa.delete(table).where(table.c.tenant_id == tenant_id))
            if crm.accounts:
                conn.execute(
                    sa.insert(accounts),
                    [
                        {
                            "tenant_id": tenant_id,
                            "account_id": a.account_id,
                            "name": a.name,
                            "domains": list(a.domains),
                        }
                        for a in crm.accounts
                    ],
                )
            if crm.contacts:
                conn.execute(
                    sa.insert(contacts),
                    [
                        {
                            "tenant_id": tenant_id,
                            "contact_id": c.contact_id,
                            "name": c.name,
                            "email": c.email,
                        }
                        for c in crm.contacts
                    ],
                )
            if crm.memberships:
                conn.execute(
                    sa.insert(memberships),
                    [
                        {"tenant_id": tenant_id, "account_id": a, "contact_id": c}
                        for a, c in crm.memberships
                    ],
                )
            # The version a sensor compares, written in the same transaction as the CRM.
            versions = self.warehouse.table("crm_versions")
            conn.execute(sa.delete(versions).where(versions.c.tenant_id == tenant_id))
            conn.execute(
                sa.insert(versions),
                {"tenant_id": tenant_id, "fingerprint": crm.fingerprint(), "loaded_at": now()},
            )

    def crm_versions(self) -> dict[str, str]:
        """tenant_id -> the fingerprint of its loaded CRM (tenants never loaded left out): one
        small row per tenant, so a sensor sees a CRM change without reading any CRM."""
        versions = self.warehouse.table("crm_versions")
        with self.warehouse.engine.connect() as conn:
            return dict(conn.execute(sa.select(versions.c.tenant_id, versions.c.fingerprint)).all())

    def read_crm(self, tenant_id: str) -> CrmSnapshot:
        """The tenant's CRM as loaded (empty when none was), in one consistent read."""
        self.get_tenant(tenant_id)
        accounts = self.warehouse.table("accounts")
        contacts = self.warehouse.table("contacts")
        memberships = self.warehouse.table("account_contacts")
        with self.warehouse.engine.connect() as conn, conn.begin():
            account_rows = conn.execute(
                sa.select(accounts)
                .where(accounts.c.tenant_id == tenant_id)
                .order_by(accounts.c.account_id)
            ).all()
            contact_rows = conn.execute(
                sa.select(contacts)
                .where(contacts.c.tenant_id == tenant_id)
                .order_by(contacts.c.contact_id)
            ).all()
            member_rows = conn.execute(
                sa.select(memberships.c.account_id, memberships.c.contact_id).where(
                    memberships.c.tenant_id == tenant_id
                )
            ).all()
        accounts_of: dict[str, list[str]] = {}
        for account_id, contact_id in member_rows:
            accounts_of.setdefault(contact_id, []).append(account_id)
        return CrmSnapshot(
            tuple(CrmAccount(r.account_id, r.name, tuple(r.domains)) for r in account_rows),
            tuple(
                CrmContact(
                    r.contact_id, r.name, r.email, tuple(sorted(accounts_of.get(r.contact_id, [])))
                )
                for r in contact_rows
            ),
        )
