"""One connection probe round over many connections against the sandbox, with a sequential
baseline in the same run.

The sandbox runs in its own process with mailboxes only (no mail: `--messages-per-mailbox-per-day
0`), a throwaway PostgreSQL holds the registry, and the round is exactly what
`connection_probe_job` runs (`ConnectionProbe` over the registry, real google-api-python-client
and msal). The baseline probes a sample of the same connections one at a time (the same code,
concurrency 1); the figure to compare is probes per second, and whether the round fits the
probe interval.

    .venv/bin/python -m bench.probe --connections 10000 --concurrency 32
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from bench.common import connector_factory, load_registry, start_sandbox
from resources.probe import ConnectionProbe, ProbeReport
from sandbox.client import SandboxClient
from sandbox.postgres import create_database, throwaway_postgres

MAILBOXES_PER_TENANT = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--baseline-sample", type=int, default=300)
    parser.add_argument("--latency-ms", type=int, default=0, help="added to every sandbox answer")
    parser.add_argument("--interval-minutes", type=int, default=15)
    return parser.parse_args(argv)


def line(name: str, report: ProbeReport, calls: dict) -> str:
    return (
        f"{name:<22} {report.probed:>7} {report.seconds:>9.1f} {report.probes_per_second:>9.1f} "
        f"{calls['token_refreshes']:>9} {calls['api_calls']:>9} "
        f"{sum(report.failures_by_status.values()):>8}"
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tenants = max(1, args.connections // MAILBOXES_PER_TENANT)
    interval = timedelta(minutes=args.interval_minutes)
    t0 = time.perf_counter()
    proc, base_url = start_sandbox("google,microsoft", MAILBOXES_PER_TENANT, 0, tenants)
    try:
        client = SandboxClient(base_url)
        workload = client.workload()
        if args.latency_ms:
            for m in workload["mailboxes"]:
                client.set_fault(m["address"], "slow", seconds=args.latency_ms / 1000)
        with throwaway_postgres() as server:
            warehouse, registry = load_registry(create_database(server), workload)
            factory = connector_factory(registry, base_url, workload)
            connections = registry.connections.list_connections()
            print(
                f"{len(connections)} connections ({tenants} tenants, google and microsoft), "
                f"sandbox + registry ready in {time.perf_counter() - t0:.0f}s, "
                f"latency {args.latency_ms} ms"
            )
            # The baseline: the same probe of a sample, one connection at a time.
            sequential = ConnectionProbe(registry, factory, interval=interval, concurrency=1)
            baseline = ProbeReport()
            client.reset_stats()
            started = time.perf_counter()
            for conn in connections[: args.baseline_sample]:
                sequential.apply(sequential.probe_one(conn), baseline)
                baseline.probed += 1
            baseline.seconds = time.perf_counter() - started
            baseline_calls = client.stats()["total"]

            client.reset_stats()
            probe = ConnectionProbe(
                registry, factory, interval=interval, concurrency=args.concurrency
            )
            report = probe.run(
                progress=lambda r, left: print(
                    f"  ... {r.probed} probed, {left} to go, {r.probes_per_second:.0f}/s",
                    flush=True,
                )
            )
            calls = client.stats()["total"]
            warehouse.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    print()
    header = f"{'run':<22} {'probed':>7} {'seconds':>9} {'probes/s':>9}"
    print(header + f" {'refreshes':>9} {'api calls':>9} {'failures':>8}")
    print(line("sequential baseline", baseline, baseline_calls))
    print(line(f"round, {args.concurrency} threads", report, calls))
    ratio = report.probes_per_second / baseline.probes_per_second
    projected = len(connections) / baseline.probes_per_second
    print()
    print(f"ratio round / sequential: {ratio:.1f}x probes per second")
    print(
        f"whole round: {report.seconds:.0f}s for {report.probed} connections "
        f"(sequential would take ~{projected:.0f}s); interval {interval.total_seconds():.0f}s: "
        f"{'within' if report.seconds < interval.total_seconds() else 'OVER'}"
    )


if __name__ == "__main__":
    main()
