"""Connections (one mailbox and its calendar each) and their encrypted tokens.

Tokens go in encrypted and come out only through `refresh_token()` and `token_cache()`; the
`Connection` record has no token field.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from resources.providers import PROVIDERS
from resources.registry.errors import (
    DuplicateConnectionError,
    InvalidInputError,
    UnknownConnectionError,
)
from resources.registry.records import Connection
from resources.registry.tenants import TenantStore
from resources.registry.validation import (
    normalise_email,
    normalise_scopes,
    now,
    validate_authorized_at,
    validate_status,
)
from resources.secrets import TokenCipher
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

_SECRET_COLUMNS = frozenset({"refresh_token_encrypted", "token_cache_encrypted", "created_at"})


def connection_id_for(tenant_id: str, provider: str, owner_email: str) -> str:
    """A short stable id: the same mailbox in the same tenant always gets the same one."""
    digest = hashlib.sha256(f"{tenant_id}\n{provider}\n{owner_email}".encode()).hexdigest()
    return f"conn-{digest[:10]}"


def insert_status_change(
    conn: sa.Connection,
    history: sa.Table,
    row: Mapping[str, Any],
    previous_status: str | None,
    changed_at: datetime,
) -> None:
    """One connection_status_history row for the status in `row` (a connections row)."""
    conn.execute(
        sa.insert(history).values(
            tenant_id=row["tenant_id"],
            connection_id=row["connection_id"],
            changed_at=changed_at,
            previous_status=previous_status,
            status=row["status"],
            cause_code=row["status_cause_code"],
            explanation=row["status_explanation"],
        )
    )


class ConnectionStore:
    """Registers, reads and lists connections, and keeps their tokens encrypted.

    With `cipher=None` the key is read from TOUCHPOINT_SECRET_KEY the first time a token is
    stored or read, so listing connections needs no key at all.
    """

    def __init__(self, warehouse: Warehouse, cipher: TokenCipher | None = None) -> None:
        self.warehouse = warehouse
        self._cipher = cipher
        self._connections = warehouse.table("connections")
        self._tenants = TenantStore(warehouse)

    @property
    def cipher(self) -> TokenCipher:
        if self._cipher is None:
            self._cipher = TokenCipher.from_env()
        return self._cipher

    def add_connection(
        self,
        tenant_id: str,
        owner_email: str,
        provider: str,
        refresh_token: str,
        aliases: Iterable[str] = (),
        scopes: Iterable[str] = (),
        authorized_at: datetime | None = None,
    ) -> Connection:
        """Register a mailbox as `active`, with its token encrypted and a first history row."""
        owner = normalise_email(owner_email, "owner email")
        if provider not in PROVIDERS:
            raise InvalidInputError(
                f"invalid provider {provider!r}; one of: {', '.join(PROVIDERS)}"
            )
        if not isinstance(refresh_token, str) or not refresh_token.strip():
            raise InvalidInputError("the refresh token is empty")
        alias_list = [
            a for a in dict.fromkeys(normalise_email(a, "alias") for a in aliases) if a != owner
        ]
        scope_list = normalise_scopes(scopes)
        authorized = validate_authorized_at(authorized_at) if authorized_at is not None else now()
        self._tenants.get_tenant(tenant_id)
        encrypted = self.cipher.encrypt(refresh_token.strip())
        added_at = now()
        row = {
            "connection_id": connection_id_for(tenant_id, provider, owner),
            "tenant_id": tenant_id,
            "owner_email": owner,
            "aliases": alias_list,
            "provider": provider,
            "scopes": scope_list,
            "authorized_at": authorized,
            "status": ConnectionStatus.ACTIVE.value,
            "status_changed_at": added_at,
            "status_cause_code": "connected",
            "status_explanation": "The mailbox was connected.",
            "refresh_token_encrypted": encrypted,
            "token_cache_encrypted": None,
            "created_at": added_at,
        }
        history = self.warehouse.table("connection_status_history")
        try:
            with self.warehouse.write() as conn:
                conn.execute(sa.insert(self._connections), row)
                insert_status_change(conn, history, row, None, added_at)
        except sa.exc.IntegrityError:
            raise DuplicateConnectionError(
                f"tenant {tenant_id!r} already has a {provider} connection for {owner}"
            ) from None
        return Connection.from_row(row)

    def get_connection(self, connection_id: str) -> Connection:
        connections = self._connections
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(
                sa.select(*self._public_columns()).where(
                    connections.c.connection_id == connection_id
                )
            ).first()
        if row is None:
            raise UnknownConnectionError(connection_id)
        return Connection.from_row(row._mapping)

    def list_connections(
        self,
        tenant_id: str | None = None,
        statuses: Iterable[ConnectionStatus | str] | None = None,
    ) -> list[Connection]:
        """Connections, by tenant then owner; an unknown `tenant_id` is an error, not []."""
        connections = self._connections
        query = sa.select(*self._public_columns()).order_by(
            connections.c.tenant_id, connections.c.owner_email, connections.c.provider
        )
        if tenant_id is not None:
            self._tenants.get_tenant(tenant_id)
            query = query.where(connections.c.tenant_id == tenant_id)
        if statuses is not None:
            wanted = [validate_status(s).value for s in statuses]
            query = query.where(connections.c.status.in_(wanted))
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Connection.from_row(r._mapping) for r in rows]

    def get_connections(self, connection_ids: Iterable[str]) -> dict[str, Connection]:
        """The connections of `connection_ids` by id (unknown ids left out): one query per 500,
        so a sensor reads its incidents' connections without reading every connection."""
        ids = sorted(set(connection_ids))
        connections = self._connections
        found: dict[str, Connection] = {}
        with self.warehouse.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    sa.select(*self._public_columns()).where(
                        connections.c.connection_id.in_(ids[start : start + 500])
                    )
                ).all()
                for r in rows:
                    found[r.connection_id] = Connection.from_row(r._mapping)
        return found

    def count_by_provider(self, excluding: Iterable[ConnectionStatus | str] = ()) -> Counter[str]:
        """Connections per provider, leaving out those in `excluding` statuses (counted by the
        database: one row per provider comes back, whatever the number of connections)."""
        connections = self._connections
        query = sa.select(connections.c.provider, sa.func.count()).group_by(connections.c.provider)
        left_out = [validate_status(s).value for s in excluding]
        if left_out:
            query = query.where(connections.c.status.not_in(left_out))
        with self.warehouse.engine.connect() as conn:
            return Counter({provider: count for provider, count in conn.execute(query).all()})

    def first_authorized_by_tenant(
        self, status: ConnectionStatus | str = ConnectionStatus.ACTIVE
    ) -> dict[str, datetime]:
        """Each tenant's earliest authorization among its connections in `status` (tenants
        without one left out): one row per tenant."""
        connections = self._connections
        query = (
            sa.select(connections.c.tenant_id, sa.func.min(connections.c.authorized_at))
            .where(connections.c.status == validate_status(status).value)
            .group_by(connections.c.tenant_id)
        )
        with self.warehouse.engine.connect() as conn:
            return dict(conn.execute(query).tuples().all())

    def _public_columns(self) -> list[sa.Column]:
        return [c for c in self._connections.c if c.name not in _SECRET_COLUMNS]

    def refresh_token(self, connection_id: str) -> str:
        """The decrypted refresh token. Keep it out of logs, metadata and exceptions."""
        encrypted = self._secret_column(connection_id, "refresh_token_encrypted")
        return self.cipher.decrypt(encrypted)

    def replace_refresh_token(
        self, connection_id: str, refresh_token: str, authorized_at: datetime | None = None
    ) -> None:
        """Swap the stored token, leaving the status alone (key repair, tests). An owner's
        reconnect goes through `ReconnectStore.complete` instead, which also records the link's
        use and sets the connection active with a history row and its incident, in one
        transaction."""
        if not isinstance(refresh_token, str) or not refresh_token.strip():
            raise InvalidInputError("the refresh token is empty")
        values: dict[str, Any] = {
            "refresh_token_encrypted": self.cipher.encrypt(refresh_token.strip())
        }
        if authorized_at is not None:
            values["authorized_at"] = validate_authorized_at(authorized_at)
        self._update(connection_id, values)

    def token_cache(self, connection_id: str) -> str | None:
        """The decrypted serialized token cache (msal), or None when none is stored."""
        encrypted = self._secret_column(connection_id, "token_cache_encrypted")
        return None if encrypted is None else self.cipher.decrypt(encrypted)

    def save_token_cache(self, connection_id: str, cache: str | None) -> None:
        encrypted = None if not cache else self.cipher.encrypt(cache)
        self._update(connection_id, {"token_cache_encrypted": encrypted})

    def _secret_column(self, connection_id: str, column: str) -> str | None:
        connections = self._connections
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(
                sa.select(connections.c[column]).where(connections.c.connection_id == connection_id)
            ).first()
        if row is None:
            raise UnknownConnectionError(connection_id)
        return row[0]

    def _update(self, connection_id: str, values: Mapping[str, Any]) -> None:
        connections = self._connections
        with self.warehouse.write() as conn:
            result = conn.execute(
                sa.update(connections)
                .where(connections.c.connection_id == connection_id)
                .values(**values)
            )
        if result.rowcount == 0:
            raise UnknownConnectionError(connection_id)
