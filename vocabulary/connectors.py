"""The one small interface every provider's connectors implement, and what they report.

The sync only sees windows, raw payloads, `ApiStats` and `ConnectionFailure`; a provider's client
libraries stay behind `MailConnector` / `CalendarConnector` in its own folder under resources/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from vocabulary.records import RawEvent, RawMessage
from vocabulary.windows import SyncWindow


@dataclass(frozen=True)
class MailboxCredentials:
    """What a connector needs to act for one mailbox, decrypted for the length of a sync.

    `token_cache` / `save_token_cache`: providers whose library keeps its own token cache
    (msal) get it back encrypted at rest through the callback; others ignore both.
    """

    owner_email: str
    refresh_token: str
    token_cache: str | None = None
    save_token_cache: Callable[[str], None] | None = None

    def __repr__(self) -> str:
        # Never show the token, even in a traceback's locals.
        return f"MailboxCredentials(owner_email={self.owner_email!r})"


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
