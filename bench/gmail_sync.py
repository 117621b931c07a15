"""Benchmark: one tenant-day of Gmail into PostgreSQL, Touchpoint's path beside a naive baseline.

    .venv/bin/python bench/gmail_sync.py [--mailboxes 5] [--messages-per-mailbox 1100]

Starts a throwaway PostgreSQL and the provider sandbox (its own process, so server work does not
share this interpreter), then syncs the same tenant-day three times:
1. Touchpoint: list the window, messages.get(format=metadata) in batches of 50, COPY upserts;
2. Touchpoint again on the same partition: must make zero messages.get calls;
3. naive baseline: one messages.get(format=full) HTTP request per message, one INSERT per row.
It prints messages/s, HTTP requests, API calls and Gmail quota units per message, and ratios.
Client-side quota pacing is off in all runs (it would make both paths wait on the same quota
ceiling); the quota-bound time at Gmail's 250 units/s per user is printed beside.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from googleapiclient.discovery import build  # noqa: E402

from assets.email_parsing import is_syncable, parse_gmail_message  # noqa: E402
from assets.email_sync import TenantEmailSync, email_row  # noqa: E402
from resources.google_mail import GoogleMailConnector  # noqa: E402
from resources.provider import RawMessage, SyncWindow  # noqa: E402
from resources.registry import Registry  # noqa: E402
from resources.secrets import TokenCipher, generate_key  # noqa: E402
from resources.warehouse import Warehouse  # noqa: E402
from sandbox.client import SandboxClient  # noqa: E402
from sandbox.postgres import create_database, throwaway_postgres  # noqa: E402

GMAIL_USER_QUOTA = 250  # units per second per user


@dataclass
class RunFigures:
    name: str
    messages: int
    seconds: float
    http_requests: int
    api_calls: int
    quota_units: int
    gets: int
    mailboxes: int

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    def per_message(self, value: int) -> float:
        return value / self.messages if self.messages else 0.0

    @property
    def quota_bound_seconds(self) -> float:
        """Time the quota alone imposes when the mailboxes sync one after another."""
        return self.quota_units / GMAIL_USER_QUOTA


def _start_sandbox(mailboxes: int, messages: int) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--seed",
            "42",
            "--tenants",
            "1",
            "--mailboxes-per-tenant",
            str(mailboxes),
            "--days",
            "1",
            "--messages-per-mailbox-per-day",
            str(messages),
            "--no-today",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _sandbox_totals(client: SandboxClient) -> tuple[int, int, int, int]:
    total = client.stats()["total"]
    gets = total["calls_by_method"].get("gmail.users.messages.get", 0)
    return total["http_requests"], total["api_calls"], total["quota_units"], gets


def _registry(url: str, workload: dict) -> tuple[Warehouse, Registry]:
    warehouse = Warehouse(url)
    warehouse.migrate()
    registry = Registry(warehouse, TokenCipher(generate_key()))
    for t in workload["tenants"]:
        registry.add_tenant(
            t["slug"], t["name"], t["internal_domains"], t["blocked_domains"], t["time_zone"]
        )
    for m in workload["mailboxes"]:
        registry.add_connection(
            m["tenant"],
            m["address"],
            m["provider"],
            m["refresh_token"],
            aliases=m["aliases"],
            scopes=m["scopes"],
            authorized_at=datetime.now(UTC),
        )
    return warehouse, registry


def _touchpoint_run(name, client, base_url, google_client, warehouse, registry, tenant, window):
    def connector_for(conn, token):
        return GoogleMailConnector(
            conn.owner_email,
            token,
            base_url=base_url,
            quota_units_per_second=10**9,
            **google_client,
        )

    client.reset_stats()
    sync = TenantEmailSync(registry, warehouse, connector_for)
    t0 = time.perf_counter()
    result = sync.sync(tenant, window, run_id=name, explicit_backfill=True)
    seconds = time.perf_counter() - t0
    http, calls, units, gets = _sandbox_totals(client)
    held = result.total("synced") + result.total("already_held")
    return RunFigures(name, held, seconds, http, calls, units, gets, len(result.connections))


def _naive_run(client, base_url, google_client, warehouse, registry, tenant, window):
    """What a first implementation does: one HTTP request per message, one INSERT per row."""
    from google.oauth2.credentials import Credentials

    client.reset_stats()
    t0 = time.perf_counter()
    synced = 0
    connections = registry.list_connections(tenant)
    for conn in connections:
        creds = Credentials(
            None,
            refresh_token=registry.refresh_token(conn.connection_id),
            token_uri=base_url + "/token",
            **google_client,
        )
        service = build(
            "gmail",
            "v1",
            credentials=creds,
            static_discovery=True,
            client_options={"api_endpoint": base_url + "/"},
        )
        ids, page = [], None
        query = (
            f"after:{int(window.start.timestamp())} before:{int(window.end.timestamp())} -in:drafts"
        )
        while True:
            resp = (
                service.users()
                .messages()
                .list(userId="me", q=query, pageToken=page, maxResults=500)
                .execute()
            )
            ids += [m["id"] for m in resp.get("messages", [])]
            if not (page := resp.get("nextPageToken")):
                break
        for mid in ids:
            payload = service.users().messages().get(userId="me", id=mid).execute()
            record = parse_gmail_message(RawMessage(mid, payload))
            if hasattr(record, "labels") and is_syncable(record.labels):
                warehouse.insert_rows_one_by_one(
                    "raw_emails", [email_row(tenant, conn.connection_id, record, datetime.now(UTC))]
                )
                synced += 1
    seconds = time.perf_counter() - t0
    http, calls, units, gets = _sandbox_totals(client)
    return RunFigures("naive baseline", synced, seconds, http, calls, units, gets, len(connections))


def _print(runs: list[RunFigures]) -> None:
    head = (
        f"{'run':<26}{'messages':>9}{'seconds':>9}{'msg/s':>9}{'HTTP/msg':>10}"
        f"{'calls/msg':>10}{'units/msg':>10}{'gets':>7}{'quota-bound s':>14}"
    )
    print(head)
    print("-" * len(head))
    for r in runs:
        print(
            f"{r.name:<26}{r.messages:>9}{r.seconds:>9.2f}{r.per_second:>9.0f}"
            f"{r.per_message(r.http_requests):>10.3f}{r.per_message(r.api_calls):>10.3f}"
            f"{r.per_message(r.quota_units):>10.2f}{r.gets:>7}{r.quota_bound_seconds:>14.1f}"
        )


def _compare(client, base_url, google_client, workload, server, latency_ms: float) -> bool:
    """The three runs at one simulated network latency; prints their table; True if sound."""
    tenant = workload["tenants"][0]["slug"]
    window = SyncWindow.for_day(datetime.fromisoformat(workload["days"][-1]).replace(tzinfo=UTC))
    client.clear_faults()
    if latency_ms:
        for m in workload["mailboxes"]:
            client.set_fault(m["address"], "slow", seconds=latency_ms / 1000)
    fast_wh, fast_reg = _registry(create_database(server, "bench_fast"), workload)
    naive_wh, naive_reg = _registry(create_database(server, "bench_naive"), workload)
    runs = [
        _touchpoint_run(
            "touchpoint", client, base_url, google_client, fast_wh, fast_reg, tenant, window
        ),
        _touchpoint_run(
            "touchpoint, same partition",
            client,
            base_url,
            google_client,
            fast_wh,
            fast_reg,
            tenant,
            window,
        ),
        _naive_run(client, base_url, google_client, naive_wh, naive_reg, tenant, window),
    ]
    fast_wh.dispose()
    naive_wh.dispose()
    print(f"\n-- {latency_ms:g} ms added to every HTTP answer (network round trip) --")
    _print(runs)
    fast, again, naive = runs
    print(
        f"touchpoint vs naive: {fast.per_second / naive.per_second:.1f}x messages/s, "
        f"{naive.per_message(naive.http_requests) / fast.per_message(fast.http_requests):.0f}x "
        f"fewer HTTP requests per message"
    )
    print(
        f"second run of the same partition: {again.gets} messages.get calls "
        f"({again.http_requests} HTTP requests in all, listing only)"
    )
    if fast.messages != naive.messages:
        print(f"WARNING: runs disagree on the message count ({fast.messages} vs {naive.messages})")
        return False
    return again.gets == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=5)
    parser.add_argument("--messages-per-mailbox", type=int, default=1100)
    parser.add_argument(
        "--latency-ms",
        type=float,
        nargs="+",
        default=[0.0, 20.0],
        help="simulated network round trips to compare (default: 0 20)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    proc, base_url = _start_sandbox(args.mailboxes, args.messages_per_mailbox)
    try:
        client = SandboxClient(base_url)
        workload = client.workload()
        google_client = {k: workload["google_client"][k] for k in ("client_id", "client_secret")}
        total = sum(m["message_count"] for m in workload["mailboxes"])
        print(
            f"sandbox {base_url}: tenant {workload['tenants'][0]['slug']}, "
            f"{len(workload['mailboxes'])} mailboxes, {total} messages on "
            f"{workload['days'][-1]} (drafts, spam, trash included); PostgreSQL warehouse"
        )
        with throwaway_postgres() as server:
            sound = [
                _compare(client, base_url, google_client, workload, server, latency)
                for latency in args.latency_ms
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0 if all(sound) else 1


if __name__ == "__main__":
    sys.exit(main())
