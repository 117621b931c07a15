"""The ids a message gets: Gmail's time-ordered hex ids, RFC 5322 Message-IDs, and the
(message id, thread id) pair as the mailbox's provider names them.

Shared by the generator and by `SandboxState.inject_raw`, so generated and injected mail look
alike.
"""

from __future__ import annotations

import random

from sandbox.workload import msids
from sandbox.workload.model import Mailbox


class MessageIds:
    """Draws message ids from the generator's random stream, never handing one out twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used_ids: set[str] = set()

    def gmail_id(self, ms: int) -> str:
        """Like Gmail's: 16 hex digits that grow with time."""
        while True:
            value = ((ms << 20) | self.rng.getrandbits(20)) & 0xFFFF_FFFF_FFFF_FFFF
            candidate = f"{value:016x}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def message_id(self, domain: str) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            token = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_=-")
                for _ in range(40)
            )
            return f"<CA{token}@mail.gmail.com>"
        return f"<{rng.getrandbits(64):016x}.{rng.getrandbits(24):06x}@{domain}>"


def provider_ids(box: Mailbox, gmail_id: str, thread_id: str | None) -> tuple[str, str]:
    """(message id, thread id) as the mailbox's provider names them; a new thread starts with
    the message's own id (Gmail) or a conversation id derived from it (Graph)."""
    if box.provider != "microsoft":
        return gmail_id, thread_id or gmail_id
    user = box.user_id or box.address
    return msids.message_id(user, gmail_id), thread_id or msids.conversation_id(user, gmail_id)
