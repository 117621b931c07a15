"""A connection's time budget: how long its sync may still wait on a provider in this run.

A timeout or throttling storm turns every call into a sequence of retries (~50 s each), so one
mailbox could hold a whole tenant's run past the hour. The sync opens a `time_budget` around
each connection's window; every wait a connector makes (retry backoff, quota pacing) goes
through `budgeted_sleep`, which raises `TimeBudgetExhausted` instead of sleeping past the
deadline. A request already in flight is not interrupted: a connection overshoots its budget by
at most one request's timeout.

The deadline lives in a context variable, so connectors need no extra argument and a sync that
runs connections in threads gets one deadline per thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("touchpoint_time_budget_deadline", default=None)


class TimeBudgetExhausted(Exception):
    """The connection spent its time budget for this run; the rest waits for the next run.

    Not a `ConnectionFailure`: the provider may be fine, the run simply has no more time for
    this connection, so its status is left as it is.
    """

    def __init__(self) -> None:
        super().__init__("the connection used its time budget for this run")


@contextmanager
def time_budget(seconds: float, clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Waits inside the block may last until `seconds` from now, no longer."""
    token = _DEADLINE.set(clock() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def budgeted_sleep(
    sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic
) -> Callable[[float], None]:
    """`sleep`, refusing any wait that would end after the current budget's deadline."""

    def wait(seconds: float) -> None:
        deadline = _DEADLINE.get()
        # No budget open (a CLI probe, a test): wait as asked.
        if deadline is not None and clock() + seconds >= deadline:
            raise TimeBudgetExhausted()
        sleep(seconds)

    return wait
