"""What the registry hands out: plain frozen records, none of which carries a token."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from vocabulary.status import ConnectionStatus

R = TypeVar("R")


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
    incident_id: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MissedWindow:
        return _from_row(cls, row, status=ConnectionStatus(row["status"]))


@dataclass(frozen=True)
class Incident:
    """A connection's time away from `active`, until its missed windows are recovered."""

    incident_id: int
    tenant_id: str
    connection_id: str
    status: ConnectionStatus
    cause_code: str | None
    opened_at: datetime
    last_seen_at: datetime
    changed_at: datetime
    closed_at: datetime | None
    closed_reason: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Incident:
        return _from_row(cls, row, status=ConnectionStatus(row["status"]))


@dataclass(frozen=True)
class IncidentCursor:
    """Where a reader of `IncidentStore.changed_since` stopped; `encode()` makes it a sensor
    cursor string."""

    changed_at: datetime
    incident_id: int

    def encode(self) -> str:
        return f"{self.changed_at.isoformat()}|{self.incident_id}"

    @classmethod
    def decode(cls, text: str) -> IncidentCursor:
        moment, _, incident_id = text.partition("|")
        return cls(datetime.fromisoformat(moment), int(incident_id))


@dataclass(frozen=True)
class Notification:
    """One attempt to tell someone about an incident. `recipient` is an address or a webhook's
    name, never a URL (webhook URLs often carry a secret)."""

    notification_id: int
    tenant_id: str
    incident_id: int
    kind: str
    channel: str
    recipient: str
    sent_at: datetime
    result: str
    error_code: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Notification:
        return _from_row(cls, row)


def _from_row(cls: type[R], row: Mapping[str, Any], **converted: Any) -> R:
    """A record of `cls` from the row's columns of the same names, some of them `converted`."""
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return cls(**{name: row[name] for name in fields if name not in converted}, **converted)
