"""The one small interface every provider connector implements, and the vocabulary it speaks.

Connectors (Google, later Microsoft) hide their client libraries behind `MailConnector`; the
sync logic in assets/ only sees windows, raw payloads, statistics and `ConnectionFailure`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol


class ConnectionStatus(StrEnum):
    """DESIGN.md's connection statuses; the value is what the warehouse stores."""

    ACTIVE = "active"
    THROTTLED = "throttled"
    NO_SERVICE_CONNECTION = "no_service_connection"
    INVALID_CREDENTIALS = "invalid_credentials"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    ACCOUNT_SUSPENDED = "account_suspended"
    REQUEST_INVALID = "request_invalid"
    SYNC_ERROR = "sync_error"
    STOPPED = "stopped"


CREDENTIAL_STATUSES = frozenset(
    {
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        ConnectionStatus.ACCOUNT_SUSPENDED,
    }
)
"""Failures only the mailbox owner can fix: they alert at once and syncing waits for a reconnect."""

TRANSIENT_STATUSES = frozenset({ConnectionStatus.THROTTLED, ConnectionStatus.NO_SERVICE_CONNECTION})
"""Failures that usually heal by themselves: they alert only when they persist."""


class ConnectionFailure(Exception):
    """A classified, expected failure of one connection.

    Its text is built only from the status, a short cause code and a plain-words explanation, so
    it can go into logs, event metadata and the status history without leaking a token or a
    provider response body.
    """

    def __init__(self, status: ConnectionStatus, cause_code: str, explanation: str) -> None:
        super().__init__(f"{status.value} ({cause_code}): {explanation}")
        self.status = status
        self.cause_code = cause_code
        self.explanation = explanation


@dataclass(frozen=True)
class SyncWindow:
    """A half-open UTC interval `[start, end)`; a tenant-day partition is one of these."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("SyncWindow needs timezone-aware datetimes (UTC)")
        if self.end <= self.start:
            raise ValueError(f"SyncWindow end {self.end} is not after start {self.start}")

    @classmethod
    def for_day(cls, day: datetime) -> SyncWindow:
        start = day.replace(hour=0, minute=0, second=0, microsecond=0)
        return cls(start, start + timedelta(days=1))


@dataclass
class RawMessage:
    """One provider message as fetched: the decoded JSON payload, or why there is none.

    `payload is None` means the provider answered something unusable for this message (broken
    JSON, wrong shape); the sync quarantines it with `error` and a short `excerpt`.
    """

    provider_message_id: str
    payload: dict[str, Any] | None
    error: str | None = None
    excerpt: str | None = None


@dataclass
class RawEvent:
    """One calendar event occurrence as the provider listed it (already expanded from its series).

    `payload is None` means the provider answered something unusable for this event; the sync
    quarantines it with `error` and a short `excerpt`.
    """

    provider_event_id: str
    payload: dict[str, Any] | None
    error: str | None = None
    excerpt: str | None = None


@dataclass
class ApiStats:
    """What one connector spent talking to its provider; summed into materialization metadata."""

    api_calls: int = 0
    http_requests: int = 0
    quota_units: int = 0
    retries: int = 0
    throttled_seconds: float = 0.0
    calls_by_method: dict[str, int] = field(default_factory=dict)

    def count_call(self, method: str, quota_units: int = 0) -> None:
        self.api_calls += 1
        self.quota_units += quota_units
        self.calls_by_method[method] = self.calls_by_method.get(method, 0) + 1

    def add(self, other: ApiStats) -> None:
        self.api_calls += other.api_calls
        self.http_requests += other.http_requests
        self.quota_units += other.quota_units
        self.retries += other.retries
        self.throttled_seconds += other.throttled_seconds
        for method, n in other.calls_by_method.items():
            self.calls_by_method[method] = self.calls_by_method.get(method, 0) + n


class MailConnector(Protocol):
    """One connected mailbox's mail, as the sync needs it.

    Both methods raise `ConnectionFailure` for anything that stops the whole connection (bad
    credentials, permissions, throttling or outage that outlasted the retries). A message that
    vanished between listing and fetching is simply not yielded.
    """

    provider: str
    stats: ApiStats

    def list_message_ids(self, window: SyncWindow) -> list[str]:
        """Ids of the mailbox's messages received in `window`, drafts, spam and trash excluded."""
        ...

    def fetch_messages(self, message_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The messages' header-level payloads, fetched in batches."""
        ...


class CalendarConnector(Protocol):
    """One connected calendar's meetings, as the sync needs them.

    Raises `ConnectionFailure` like `MailConnector`. Recurring series come back expanded: one
    RawEvent per occurrence whose start lies in the window, cancelled occurrences included (the
    sync records them as cancelled).
    """

    provider: str
    stats: ApiStats

    def list_events(self, window: SyncWindow) -> list[RawEvent]:
        """Every event occurrence starting in `window` (all-day events by their UTC day)."""
        ...
