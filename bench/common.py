"""What the mail benchmarks share: the sandbox in its own process, a throwaway PostgreSQL per
run, Touchpoint's real sync path, and one table of figures with the ratios to a naive baseline.

Touchpoint's runs go through exactly what the `raw_emails` asset runs (ConnectorFactory over the
Google and Microsoft resources, TenantSync, EmailWindowSync), only without Dagster around it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assets.email_sync import EmailWindowSync
from assets.partition_sync import PARALLEL_CONNECTIONS, PARALLEL_ENV
from assets.tenant_sync import TenantSync
from resources.connectors import ConnectorFactory
from resources.google.resource import GoogleWorkspaceResource
from resources.microsoft.resource import MicrosoftGraphResource
from resources.registry import Registry
from resources.secrets import TokenCipher, generate_key
from resources.warehouse import Warehouse
from sandbox.client import SandboxClient
from sandbox.postgres import create_database, throwaway_postgres
from vocabulary.windows import SyncWindow

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class RunFigures:
    name: str
    messages: int
    seconds: float
    http_requests: int
    api_calls: int
    quota_units: int
    fetches: int
    """Per-message fetch calls (Gmail messages.get, Graph message GETs incl. $batch parts)."""
    written: int = 0
    """Rows this run added to raw_emails."""
    client_cpu: float = 0.0
    """CPU seconds of this process (Touchpoint's side: client, parsing, row building)."""
    sandbox_cpu: float = 0.0
    """CPU seconds of the sandbox's process: the providers' side, which shares the machine."""

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def per_message(self, value: float) -> float:
        return value / self.messages if self.messages else 0.0


@dataclass
class CpuClock:
    """CPU time of this process and of the sandbox's, between `start` and `stop`."""

    sandbox_pid: int
    _client: float = 0.0
    _sandbox: float = 0.0

    def start(self) -> None:
        self._client, self._sandbox = time.process_time(), process_cpu_seconds(self.sandbox_pid)

    def stop(self, figures: RunFigures) -> RunFigures:
        figures.client_cpu = time.process_time() - self._client
        figures.sandbox_cpu = process_cpu_seconds(self.sandbox_pid) - self._sandbox
        return figures


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process, all threads (Linux `/proc/<pid>/stat`)."""
    # Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Column:
    """An extra column of one benchmark's table (e.g. Gmail's quota units)."""

    header: str
    value: Callable[[RunFigures], str]


NaiveRun = Callable[[SandboxClient, str, dict, Warehouse, Registry, str, SyncWindow], int]
"""(client, base_url, workload, warehouse, registry, tenant, window) -> messages synced."""


@dataclass(frozen=True)
class Benchmark:
    provider: str
    fetch_methods: tuple[str, ...]
    naive: NaiveRun
    naive_label: str
    columns: tuple[Column, ...] = ()
    variants: tuple[tuple[str, dict[str, Any]], ...] = ()
    """Touchpoint again with some of its provider settings changed, `(label, {setting: value})`:
    what one of its choices is worth, measured in the same run."""


def parse_args(description: str, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mailboxes", type=int, default=5)
    parser.add_argument("--messages-per-mailbox", type=int, default=1100)
    parser.add_argument(
        "--parallel",
        type=int,
        default=PARALLEL_CONNECTIONS,
        help="connections synced at once, as the asset does "
        f"(default: {PARALLEL_ENV} or {PARALLEL_CONNECTIONS})",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 20.0],
        help="simulated network round trips to compare (default: 0 20)",
    )
    return parser.parse_args(argv)


def start_sandbox(
    provider: str, mailboxes: int, messages: int, tenants: int = 1, today: bool = False
) -> tuple[subprocess.Popen, str]:
    """The sandbox in its own process, so its work does not share this interpreter (`provider`
    may be a comma-separated list: each tenant's mailboxes take them round-robin). Mail is on
    yesterday; `today` adds today's elapsed share, what an hourly run syncs."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            *("--port", "0", "--seed", "42", "--tenants", str(tenants), "--days", "1"),
            *(() if today else ("--no-today",)),
            *("--mailboxes-per-tenant", str(mailboxes)),
            *("--messages-per-mailbox-per-day", str(messages)),
            *("--providers", provider),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def load_registry(url: str, workload: dict, key: str | None = None) -> tuple[Warehouse, Registry]:
    """A migrated warehouse holding the workload's tenants and connections; tokens encrypted
    with `key` (a code location that must open them is given the same key) or a fresh one."""
    warehouse = Warehouse(url)
    warehouse.migrate()
    registry = Registry(warehouse, TokenCipher(key or generate_key()))
    for t in workload["tenants"]:
        registry.tenants.add_tenant(
            t["slug"], t["name"], t["internal_domains"], t["blocked_domains"], t["time_zone"]
        )
    for m in workload["mailboxes"]:
        registry.connections.add_connection(
            m["tenant"],
            m["address"],
            m["provider"],
            m["refresh_token"],
            aliases=m["aliases"],
            scopes=m["scopes"],
            authorized_at=datetime.now(UTC),
        )
    return warehouse, registry


def connector_factory(
    registry: Registry, base_url: str, workload: dict, overrides: dict[str, Any] | None = None
) -> ConnectorFactory:
    """The resources the code location builds, pointed at the sandbox, with `overrides` of the
    benchmarked provider's settings. Client-side Gmail quota pacing is off: it would make both
    paths wait on the same quota ceiling."""
    google = GoogleWorkspaceResource(
        base_url=base_url, quota_units_per_second=10**9, **workload["google_client"]
    )
    microsoft = MicrosoftGraphResource(
        graph_base_url=base_url + "/v1.0",
        login_base_url=base_url,
        **workload["microsoft_client"],
    )
    settings = {"google": google.settings(), "microsoft": microsoft.settings()}
    for provider, provider_settings in settings.items():
        known = {f.name for f in dataclasses.fields(provider_settings)}
        settings[provider] = dataclasses.replace(
            provider_settings, **{k: v for k, v in (overrides or {}).items() if k in known}
        )
    return ConnectorFactory(registry.connections, settings)


def sandbox_totals(client: SandboxClient, fetch_methods: tuple[str, ...]) -> tuple[int, ...]:
    total = client.stats()["total"]
    fetches = sum(total["calls_by_method"].get(m, 0) for m in fetch_methods)
    return total["http_requests"], total["api_calls"], total["quota_units"], fetches


def touchpoint_run(
    name: str,
    client: SandboxClient,
    bench: Benchmark,
    base_url: str,
    workload: dict,
    warehouse: Warehouse,
    registry: Registry,
    cpu: CpuClock,
    parallel: int,
    overrides: dict[str, Any] | None = None,
) -> RunFigures:
    tenant, window = tenant_window(workload)
    factory = connector_factory(registry, base_url, workload, overrides)
    client.reset_stats()
    sync = TenantSync(registry, EmailWindowSync(warehouse, factory.mail), parallel=parallel)
    cpu.start()
    t0 = time.perf_counter()
    result = sync.sync(tenant, window, run_id=name, explicit_backfill=True)
    seconds = time.perf_counter() - t0
    bad = [c for c in result.connections if c.status != "active"]
    if bad:
        raise SystemExit(f"{name}: connections failed: {[(c.owner_email, c.status) for c in bad]}")
    held = result.total("synced") + result.total("already_held")
    figures = RunFigures(name, held, seconds, *sandbox_totals(client, bench.fetch_methods))
    figures.written = result.total("synced")
    return cpu.stop(figures)


def naive_run(
    client: SandboxClient,
    bench: Benchmark,
    base_url: str,
    workload: dict,
    warehouse: Warehouse,
    registry: Registry,
    cpu: CpuClock,
) -> RunFigures:
    tenant, window = tenant_window(workload)
    client.reset_stats()
    cpu.start()
    t0 = time.perf_counter()
    synced = bench.naive(client, base_url, workload, warehouse, registry, tenant, window)
    seconds = time.perf_counter() - t0
    totals = sandbox_totals(client, bench.fetch_methods)
    return cpu.stop(RunFigures("naive baseline", synced, seconds, *totals, written=synced))


def tenant_window(workload: dict) -> tuple[str, SyncWindow]:
    day = datetime.fromisoformat(workload["days"][-1]).replace(tzinfo=UTC)
    return workload["tenants"][0]["slug"], SyncWindow.for_day(day)


def print_table(runs: list[RunFigures], columns: tuple[Column, ...]) -> None:
    width = max(26, *(len(r.name) + 1 for r in runs))
    head = (
        f"{'run':<{width}}{'messages':>9}{'seconds':>9}{'msg/s':>9}{'HTTP/msg':>10}"
        f"{'calls/msg':>10}{'fetches':>8}{'cpu ms/msg':>11}{'sandbox ms/msg':>15}"
        + "".join(f"{c.header:>17}" for c in columns)
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        print(
            f"{r.name:<{width}}{r.messages:>9}{r.seconds:>9.2f}{r.per_second:>9.0f}"
            f"{r.per_message(r.http_requests):>10.3f}{r.per_message(r.api_calls):>10.3f}"
            f"{r.fetches:>8}{r.per_message(r.client_cpu) * 1000:>11.3f}"
            f"{r.per_message(r.sandbox_cpu) * 1000:>15.3f}"
            + "".join(f"{c.value(r):>17}" for c in columns)
        )


def compare(
    bench: Benchmark,
    client: SandboxClient,
    base_url: str,
    workload: dict,
    server: Any,
    ms: float,
    cpu: CpuClock,
    parallel: int,
) -> bool:
    """Touchpoint, Touchpoint again on the same partition, and the naive baseline at one
    simulated latency; prints their table and ratios; True when the runs agree."""
    client.clear_faults()
    if ms:
        for m in workload["mailboxes"]:
            client.set_fault(m["address"], "slow", seconds=ms / 1000)
    slug = f"{bench.provider}_{int(ms)}ms"
    fast_wh, fast_reg = load_registry(create_database(server, f"fast_{slug}"), workload)
    naive_wh, naive_reg = load_registry(create_database(server, f"naive_{slug}"), workload)
    runs = [
        touchpoint_run(
            "touchpoint", client, bench, base_url, workload, fast_wh, fast_reg, cpu, parallel
        ),
        touchpoint_run(
            "touchpoint, same partition",
            *(client, bench, base_url, workload, fast_wh, fast_reg, cpu, parallel),
        ),
    ]
    for label, overrides in bench.variants:
        wh, reg = load_registry(create_database(server, f"{slug}_{len(runs)}"), workload)
        runs.append(
            touchpoint_run(
                f"touchpoint, {label}",
                *(client, bench, base_url, workload, wh, reg, cpu, parallel, overrides),
            )
        )
        wh.dispose()
    runs.append(naive_run(client, bench, base_url, workload, naive_wh, naive_reg, cpu))
    fast_wh.dispose()
    naive_wh.dispose()
    print(f"\n-- {ms:g} ms added to every HTTP answer (network round trip) --")
    print_table(runs, bench.columns)
    fast, again, *variants, naive = runs
    print(
        f"touchpoint vs naive ({bench.naive_label}): "
        f"{fast.per_second / naive.per_second:.1f}x messages/s, "
        f"{naive.per_message(naive.http_requests) / fast.per_message(fast.http_requests):.1f}x "
        f"fewer HTTP requests per message, "
        f"{naive.client_cpu / naive.messages / (fast.client_cpu / fast.messages):.1f}x less "
        f"client CPU per message"
    )
    for variant in variants:
        print(
            f"touchpoint vs {variant.name}: "
            f"{fast.per_second / variant.per_second:.1f}x messages/s, "
            f"{variant.client_cpu / variant.messages / (fast.client_cpu / fast.messages):.1f}x "
            f"less client CPU per message"
        )
    print(
        f"second run of the same partition: {again.fetches} message fetches, "
        f"{again.written} rows written ({again.http_requests} HTTP requests in all)"
    )
    if not all(r.messages == fast.messages > 0 for r in runs):
        print(
            f"MISMATCH: runs disagree on the message count "
            f"({', '.join(str(r.messages) for r in runs)})"
        )
        return False
    return again.fetches == 0 and again.written == 0 and fast.written == fast.messages


def main(bench: Benchmark, description: str, argv: list[str] | None) -> int:
    args = parse_args(description, argv)
    logging.basicConfig(level=logging.WARNING)
    proc, base_url = start_sandbox(bench.provider, args.mailboxes, args.messages_per_mailbox)
    try:
        client = SandboxClient(base_url)
        cpu = CpuClock(proc.pid)
        workload = client.workload()
        total = sum(m["message_count"] for m in workload["mailboxes"])
        print(
            f"sandbox {base_url}: tenant {workload['tenants'][0]['slug']}, "
            f"{len(workload['mailboxes'])} {bench.provider} mailboxes, {total} messages on "
            f"{workload['days'][-1]} (drafts, spam/junk, trash/deleted included); "
            f"PostgreSQL warehouse; Touchpoint syncs {args.parallel} connection(s) at once"
        )
        with throwaway_postgres() as server:
            # One untimed pass first, so no measured run pays the process's one-time costs
            # (imports, first connections, msal's discovery).
            warm_wh, warm_reg = load_registry(create_database(server, "warm_up"), workload)
            touchpoint_run(
                "warm-up", client, bench, base_url, workload, warm_wh, warm_reg, cpu, args.parallel
            )
            warm_wh.dispose()
            sound = [
                compare(bench, client, base_url, workload, server, ms, cpu, args.parallel)
                for ms in args.latency_ms
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0 if all(sound) else 1
