"""Assertions and truth look-ups several test folders share."""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from collections.abc import Iterable
from typing import Any

from paths import ROOT
from sandbox.server import SandboxServer
from sandbox.workload.model import Mailbox
from vocabulary.headers import HeaderFields
from vocabulary.records import RawEvent
from vocabulary.status import ConnectionFailure
from vocabulary.windows import SyncWindow

HEADER_COLUMNS = (*HeaderFields().record_fields(), "header_defects")
"""EmailRecord fields (and raw_emails columns) that come from a message's headers: the same
whichever provider served the message."""


def assert_leaks_nothing(failure: ConnectionFailure, *secrets: str) -> None:
    """A classified failure shows no secret and no provider text, and chains no exception that
    could (a traceback prints the chain)."""
    text = "".join(traceback.format_exception(failure)) + str(failure) + repr(failure)
    for secret in secrets:
        assert secret not in text
    assert "AADSTS" not in text and "Trace ID" not in text
    assert failure.__cause__ is None
    assert failure.__context__ is None


def truth_message_ids(server: SandboxServer, mailbox: Mailbox, window: SyncWindow) -> list[str]:
    """Ids of the messages the sandbox holds for `mailbox` in `window`, in its order."""
    return [row["id"] for row in server.state.truth(mailbox.address, window.start, window.end)]


def truth_event_ids(server: SandboxServer, mailbox: Mailbox, window: SyncWindow) -> list[str]:
    """Sorted ids of the event occurrences the sandbox holds for `mailbox` in `window`."""
    rows = server.state.truth_events(mailbox.address, window.start, window.end)
    return sorted(r["event_id"] for r in rows)


def placed_event_ids(events: Iterable[RawEvent]) -> list[str]:
    """Sorted ids of listed events that have a time, leaving out Google's deleted events (only
    `id` and `status`), which belong to no window and so to no truth."""
    minimal = {"kind", "etag", "id", "status"}

    def deleted(payload: object) -> bool:
        if not isinstance(payload, dict) or payload.get("status") != "cancelled":
            return False
        return set(payload) <= minimal

    return sorted(e.provider_event_id for e in events if not deleted(e.payload))


def mailbox_stats(server: SandboxServer, mailbox: Mailbox) -> dict[str, Any]:
    """What the sandbox counted of `mailbox`'s requests."""
    return server.state.mailbox_stats(mailbox.address)


def bench_table(module: str, *args: str, timeout: float) -> dict[str, list[str]]:
    """Runs `python -m <module> <args>` (a benchmark), asserts it succeeded, and returns the
    rows of the Markdown table it printed: label -> cells."""
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        m["label"].strip(): [c.strip() for c in m["cells"].split("|")]
        for m in re.finditer(r"^\| (?P<label>[^|]+) \| (?P<cells>.+) \|$", done.stdout, re.M)
    }
