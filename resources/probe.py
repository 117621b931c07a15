"""The connection probe: finds a broken mailbox between hourly syncs, free of Dagster.

A round asks every connection that may have broken since it last proved healthy the cheapest
authenticated question its provider has (`ProviderKit.probe`: a token refresh and the owner's
profile), a bounded number at once, and applies each answer as the sync does: a
`ConnectionFailure` becomes the connection's status (history row and incident through
`ConnectionHealth`). It never records or closes a missed window: the probe syncs nothing, and
the windows a failure cost are the recovery's to close.

Left out of a round: `stopped` connections, connections in a credential status (only the owner's
reconnect helps, and the sync does not call the provider for them either), and active
connections whose mail or calendar synced successfully within the interval (their sync log
proves them healthy more recently than a probe could).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from resources.connectors import ConnectorFactory
from resources.providers import provider_kit
from resources.registry import Connection, Registry
from resources.schema.streams import STREAM_TABLES
from vocabulary.budget import TimeBudgetExhausted, time_budget
from vocabulary.status import (
    CREDENTIAL_STATUSES,
    TRANSIENT_STATUSES,
    ConnectionFailure,
    ConnectionStatus,
)

PROBE_SUCCEEDED = "probe_succeeded"
"""Cause code of a transient status the probe found healed."""


@dataclass(frozen=True)
class ProbeOutcome:
    """One connection's answer: `failure` None means the probe call succeeded."""

    connection: Connection
    failure: ConnectionFailure | None = None
    out_of_time: bool = False


@dataclass
class ProbeReport:
    """What a round did, for the run's metadata and logs (no addresses, no provider text)."""

    connections: int = 0
    probed: int = 0
    skipped_recently_synced: int = 0
    skipped_needs_reconnect: int = 0
    skipped_stopped: int = 0
    healthy: int = 0
    out_of_time: int = 0
    status_changes: int = 0
    back_to_active: int = 0
    failures_by_status: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def probes_per_second(self) -> float:
        return self.probed / self.seconds if self.seconds > 0 else 0.0


def recently_synced(registry: Registry, since: datetime) -> set[str]:
    """Connections with a successful mail or calendar sync finished at or after `since`."""
    found: set[str] = set()
    warehouse = registry.connections.warehouse
    with warehouse.engine.connect() as conn:
        for spec in STREAM_TABLES:
            log = warehouse.table(spec.sync_log)
            found.update(
                conn.execute(
                    sa.select(log.c.connection_id)
                    .where(
                        log.c.finished_at >= since,
                        log.c.status == ConnectionStatus.ACTIVE.value,
                    )
                    .distinct()
                ).scalars()
            )
    return found


class ConnectionProbe:
    """One probe round over every connection of the registry.

    `concurrency` connections are probed at once (threads: each probe waits on the network).
    Each provider's own limits hold per mailbox inside its clients (a probe is one call per
    mailbox); `budget_seconds` bounds one connection's retries and waits (vocabulary/budget.py),
    so a throttled mailbox cannot hold the round. Results are written from the calling thread,
    one at a time, as they arrive.
    """

    def __init__(
        self,
        registry: Registry,
        factory: ConnectorFactory,
        *,
        interval: timedelta,
        concurrency: int = 32,
        budget_seconds: float = 60.0,
        log: logging.Logger | None = None,
        progress_every: int = 1000,
    ) -> None:
        self.registry = registry
        self.factory = factory
        self.interval = interval
        self.concurrency = max(1, concurrency)
        self.budget_seconds = budget_seconds
        self.log = log or logging.getLogger(__name__)
        self.progress_every = max(1, progress_every)

    def select(
        self, connections: Iterable[Connection], now: datetime, report: ProbeReport
    ) -> list[Connection]:
        """The connections this round probes; counts the others in `report` by reason."""
        synced = recently_synced(self.registry, now - self.interval)
        chosen: list[Connection] = []
        for conn in connections:
            report.connections += 1
            if conn.status == ConnectionStatus.STOPPED:
                report.skipped_stopped += 1
            elif conn.status in CREDENTIAL_STATUSES:
                report.skipped_needs_reconnect += 1
            elif conn.status == ConnectionStatus.ACTIVE and conn.connection_id in synced:
                report.skipped_recently_synced += 1
            else:
                chosen.append(conn)
        return chosen

    def probe_one(self, conn: Connection) -> ProbeOutcome:
        """The provider's answer for one connection (runs in a worker thread)."""
        kit = provider_kit(conn.provider)
        try:
            with time_budget(self.budget_seconds):
                kit.probe(self.factory.budgeted_settings(kit.name), self.factory.credentials(conn))
        except TimeBudgetExhausted:
            # Out of time says nothing about the mailbox: its status stays.
            return ProbeOutcome(conn, out_of_time=True)
        except ConnectionFailure as failure:
            return ProbeOutcome(conn, failure)
        return ProbeOutcome(conn)

    def apply(self, outcome: ProbeOutcome, report: ProbeReport) -> None:
        """Writes one answer as the sync would; never touches missed windows."""
        conn, failure = outcome.connection, outcome.failure
        if outcome.out_of_time:
            report.out_of_time += 1
            return
        if failure is not None:
            report.failures_by_status[failure.status.value] += 1
            if self.registry.health.set_status(
                conn.connection_id, failure.status, failure.cause_code, failure.explanation
            ):
                report.status_changes += 1
            return
        report.healthy += 1
        # A success proves only what the probe asked: the token refreshes and the mailbox
        # answers. That heals throttling and outages; a request_invalid or sync_error of the
        # sync's own requests waits for the next sync to prove itself. Setting active leaves the
        # open missed windows (and so the incident) to the recovery.
        if conn.status in TRANSIENT_STATUSES:
            changed = self.registry.health.set_status(
                conn.connection_id,
                ConnectionStatus.ACTIVE,
                PROBE_SUCCEEDED,
                "the mailbox answered the connection probe normally again",
            )
            report.back_to_active += int(changed)
            report.status_changes += int(changed)

    def run(
        self,
        now: datetime | None = None,
        progress: Callable[[ProbeReport, int], None] | None = None,
    ) -> ProbeReport:
        """Probes every due connection; `progress(report, remaining)` every `progress_every`."""
        started = time.perf_counter()
        now = now or datetime.now(UTC)
        report = ProbeReport()
        due = self.select(self.registry.connections.list_connections(), now, report)
        self.log.info(
            f"probing {len(due)} of {report.connections} connection(s) "
            f"({report.skipped_recently_synced} synced within {self.interval}, "
            f"{report.skipped_needs_reconnect} waiting for a reconnect, "
            f"{report.skipped_stopped} stopped), {self.concurrency} at once"
        )
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="probe") as pool:
            futures = [pool.submit(self.probe_one, conn) for conn in due]
            for done, future in enumerate(as_completed(futures), start=1):
                self.apply(future.result(), report)
                report.probed = done
                if progress is not None and done % self.progress_every == 0:
                    report.seconds = time.perf_counter() - started
                    progress(report, len(due) - done)
        report.seconds = time.perf_counter() - started
        return report
