"""What the registry hands out: plain frozen records, none of which carries a token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vocabulary.status import ConnectionStatus


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    internal_domains: tuple[str, ...]
    blocked_domains: tuple[str, ...]
    time_zone: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Tenant:
        return cls(
            tenant_id=row["tenant_id"],
            name=row["name"],
            internal_domains=tuple(row["internal_domains"]),
            blocked_domains=tuple(row["blocked_domains"]),
            time_zone=row["time_zone"],
        )


@dataclass(frozen=True)
class Connection:
    """One connected mailbox (and its calendar). Deliberately carries no token, so it can be
    logged, printed or put in event metadata safely."""

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

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Connection:
        return cls(
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
