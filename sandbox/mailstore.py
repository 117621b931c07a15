"""One mailbox's messages, indexed the way every provider lists them: by (internalDate, id).

Gmail's `after:`/`before:`, Graph's receivedDateTime filters and the truth all ask for a time
window, so the store keeps its keys sorted and answers a window with two bisections. Not
thread-safe: `SandboxState` holds its lock around every use.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from sandbox.workload.model import SandboxMessage


@dataclass
class MailStore:
    """One mailbox's messages, kept sorted by (internalDate, id) for windowed listing."""

    by_id: dict[str, SandboxMessage] = field(default_factory=dict)
    keys: list[tuple[int, str]] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)
    threads_by_mid: dict[str, str] = field(default_factory=dict)

    def add(self, msg: SandboxMessage, history_id: int) -> None:
        self.by_id[msg.id] = msg
        bisect.insort(self.keys, (msg.internal_date_ms, msg.id))
        self.history[msg.id] = history_id
        if msg.internet_message_id:
            self.threads_by_mid.setdefault(msg.internet_message_id, msg.thread_id)

    def remove(self, msg: SandboxMessage) -> None:
        del self.by_id[msg.id]
        index = bisect.bisect_left(self.keys, (msg.internal_date_ms, msg.id))
        del self.keys[index]
        self.history.pop(msg.id, None)

    def between(self, after_ms: int | None, before_ms: int | None) -> list[SandboxMessage]:
        """Messages with after_ms <= internalDate < before_ms, newest first (ties: larger id)."""
        lo = 0 if after_ms is None else bisect.bisect_left(self.keys, (after_ms, ""))
        hi = len(self.keys) if before_ms is None else bisect.bisect_left(self.keys, (before_ms, ""))
        return [self.by_id[key[1]] for key in reversed(self.keys[lo:hi])]
