"""Tenants and their CRM data (accounts, contacts): who the warehouse works for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from resources.registry.errors import DuplicateTenantError, UnknownTenantError
from resources.registry.records import Tenant
from resources.registry.validation import (
    normalise_domains,
    normalise_email,
    now,
    optional_name,
    validate_crm_id,
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

    def upsert_crm(
        self,
        tenant_id: str,
        accounts: Iterable[Mapping[str, Any]],
        contacts: Iterable[Mapping[str, Any]],
    ) -> tuple[int, int]:
        """Load the tenant's CRM accounts (account_id, name, domains) and contacts
        (contact_id, account_id, name, email); returns rows written for each."""
        self.get_tenant(tenant_id)
        account_rows = [
            {
                "tenant_id": tenant_id,
                "account_id": validate_crm_id(a["account_id"], "account id"),
                "name": validate_name(a["name"], "account name"),
                "domains": normalise_domains(a.get("domains", ()), "account domain"),
            }
            for a in accounts
        ]
        contact_rows = [
            {
                "tenant_id": tenant_id,
                "contact_id": validate_crm_id(c["contact_id"], "contact id"),
                "account_id": None
                if c.get("account_id") is None
                else validate_crm_id(c["account_id"], "account id"),
                "name": optional_name(c.get("name"), "contact name"),
                "email": normalise_email(c["email"], "contact email"),
            }
            for c in contacts
        ]
        written_accounts = self.warehouse.upsert(
            "accounts", account_rows, ["tenant_id", "account_id"]
        )
        written_contacts = self.warehouse.upsert(
            "contacts", contact_rows, ["tenant_id", "contact_id"]
        )
        return written_accounts, written_contacts
