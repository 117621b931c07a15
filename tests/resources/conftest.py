"""What the connector tests share beside the sandbox (tests/conftest.py): the first mailbox and
the first day of the module's workload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sandbox.workload.model import Mailbox, Workload
from vocabulary.windows import SyncWindow


@pytest.fixture
def mailbox(workload: Workload) -> Mailbox:
    return workload.mailboxes[0]


@pytest.fixture
def window(workload: Workload) -> SyncWindow:
    """The workload's first UTC day."""
    day = workload.days[0]
    return SyncWindow.for_day(datetime(day.year, day.month, day.day, tzinfo=UTC))
