"""Dagster resources for the warehouse and the credential vault."""

from __future__ import annotations

import dagster as dg

from resources.registry import Registry
from resources.secrets import TokenCipher
from resources.warehouse import Warehouse

_WAREHOUSES: dict[str, Warehouse] = {}


class WarehouseResource(dg.ConfigurableResource):
    """The engagement warehouse: a SQLite file for the demo, PostgreSQL in production."""

    url: str

    def get(self) -> Warehouse:
        """A migrated Warehouse; one engine per URL per process, so runs reuse the pool."""
        warehouse = _WAREHOUSES.get(self.url)
        if warehouse is None:
            warehouse = Warehouse(self.url)
            warehouse.migrate()
            _WAREHOUSES[self.url] = warehouse
        return warehouse


class CredentialVaultResource(dg.ConfigurableResource):
    """Decrypts stored refresh tokens; the key comes from the environment, never from config."""

    secret_key: str

    def registry(self, warehouse: Warehouse) -> Registry:
        return Registry(warehouse, TokenCipher(self.secret_key))
