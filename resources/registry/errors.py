"""The registry's expected failures; their texts are safe to show to a user (no tokens)."""

from __future__ import annotations


class RegistryError(Exception):
    """A registry request that cannot be done; the text is safe to show to a user."""


class InvalidInputError(RegistryError, ValueError):
    pass


class UnknownTenantError(RegistryError, LookupError):
    def __init__(self, tenant_id: str) -> None:
        super().__init__(f"unknown tenant {tenant_id!r} (see `touchpoint tenants list`)")
        self.tenant_id = tenant_id


class UnknownConnectionError(RegistryError, LookupError):
    def __init__(self, connection_id: str) -> None:
        super().__init__(
            f"unknown connection {connection_id!r} (see `touchpoint connections list`)"
        )
        self.connection_id = connection_id


class DuplicateTenantError(RegistryError):
    pass


class DuplicateConnectionError(RegistryError):
    pass
