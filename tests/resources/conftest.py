"""What the connector tests share: a sandbox serving the test module's own `workload`, put back
to normal around each test, and the first mailbox and day of that workload.

Each connector module defines `workload` (its own seed, providers and size) and marks itself
`pytest.mark.usefixtures("clean_sandbox")`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from sandbox.server import SandboxServer
from sandbox.workload.model import Mailbox, Workload
from vocabulary.windows import SyncWindow


@pytest.fixture(scope="module")
def server(workload: Workload) -> Iterator[SandboxServer]:
    with SandboxServer(workload) as sandbox:
        yield sandbox


def _normal(server: SandboxServer) -> None:
    """No faults, no quota, Graph's documented limits (off until a test turns them on)."""
    server.state.clear_faults()
    server.state.set_quota(False)
    server.state.set_graph_limits(False, max_concurrent=4, requests_per_window=10_000)


@pytest.fixture
def clean_sandbox(server: SandboxServer) -> Iterator[None]:
    _normal(server)
    server.state.reset_stats()
    yield
    _normal(server)


@pytest.fixture
def mailbox(workload: Workload) -> Mailbox:
    return workload.mailboxes[0]


@pytest.fixture
def window(workload: Workload) -> SyncWindow:
    """The workload's first UTC day."""
    day = workload.days[0]
    return SyncWindow.for_day(datetime(day.year, day.month, day.day, tzinfo=UTC))
