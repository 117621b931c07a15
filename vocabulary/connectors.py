"""The one small interface every provider's connectors implement, and what they report.

The sync only sees windows, raw payloads, `ApiStats` and `ConnectionFailure`; a provider's client
libraries stay behind `MailConnector` / `CalendarConnector` in its own folder under resources/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass
class MailChanges:
    """What changed in a mailbox since the cursors the sync stored, provider-neutral.

    `cursors` (scope -> opaque text) replace the stored ones once the changes are applied; an
    id in `present` is in a synced folder now (new, restored, or moved between synced folders)
    and its current state comes from `fetch_messages`; `removed` maps ids that left the synced
    folders to a `Removal` reason. An id is never in both.
    """

    cursors: dict[str, str]
    present: list[str] = field(default_factory=list)
    removed: dict[str, str] = field(default_factory=dict)
    relisted_since: datetime | None = None
    """Set when the feed started over (no cursor yet, or one the provider forgot): `present` then
    also lists every message received since this moment, so held rows of that span it lacks are
    gone from the mailbox."""


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

    def mail_changes(
        self, cursors: Mapping[str, str], relist_since: datetime, track_since: datetime
    ) -> MailChanges:
        """Changes since `cursors` (as a previous answer returned them), for every message
        received since `track_since` at least. With no cursors, or when the provider no longer
        knows them, the feed starts over: new cursors taken before a full listing of what was
        received since `relist_since` (`relisted_since` set)."""
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
