"""The tenant and connection registry: who is connected, with which token, in which state.

Tokens go in encrypted and come out only through `refresh_token()`; the `Connection` record has
no token field, so a connection can be logged, printed or put in event metadata safely.
Every status change is kept in connection_status_history; a report of the same status again is
not a change and leaves no trace (alerting keys on `status_changed_at`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from resources.migrations import STREAMS, to_utc
from resources.providers import PROVIDERS
from resources.secrets import TokenCipher
from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

TENANT_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*$")


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


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    internal_domains: tuple[str, ...]
    blocked_domains: tuple[str, ...]
    time_zone: str


@dataclass(frozen=True)
class Connection:
    """One connected mailbox (and its calendar). Deliberately carries no token."""

    connection_id: str
    tenant_id: str
    owner_email: str
    aliases: tuple[str, ...]
    provider: str
    scopes: tuple[str, ...]
    authorized_at: datetime
    status: ConnectionStatus
    status_changed_at: datetime
    status_cause_code: str | None
    status_explanation: str | None

    @property
    def addresses(self) -> tuple[str, ...]:
        """The owner's address and aliases: all of them count as the owner."""
        return (self.owner_email, *self.aliases)


@dataclass(frozen=True)
class StatusChange:
    connection_id: str
    changed_at: datetime
    previous_status: ConnectionStatus | None
    status: ConnectionStatus
    cause_code: str | None
    explanation: str | None


@dataclass(frozen=True)
class MissedWindow:
    tenant_id: str
    connection_id: str
    stream: str
    window_start: datetime
    window_end: datetime
    status: ConnectionStatus
    cause_code: str | None
    recorded_at: datetime
    recovered_at: datetime | None


def _stream(stream: str) -> str:
    if stream not in STREAMS:
        raise InvalidInputError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    return stream


def validate_tenant_id(tenant_id: str) -> str:
    """A tenant slug: lowercase letters, digits and inner hyphens, 2..63 characters.

    Dagster joins multi-partition keys with `|` and parses `,[]`, so those never appear.
    """
    if (
        not isinstance(tenant_id, str)
        or not 2 <= len(tenant_id) <= 63
        or not TENANT_SLUG_RE.fullmatch(tenant_id)
    ):
        raise InvalidInputError(
            f"invalid tenant slug {tenant_id!r}: use 2 to 63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    return tenant_id


def _validate_time_zone(time_zone: str) -> str:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInputError(
            f"unknown time zone {time_zone!r} (use an IANA name such as Europe/Paris or UTC)"
        ) from None
    return time_zone


def _email(value: str, what: str) -> str:
    address = (value or "").strip().lower()
    if not _EMAIL_RE.fullmatch(address):
        raise InvalidInputError(f"invalid {what} {value!r}: expected an address like name@domain")
    return address


def _domains(values: Iterable[str], what: str) -> list[str]:
    out: list[str] = []
    for value in values:
        domain = (value or "").strip().lower().lstrip("@")
        if not _DOMAIN_RE.fullmatch(domain):
            raise InvalidInputError(f"invalid {what} {value!r}: expected a domain like example.com")
        if domain not in out:
            out.append(domain)
    return out


def _status(value: ConnectionStatus | str) -> ConnectionStatus:
    try:
        return ConnectionStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ConnectionStatus)
        raise InvalidInputError(f"invalid status {value!r}; one of: {allowed}") from None


def connection_id_for(tenant_id: str, provider: str, owner_email: str) -> str:
    """A short stable id: the same mailbox in the same tenant always gets the same one."""
    digest = hashlib.sha256(f"{tenant_id}\n{provider}\n{owner_email}".encode()).hexdigest()
    return f"conn-{digest[:10]}"


def _now() -> datetime:
    return datetime.now(UTC)


class Registry:
    """Tenants and their connections, stored in the warehouse.

    With `cipher=None` the key is read from TOUCHPOINT_SECRET_KEY the first time a token is
    stored or read, so listing tenants and connections needs no key at all.
    """

    def __init__(self, warehouse: Warehouse, cipher: TokenCipher | None = None) -> None:
        self.warehouse = warehouse
        self._cipher = cipher
        self._t = warehouse.tables

    @property
    def cipher(self) -> TokenCipher:
        if self._cipher is None:
            self._cipher = TokenCipher.from_env()
        return self._cipher

    # Tenants

    def add_tenant(
        self,
        tenant_id: str,
        name: str,
        internal_domains: Iterable[str] = (),
        blocked_domains: Iterable[str] = (),
        time_zone: str = "UTC",
    ) -> Tenant:
        tenant_id = validate_tenant_id(tenant_id)
        name = (name or "").strip()
        if not name:
            raise InvalidInputError("a tenant needs a non-empty name")
        row = {
            "tenant_id": tenant_id,
            "name": name,
            "internal_domains": _domains(internal_domains, "internal domain"),
            "blocked_domains": _domains(blocked_domains, "blocked domain"),
            "time_zone": _validate_time_zone(time_zone),
            "created_at": _now(),
        }
        tenants = self._t["tenants"]
        try:
            with self.warehouse.write() as conn:
                conn.execute(sa.insert(tenants), row)
        except sa.exc.IntegrityError:
            raise DuplicateTenantError(f"tenant {tenant_id!r} already exists") from None
        return _tenant(row)

    def get_tenant(self, tenant_id: str) -> Tenant:
        tenants = self._t["tenants"]
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(sa.select(tenants).where(tenants.c.tenant_id == tenant_id)).first()
        if row is None:
            raise UnknownTenantError(tenant_id)
        return _tenant(row._mapping)

    def list_tenants(self) -> list[Tenant]:
        tenants = self._t["tenants"]
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(sa.select(tenants).order_by(tenants.c.tenant_id)).all()
        return [_tenant(r._mapping) for r in rows]

    # Connections

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
        owner = _email(owner_email, "owner email")
        if provider not in PROVIDERS:
            raise InvalidInputError(
                f"invalid provider {provider!r}; one of: {', '.join(PROVIDERS)}"
            )
        if not isinstance(refresh_token, str) or not refresh_token.strip():
            raise InvalidInputError("the refresh token is empty")
        alias_list = [a for a in dict.fromkeys(_email(a, "alias") for a in aliases) if a != owner]
        scope_list = list(dict.fromkeys(s.strip() for s in scopes if s and s.strip()))
        authorized = to_utc(authorized_at) if authorized_at is not None else _now()
        self.get_tenant(tenant_id)
        encrypted = self.cipher.encrypt(refresh_token.strip())
        now = _now()
        connection_id = connection_id_for(tenant_id, provider, owner)
        row = {
            "connection_id": connection_id,
            "tenant_id": tenant_id,
            "owner_email": owner,
            "aliases": alias_list,
            "provider": provider,
            "scopes": scope_list,
            "authorized_at": authorized,
            "status": ConnectionStatus.ACTIVE.value,
            "status_changed_at": now,
            "status_cause_code": "connected",
            "status_explanation": "The mailbox was connected.",
            "refresh_token_encrypted": encrypted,
            "token_cache_encrypted": None,
            "created_at": now,
        }
        try:
            with self.warehouse.write() as conn:
                conn.execute(sa.insert(self._t["connections"]), row)
                self._insert_history(conn, row, None, now)
        except sa.exc.IntegrityError:
            raise DuplicateConnectionError(
                f"tenant {tenant_id!r} already has a {provider} connection for {owner}"
            ) from None
        return _connection(row)

    def get_connection(self, connection_id: str) -> Connection:
        connections = self._t["connections"]
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(
                sa.select(*self._connection_columns()).where(
                    connections.c.connection_id == connection_id
                )
            ).first()
        if row is None:
            raise UnknownConnectionError(connection_id)
        return _connection(row._mapping)

    def list_connections(
        self,
        tenant_id: str | None = None,
        statuses: Iterable[ConnectionStatus | str] | None = None,
    ) -> list[Connection]:
        """Connections, by tenant then owner; an unknown `tenant_id` is an error, not []."""
        connections = self._t["connections"]
        query = sa.select(*self._connection_columns()).order_by(
            connections.c.tenant_id, connections.c.owner_email, connections.c.provider
        )
        if tenant_id is not None:
            self.get_tenant(tenant_id)
            query = query.where(connections.c.tenant_id == tenant_id)
        if statuses is not None:
            query = query.where(connections.c.status.in_([_status(s).value for s in statuses]))
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_connection(r._mapping) for r in rows]

    def _connection_columns(self) -> list[sa.Column]:
        hidden = {"refresh_token_encrypted", "token_cache_encrypted", "created_at"}
        return [c for c in self._t["connections"].c if c.name not in hidden]

    def refresh_token(self, connection_id: str) -> str:
        """The decrypted refresh token. Keep it out of logs, metadata and exceptions."""
        encrypted = self._secret_column(connection_id, "refresh_token_encrypted")
        return self.cipher.decrypt(encrypted)

    def replace_refresh_token(
        self, connection_id: str, refresh_token: str, authorized_at: datetime | None = None
    ) -> None:
        """Store a new token after a reconnect; `authorized_at` records when it was granted."""
        if not isinstance(refresh_token, str) or not refresh_token.strip():
            raise InvalidInputError("the refresh token is empty")
        values: dict[str, Any] = {
            "refresh_token_encrypted": self.cipher.encrypt(refresh_token.strip())
        }
        if authorized_at is not None:
            values["authorized_at"] = to_utc(authorized_at)
        self._update_connection(connection_id, values)

    def token_cache(self, connection_id: str) -> str | None:
        """The decrypted serialized token cache (msal), or None when none is stored."""
        encrypted = self._secret_column(connection_id, "token_cache_encrypted")
        return None if encrypted is None else self.cipher.decrypt(encrypted)

    def save_token_cache(self, connection_id: str, cache: str | None) -> None:
        encrypted = None if not cache else self.cipher.encrypt(cache)
        self._update_connection(connection_id, {"token_cache_encrypted": encrypted})

    def _secret_column(self, connection_id: str, column: str) -> str | None:
        connections = self._t["connections"]
        with self.warehouse.engine.connect() as conn:
            row = conn.execute(
                sa.select(connections.c[column]).where(connections.c.connection_id == connection_id)
            ).first()
        if row is None:
            raise UnknownConnectionError(connection_id)
        return row[0]

    def _update_connection(self, connection_id: str, values: Mapping[str, Any]) -> None:
        connections = self._t["connections"]
        with self.warehouse.write() as conn:
            result = conn.execute(
                sa.update(connections)
                .where(connections.c.connection_id == connection_id)
                .values(**values)
            )
        if result.rowcount == 0:
            raise UnknownConnectionError(connection_id)

    # Status

    def set_status(
        self,
        connection_id: str,
        status: ConnectionStatus | str,
        cause_code: str | None,
        explanation: str | None,
        at: datetime | None = None,
    ) -> bool:
        """Move the connection to `status`; True when that was a change (and was recorded).

        Reporting the status it already has changes nothing, not even the cause: the time of
        the change is what tells a persisting failure from a new one.
        """
        new_status = _status(status)
        changed_at = to_utc(at) if at is not None else _now()
        connections = self._t["connections"]
        with self.warehouse.write() as conn:
            row = conn.execute(
                sa.select(connections.c.tenant_id, connections.c.status).where(
                    connections.c.connection_id == connection_id
                )
            ).first()
            if row is None:
                raise UnknownConnectionError(connection_id)
            if row.status == new_status.value:
                return False
            values = {
                "status": new_status.value,
                "status_changed_at": changed_at,
                "status_cause_code": cause_code,
                "status_explanation": explanation,
            }
            conn.execute(
                sa.update(connections)
                .where(connections.c.connection_id == connection_id)
                .values(**values)
            )
            self._insert_history(
                conn,
                {"connection_id": connection_id, "tenant_id": row.tenant_id, **values},
                row.status,
                changed_at,
            )
        return True

    def _insert_history(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        previous_status: str | None,
        changed_at: datetime,
    ) -> None:
        conn.execute(
            sa.insert(self._t["connection_status_history"]).values(
                tenant_id=row["tenant_id"],
                connection_id=row["connection_id"],
                changed_at=changed_at,
                previous_status=previous_status,
                status=row["status"],
                cause_code=row["status_cause_code"],
                explanation=row["status_explanation"],
            )
        )

    def status_history(self, connection_id: str) -> list[StatusChange]:
        """Every status change of the connection, oldest first."""
        history = self._t["connection_status_history"]
        connection = self.get_connection(connection_id)
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(
                sa.select(history)
                .where(
                    history.c.tenant_id == connection.tenant_id,
                    history.c.connection_id == connection_id,
                )
                .order_by(history.c.changed_at, history.c.id)
            ).all()
        return [
            StatusChange(
                connection_id=r.connection_id,
                changed_at=r.changed_at,
                previous_status=None
                if r.previous_status is None
                else ConnectionStatus(r.previous_status),
                status=ConnectionStatus(r.status),
                cause_code=r.cause_code,
                explanation=r.explanation,
            )
            for r in rows
        ]

    # Missed windows

    def record_missed_window(
        self,
        connection_id: str,
        start: datetime,
        end: datetime,
        status: ConnectionStatus | str,
        cause_code: str | None,
        *,
        stream: str,
    ) -> bool:
        """Remember that `stream` (mail, calendar) of `[start, end)` was not synced; True when it
        was not recorded yet."""
        start, end = to_utc(start), to_utc(end)
        if end <= start:
            raise InvalidInputError("a missed window must end after it starts")
        connection = self.get_connection(connection_id)
        row = {
            "tenant_id": connection.tenant_id,
            "connection_id": connection_id,
            "stream": _stream(stream),
            "window_start": start,
            "window_end": end,
            "status": _status(status).value,
            "cause_code": cause_code,
            "recorded_at": _now(),
        }
        key = ["tenant_id", "connection_id", "stream", "window_start", "window_end"]
        return self.warehouse.upsert("missed_windows", [row], key, update_columns=[]) == 1

    def mark_windows_recovered(
        self,
        connection_id: str,
        start: datetime,
        end: datetime,
        at: datetime | None = None,
        *,
        stream: str,
    ) -> int:
        """Close the stream's open missed windows that lie inside `[start, end)`; returns how
        many."""
        windows = self._t["missed_windows"]
        connection = self.get_connection(connection_id)
        with self.warehouse.write() as conn:
            result = conn.execute(
                sa.update(windows)
                .where(
                    windows.c.tenant_id == connection.tenant_id,
                    windows.c.connection_id == connection_id,
                    windows.c.stream == _stream(stream),
                    windows.c.recovered_at.is_(None),
                    windows.c.window_start >= to_utc(start),
                    windows.c.window_end <= to_utc(end),
                )
                .values(recovered_at=to_utc(at) if at is not None else _now())
            )
        return result.rowcount

    def missed_windows(
        self, tenant_id: str, connection_id: str | None = None, open_only: bool = True
    ) -> list[MissedWindow]:
        """The tenant's missed windows (only unrecovered ones by default), oldest first."""
        windows = self._t["missed_windows"]
        query = (
            sa.select(windows)
            .where(windows.c.tenant_id == tenant_id)
            .order_by(windows.c.window_start, windows.c.connection_id, windows.c.stream)
        )
        if connection_id is not None:
            query = query.where(windows.c.connection_id == connection_id)
        if open_only:
            query = query.where(windows.c.recovered_at.is_(None))
        with self.warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            MissedWindow(
                tenant_id=r.tenant_id,
                connection_id=r.connection_id,
                stream=r.stream,
                window_start=r.window_start,
                window_end=r.window_end,
                status=ConnectionStatus(r.status),
                cause_code=r.cause_code,
                recorded_at=r.recorded_at,
                recovered_at=r.recovered_at,
            )
            for r in rows
        ]

    # CRM

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
                "account_id": str(a["account_id"]),
                "name": a["name"],
                "domains": _domains(a.get("domains", ()), "account domain"),
            }
            for a in accounts
        ]
        contact_rows = [
            {
                "tenant_id": tenant_id,
                "contact_id": str(c["contact_id"]),
                "account_id": None if c.get("account_id") is None else str(c["account_id"]),
                "name": c.get("name"),
                "email": _email(c["email"], "contact email"),
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


def _tenant(row: Mapping[str, Any]) -> Tenant:
    return Tenant(
        tenant_id=row["tenant_id"],
        name=row["name"],
        internal_domains=tuple(row["internal_domains"]),
        blocked_domains=tuple(row["blocked_domains"]),
        time_zone=row["time_zone"],
    )


def _connection(row: Mapping[str, Any]) -> Connection:
    return Connection(
        connection_id=row["connection_id"],
        tenant_id=row["tenant_id"],
        owner_email=row["owner_email"],
        aliases=tuple(row["aliases"]),
        provider=row["provider"],
        scopes=tuple(row["scopes"]),
        authorized_at=row["authorized_at"],
        status=ConnectionStatus(row["status"]),
        status_changed_at=row["status_changed_at"],
        status_cause_code=row["status_cause_code"],
        status_explanation=row["status_explanation"],
    )
