"""The registry: tenants, their connections (with encrypted tokens) and the connections' health.

One small class per responsibility, each over the Warehouse:
- `TenantStore` (tenants.py): tenants and their CRM accounts and contacts;
- `ConnectionStore` (connections.py): connections and their refresh token and msal token cache,
  encrypted with TokenCipher;
- `ConnectionHealth` (health.py): status changes with their history, and missed windows;
  each change drives the connection's incident;
- `IncidentStore` (incidents.py, rules in incident_rules.py): incidents and their notifications;
- `rotate_tokens` (rotation.py): every stored token re-encrypted under the newest key.
`Registry` bundles them for code that needs several (a tenant sync run, the tests).
"""

from __future__ import annotations

from resources.registry.connections import ConnectionStore, connection_id_for
from resources.registry.errors import (
    DuplicateConnectionError,
    DuplicateTenantError,
    InvalidInputError,
    RegistryError,
    UnknownConnectionError,
    UnknownTenantError,
)
from resources.registry.health import ConnectionHealth
from resources.registry.incident_rules import (
    FAILING_STATUSES,
    NotificationChannel,
    NotificationKind,
    NotificationResult,
)
from resources.registry.incidents import IncidentStore, UnknownIncidentError
from resources.registry.records import (
    Connection,
    Incident,
    IncidentCursor,
    MissedWindow,
    Notification,
    StatusChange,
    Tenant,
)
from resources.registry.rotation import KeyRotation, StrandedConnection, rotate_tokens
from resources.registry.tenants import TenantStore
from resources.registry.validation import TENANT_SLUG_RE, validate_tenant_id
from resources.secrets import TokenCipher
from resources.warehouse import Warehouse

__all__ = [
    "FAILING_STATUSES",
    "TENANT_SLUG_RE",
    "Connection",
    "ConnectionHealth",
    "ConnectionStore",
    "DuplicateConnectionError",
    "DuplicateTenantError",
    "Incident",
    "IncidentCursor",
    "IncidentStore",
    "InvalidInputError",
    "KeyRotation",
    "MissedWindow",
    "Notification",
    "NotificationChannel",
    "NotificationKind",
    "NotificationResult",
    "Registry",
    "RegistryError",
    "StatusChange",
    "StrandedConnection",
    "Tenant",
    "TenantStore",
    "UnknownConnectionError",
    "UnknownIncidentError",
    "UnknownTenantError",
    "connection_id_for",
    "rotate_tokens",
    "validate_tenant_id",
]


class Registry:
    """The registry parts over one warehouse: `tenants`, `connections`, `health`, `incidents`.

    With `cipher=None` the key is read from TOUCHPOINT_SECRET_KEY the first time a token is
    stored or read, so listing tenants and connections needs no key at all.
    """

    def __init__(self, warehouse: Warehouse, cipher: TokenCipher | None = None) -> None:
        self.warehouse = warehouse
        self.tenants = TenantStore(warehouse)
        self.connections = ConnectionStore(warehouse, cipher)
        self.incidents = IncidentStore(warehouse)
        self.health = ConnectionHealth(warehouse, self.incidents)
