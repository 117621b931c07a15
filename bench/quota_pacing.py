"""Benchmark: how close pacing gets a mailbox to its provider's quota ceiling, and a tenant of
many mailboxes to one mailbox's time.

    .venv/bin/python -m bench.quota_pacing [--messages 1100] [--tenant-mailboxes 20]
        [--tenant-messages 300] [--parallel 20]

The sandbox runs in its own process enforcing Gmail's per-user quota (250 units/s; a
`messages.get` costs 5, so a mailbox's ceiling is 50 messages/s) and Graph's per-mailbox limits
(4 in flight, 10,000 requests per 10 minutes); a throwaway PostgreSQL holds the warehouse. Each
run syncs one tenant-day through the `raw_emails` path without Dagster (TenantSync +
EmailWindowSync over ConnectorFactory), pacing on, into a fresh database:
1. one Gmail mailbox, at 0 ms and 20 ms added before the sandbox handles each request: quota
   charged when a call is sent (Touchpoint) against charged when its answer arrives (the old
   way, the baseline), as messages/s and as a share of the ceiling;
2. one Graph mailbox at 20 ms, both ways;
3. a tenant of `--tenant-mailboxes` Gmail mailboxes at 20 ms synced `--parallel` at once,
   against one of its mailboxes alone.
Every run prints the rate-limit answers the sandbox gave (the target is 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from assets.email_sync import EmailWindowSync
from assets.tenant_sync import TenantSync
from bench.common import load_registry, start_sandbox, tenant_window
from resources.connectors import ConnectorFactory
from resources.google.resource import GoogleWorkspaceResource
from resources.microsoft.resource import MicrosoftGraphResource
from resources.rate_limit import ChargeAt
from sandbox.client import SandboxClient
from sandbox.postgres import create_database, throwaway_postgres

GMAIL_UNITS_PER_SECOND = 250
GMAIL_GET_UNITS = 5
CEILING_MSGS_PER_SECOND = GMAIL_UNITS_PER_SECOND / GMAIL_GET_UNITS


@dataclass
class Run:
    name: str
    messages: int
    seconds: float
    quota_units: int
    rate_limited: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds

    def row(self, ceiling: bool = True) -> str:
        share = f"{100 * self.per_second / CEILING_MSGS_PER_SECOND:>9.1f}%" if ceiling else " " * 10
        return (
            f"{self.name:<44}{self.messages:>8}{self.seconds:>9.2f}{self.per_second:>9.1f}"
            f"{share}{self.quota_units / self.seconds:>10.1f}{self.rate_limited:>8}"
        )


HEADER = (
    f"{'run':<44}{'messages':>8}{'seconds':>9}{'msg/s':>9}{'ceiling':>10}{'units/s':>10}{'429s':>8}"
)


class Bench:
    """One sandbox process and one PostgreSQL server; each run gets a fresh database."""

    def __init__(self, base_url: str, pg_server: str) -> None:
        self.base_url = base_url
        self.client = SandboxClient(base_url)
        self.workload = self.client.workload()
        self.pg_server = pg_server
        self.client.set_quota(True, units_per_second=GMAIL_UNITS_PER_SECOND)
        self.client.set_graph_limits(
            True, max_concurrent=4, requests_per_window=10_000, window_seconds=600
        )

    def latency(self, ms: float) -> None:
        """`ms` before the sandbox handles each request of every mailbox (its `slow` fault)."""
        self.client.clear_faults()
        if ms:
            for mailbox in self.workload["mailboxes"]:
                self.client.set_fault(mailbox["address"], "slow", seconds=ms / 1000)

    def factory(self, registry: object, charge_at: ChargeAt) -> ConnectorFactory:
        """The code location's resources at their defaults (pacing on), charging `charge_at`."""
        google = GoogleWorkspaceResource(base_url=self.base_url, **self.workload["google_client"])
        microsoft = MicrosoftGraphResource(
            graph_base_url=self.base_url + "/v1.0",
            login_base_url=self.base_url,
            **self.workload["microsoft_client"],
        )
        settings = {
            "google": dataclasses.replace(google.settings(), quota_charge_at=charge_at),
            "microsoft": dataclasses.replace(microsoft.settings(), quota_charge_at=charge_at),
        }
        return ConnectorFactory(registry.connections, settings)  # type: ignore[attr-defined]

    def run(
        self, name: str, charge_at: ChargeAt, provider: str | None = None, parallel: int = 1
    ) -> Run:
        """Syncs the tenant-day (only its first `provider` mailbox when given) into a new
        database."""
        warehouse, registry = load_registry(create_database(self.pg_server, "pace"), self.workload)
        tenant, window = tenant_window(self.workload)
        only = None
        if provider is not None:
            only = next(
                c.connection_id
                for c in registry.connections.list_connections(tenant)
                if c.provider == provider
            )
        factory = self.factory(registry, charge_at)
        sync = TenantSync(
            registry,
            EmailWindowSync(warehouse, factory.mail),
            only_connection=only,
            parallel=parallel,
        )
        self.client.reset_stats()
        t0 = time.perf_counter()
        result = sync.sync(tenant, window, run_id=name, explicit_backfill=True)
        seconds = time.perf_counter() - t0
        warehouse.dispose()
        bad = [(c.owner_email, c.status) for c in result.connections if c.status != "active"]
        if bad:
            raise SystemExit(f"{name}: connections failed: {bad}")
        total = self.client.stats()["total"]
        return Run(
            name,
            result.total("synced"),
            seconds,
            total["quota_units"],
            total["rejected_for_quota"] + total["rejected_for_concurrency"],
        )


@contextmanager
def sandbox(provider: str, mailboxes: int, messages: int) -> Iterator[str]:
    proc, base_url = start_sandbox(provider, mailboxes, messages)
    try:
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def one_mailbox(bench: Bench, latencies: list[float]) -> list[Run]:
    """Part 1 and 2: one Gmail mailbox per latency, one Graph mailbox at the last latency."""
    runs: list[Run] = []
    for ms in latencies:
        bench.latency(ms)
        print(f"\n-- one mailbox, quota enforced, {ms:g} ms before each request is handled --")
        print(HEADER)
        pair = [
            bench.run(f"gmail, charge at send ({ms:g} ms)", "send", "google"),
            bench.run(f"gmail, charge at answer: baseline ({ms:g} ms)", "answer", "google"),
        ]
        for run in pair:
            print(run.row())
        print(f"send vs answer: {pair[0].per_second / pair[1].per_second:.3f}x messages/s")
        runs += pair
    graph = [
        bench.run(f"graph, charge at send ({latencies[-1]:g} ms)", "send", "microsoft"),
        bench.run(f"graph, charge at answer ({latencies[-1]:g} ms)", "answer", "microsoft"),
    ]
    print("\n-- one Graph mailbox (its ceiling is far: 10,000 requests per 10 minutes) --")
    print(HEADER)
    for run in graph:
        print(run.row(ceiling=False))
    return runs + graph


def tenant(bench: Bench, parallel: list[int], ms: float) -> list[Run]:
    """Part 3: the whole tenant, `parallel` connections at once, against one of its mailboxes
    alone."""
    bench.latency(ms)
    alone = bench.run(f"1 mailbox alone ({ms:g} ms)", "send", "google")
    mailboxes = len(bench.workload["mailboxes"])
    together = [
        bench.run(f"{mailboxes} mailboxes, {p} at once ({ms:g} ms)", "send", parallel=p)
        for p in parallel
    ]
    baseline = bench.run(
        f"{mailboxes}, {parallel[0]} at once, charge at answer", "answer", parallel=parallel[0]
    )
    print(f"\n-- a tenant of {mailboxes} Gmail mailboxes, quota enforced, {ms:g} ms --")
    print(HEADER)
    print(alone.row())
    for run, p in zip(together, parallel, strict=True):
        print(run.row(ceiling=False))
        print(
            f"  {p} at once: tenant time / one mailbox's time {run.seconds / alone.seconds:.2f}x "
            f"(target <= 1.3x), {run.per_second:.0f} msg/s in all"
        )
    print(baseline.row(ceiling=False))
    print(f"  baseline: {baseline.seconds / alone.seconds:.2f}x one mailbox's time")
    return [alone, *together, baseline]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1600, help="per mailbox, parts 1-2")
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--tenant-mailboxes", type=int, default=20)
    parser.add_argument("--tenant-messages", type=int, default=300, help="per mailbox, part 3")
    parser.add_argument(
        "--parallel", type=int, nargs="+", default=[20, 4], help="connections at once, part 3"
    )
    parser.add_argument("--part", choices=["all", "mailbox", "tenant"], default="all")
    args = parser.parse_args(argv)
    runs: list[Run] = []
    with throwaway_postgres() as pg_server:
        if args.part in ("all", "mailbox"):
            with sandbox("google,microsoft", 2, args.messages) as base_url:
                bench = Bench(base_url, pg_server)
                # Untimed passes first, so no measured run pays the process's one-time costs.
                bench.run("warm-up", "send", "microsoft")
                bench.run("warm-up", "send", "google")
                runs += one_mailbox(bench, args.latency_ms)
        if args.part in ("all", "tenant"):
            with sandbox("google", args.tenant_mailboxes, args.tenant_messages) as base_url:
                runs += tenant(Bench(base_url, pg_server), args.parallel, args.latency_ms[-1])
    refused = sum(r.rate_limited for r in runs)
    print(f"\nrate-limit answers over all runs: {refused}")
    return 0 if refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
