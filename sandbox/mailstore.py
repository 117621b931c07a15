"""One mailbox's messages, indexed the way every provider lists them: by (internalDate, id).

Gmail's `after:`/`before:`, Graph's receivedDateTime filters and the truth all ask for a time
window, so the store keeps its keys sorted and answers a window with two bisections. Not
thread-safe: `SandboxState` holds its lock around every use.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from sandbox.workload.model import SandboxMessage


@dataclass(frozen=True)
class Change:
    """One mutation of a mailbox, as history.list and Graph delta report it.

    `kind` is "added", "deleted" or "labels"; `labels` are the message's labels after the
    change (before it, for a deletion), `labels_before` those it had before (None when added).
    """

    history_id: int
    kind: str
    message_id: str
    thread_id: str
    internal_date_ms: int
    labels: tuple[str, ...]
    labels_before: tuple[str, ...] | None = None


@dataclass
class MailStore:
    """One mailbox's messages, kept sorted by (internalDate, id) for windowed listing."""

    by_id: dict[str, SandboxMessage] = field(default_factory=dict)
    keys: list[tuple[int, str]] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)
    threads_by_mid: dict[str, str] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    """Mutations after the workload was loaded, oldest first (history ids increase)."""
    last_history_id: int = 0
    """The mailbox's current history id: it never goes back, even when a message is deleted."""
    history_floor: int = 0
    """History ids below this are forgotten: a feed starting before it must start over."""

    def add(self, msg: SandboxMessage, history_id: int, *, record: bool = False) -> None:
        self.by_id[msg.id] = msg
        bisect.insort(self.keys, (msg.internal_date_ms, msg.id))
        self.history[msg.id] = history_id
        if msg.internet_message_id:
            self.threads_by_mid.setdefault(msg.internet_message_id, msg.thread_id)
        self._record(history_id, "added", msg, None, record)

    def relabel(self, msg: SandboxMessage, labels: list[str], history_id: int) -> None:
        before = tuple(msg.label_ids)
        msg.label_ids = labels
        self.history[msg.id] = history_id
        self._record(history_id, "labels", msg, before, True)

    def remove(self, msg: SandboxMessage, history_id: int) -> None:
        del self.by_id[msg.id]
        index = bisect.bisect_left(self.keys, (msg.internal_date_ms, msg.id))
        del self.keys[index]
        self.history.pop(msg.id, None)
        self._record(history_id, "deleted", msg, tuple(msg.label_ids), True)

    def _record(
        self,
        history_id: int,
        kind: str,
        msg: SandboxMessage,
        before: tuple[str, ...] | None,
        record: bool,
    ) -> None:
        self.last_history_id = max(self.last_history_id, history_id)
        if record:
            self.changes.append(
                Change(
                    history_id,
                    kind,
                    msg.id,
                    msg.thread_id,
                    msg.internal_date_ms,
                    tuple(msg.label_ids),
                    before,
                )
            )

    def changes_after(self, history_id: int) -> list[Change]:
        """Mutations with a larger history id, oldest first."""
        ids = [c.history_id for c in self.changes]
        return self.changes[bisect.bisect_right(ids, history_id) :]

    def between(self, after_ms: int | None, before_ms: int | None) -> list[SandboxMessage]:
        """Messages with after_ms <= internalDate < before_ms, newest first (ties: larger id)."""
        lo = 0 if after_ms is None else bisect.bisect_left(self.keys, (after_ms, ""))
        hi = len(self.keys) if before_ms is None else bisect.bisect_left(self.keys, (before_ms, ""))
        return [self.by_id[key[1]] for key in reversed(self.keys[lo:hi])]
