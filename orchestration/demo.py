"""The demo: sandbox providers, seeded tenants, and a real Dagster sync of the last days' mail.

Everything lands in the local state folder (.touchpoint/): the SQLite warehouse, the Dagster
instance the runs are recorded in (so `touchpoint dev` shows them in the UI), the generated
secret key, and the sandbox's settings, written to .env for `dagster dev`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.demo_engagement import (
    demo_authorization,
    engagement_summaries,
    print_engagement_summaries,
)
from orchestration.instance import write_local_instance_config
from resources.providers import PROVIDERS
from resources.reconnect_links import generate_link_key
from resources.secrets import generate_key
from resources.settings import state_dir, write_private
from sandbox.workload.model import APP_CREDENTIALS

CommandLine = Callable[[list[str]], int]
"""`touchpoint` as a function of its arguments (orchestration.cli.main), handed in by the CLI so
the demo registers tenants exactly as an operator would, without importing the CLI back."""
Act = Callable[[Any, Any, str], int]
"""An act played after the sync (workload, sandbox server, today's UTC day) -> exit code, handed
in by the CLI (orchestration/demo_broken_connection.py imports this module, not the reverse)."""

DEMO_SEED = 7
DEMO_PROVIDERS = tuple(PROVIDERS)
DEMO_MAILBOXES_PER_TENANT = 6  # three mailboxes of each provider per tenant
SANDBOX_URL_ENV = "TOUCHPOINT_SANDBOX_URL"
DEFAULT_SANDBOX_PORT = 8765
ENV_FILE = ".env"
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""The demo prints its own progress; the runs' full logs are in the Dagster UI."""


@dataclass
class ProviderSummary:
    """One tenant's figures for one provider, summed over the demo's runs."""

    mailboxes: set[str] = field(default_factory=set)
    emails_new: int = 0
    emails_held: int = 0
    meetings: int = 0
    quarantined: int = 0
    api_calls: int = 0
    quota_units: int = 0
    seconds: float = 0.0
    not_active: set[str] = field(default_factory=set)


@dataclass
class TenantSummary:
    tenant_id: str
    providers: dict[str, ProviderSummary] = field(default_factory=dict)
    emails: int = 0
    meetings: int = 0
    seconds: float = 0.0

    def add_sync(self, asset: str, metadata: dict) -> None:
        """Folds one raw sync asset's per-connection metadata into the per-provider figures."""
        rows = getattr(metadata.get("per_connection_json"), "value", None) or []
        for r in rows:
            p = self.providers.setdefault(r["provider"], ProviderSummary())
            p.mailboxes.add(r["owner"])
            p.api_calls += r["api_calls"]
            p.quota_units += r["quota_units"]
            p.seconds += r["seconds"]
            p.quarantined += r["quarantined"]
            if asset == "raw_emails":
                p.emails_new += r["synced"]
                p.emails_held += r["already_held"]
            else:
                p.meetings += r["synced"]
            if r["status"] != "active":
                p.not_active.add(f"{r['owner']} ({asset}): {r['status']} {r['cause']}")


def _load_or_create_key(path: Path) -> str:
    """TOUCHPOINT_SECRET_KEY from the demo's key file, made on first use. The file may list
    several keys, one per line, newest first, so the demo's key can be rotated like any other
    (README, "Keys")."""
    if path.exists():
        lines = path.read_text().replace(",", "\n").splitlines()
        keys = [line.strip() for line in lines if line.strip()]
        if keys:
            return ",".join(keys)
    key = generate_key()
    write_private(path, key + "\n")
    return key


def _load_or_create_link_key(path: Path) -> str:
    """TOUCHPOINT_LINK_KEY from the demo's link key file, made on first use."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    key = generate_link_key()
    write_private(path, key + "\n")
    return key


def provider_environment(sandbox_url: str) -> dict[str, str]:
    """The settings that point every provider's resource at a sandbox instead of the real
    identity platforms and APIs, with the sandbox's app credentials."""
    env = {SANDBOX_URL_ENV: sandbox_url}
    for name, kit in PROVIDERS.items():
        client_id, client_secret = APP_CREDENTIALS[name]
        env.update(kit.sandbox_env(sandbox_url, client_id, client_secret))
    return env


def demo_environment(sandbox_url: str, sandbox_now: datetime) -> dict[str, str]:
    """The settings the code location reads, pointed at the sandbox and the local state folder."""
    home = state_dir()
    dagster_home = home / "dagster_home"
    write_local_instance_config(dagster_home)
    return {
        "TOUCHPOINT_HOME": str(home),
        "TOUCHPOINT_WAREHOUSE_URL": f"sqlite:///{home / 'warehouse.db'}",
        "TOUCHPOINT_SECRET_KEY": _load_or_create_key(home / "secret.key"),
        # Its own key: a link key only mints reconnect links, the secret key opens tokens.
        "TOUCHPOINT_LINK_KEY": _load_or_create_link_key(home / "link.key"),
        **provider_environment(sandbox_url),
        "TOUCHPOINT_SANDBOX_SEED": str(DEMO_SEED),
        "TOUCHPOINT_SANDBOX_NOW": sandbox_now.isoformat(),
        "DAGSTER_HOME": str(dagster_home),
        # A ranged run then plans its partitions as one event, not one per partition
        # (docs/partition-scale.md: the daemon tick's main cost at scale).
        "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
    }


def write_env_file(env: dict[str, str], path: Path) -> None:
    """Writes .env, which `dagster dev` loads, so the UI runs against the same sandbox."""
    lines = [f"{k}={v}" for k, v in sorted(env.items())]
    write_private(
        path, "# written by `touchpoint demo`; local only, never commit\n" + "\n".join(lines) + "\n"
    )


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k.strip()] = v.strip()
    return env


def _register(workload, cli_main: CommandLine, authorized_at: datetime) -> None:
    """Registers the sandbox's tenants and mailboxes through the `touchpoint` CLI, idempotently,
    each mailbox authorized at `authorized_at` (a re-run keeps the first run's)."""

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(["tenants", "list", "--json"])
    known_tenants = {t["tenant_id"] for t in json.loads(out.getvalue() or "[]")}
    for t in workload.tenants:
        if t.slug in known_tenants:
            continue
        argv = ["tenants", "add", "--slug", t.slug, "--name", t.name, "--time-zone", t.time_zone]
        for d in t.internal_domains:
            argv += ["--internal-domain", d]
        for d in t.blocked_domains:
            argv += ["--blocked-domain", d]
        _check(cli_main(argv), argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(["connections", "list", "--json"])
    known = {(c["tenant_id"], c["owner_email"]) for c in json.loads(out.getvalue() or "[]")}
    for m in workload.mailboxes:
        if (m.tenant, m.address) in known:
            continue
        argv = [
            "connections",
            "add",
            "--tenant",
            m.tenant,
            "--owner",
            m.address,
            "--provider",
            m.provider,
            "--refresh-token-env",
            "TOUCHPOINT_DEMO_REFRESH_TOKEN",
            "--authorized-at",
            authorized_at.isoformat(),
        ]
        for a in m.aliases:
            argv += ["--alias", a]
        for s in m.scopes:
            argv += ["--scope", s]
        os.environ["TOUCHPOINT_DEMO_REFRESH_TOKEN"] = m.refresh_token
        try:
            _check(cli_main(argv), argv)
        finally:
            del os.environ["TOUCHPOINT_DEMO_REFRESH_TOKEN"]


def _load_crm(workload, cli_main: CommandLine) -> None:
    """Exports each tenant's CRM as the two CSV files and loads them with `touchpoint crm load`
    (each load replaces the tenant's CRM, so running the demo again is harmless)."""
    from sandbox.workload.crm import export_workload_crm

    print("==> loading each tenant's CRM (accounts.csv, contacts.csv)")
    for tenant, (accounts, contacts) in export_workload_crm(workload, state_dir() / "crm").items():
        argv = ["crm", "load", "--tenant", tenant, "--accounts", str(accounts)]
        _check(cli_main([*argv, "--contacts", str(contacts)]), argv)


def _check(code: int, argv: list[str]) -> None:
    if code != 0:
        raise SystemExit(f"touchpoint {' '.join(argv[:2])} failed (exit {code})")


def _recent_days(now: datetime, count: int, skip_today: bool = False) -> list[str]:
    last = now.astimezone(UTC).date() - timedelta(days=1 if skip_today else 0)
    return [(last - timedelta(days=i)).isoformat() for i in reversed(range(count))]


def run_demo(
    cli_main: CommandLine,
    port: int = DEFAULT_SANDBOX_PORT,
    days: int = 3,
    act: Act | None = None,
) -> int:
    """Runs the whole demo, registering through `cli_main`; returns the process exit code.

    With an `act`, the sync leaves today out (the act's hourly run syncs it) and the act plays
    after it, while the sandbox still runs."""
    from sandbox.server import SandboxServer
    from sandbox.workload.generate import generate_workload

    state_dir()  # an unusable state folder is one clear line before anything starts
    previous = read_env_file(Path(ENV_FILE))
    sandbox_now = (
        datetime.fromisoformat(previous["TOUCHPOINT_SANDBOX_NOW"])
        if "TOUCHPOINT_SANDBOX_NOW" in previous
        and datetime.now(UTC) - datetime.fromisoformat(previous["TOUCHPOINT_SANDBOX_NOW"])
        < timedelta(hours=12)
        else datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    )
    print(
        f"==> generating the sandbox workload (seed {DEMO_SEED}, "
        f"anchored at {sandbox_now:%Y-%m-%d %H:%M} UTC)"
    )
    workload = generate_workload(
        seed=DEMO_SEED,
        now=sandbox_now,
        providers=DEMO_PROVIDERS,
        mailboxes_per_tenant=DEMO_MAILBOXES_PER_TENANT,
    )
    n_messages = sum(len(v) for v in workload.messages.values())
    try:
        server = SandboxServer(workload, port=port).start()
    except OSError:
        server = SandboxServer(workload, port=0).start()
    try:
        env = demo_environment(server.base_url, sandbox_now)
        os.environ.update(env)
        write_env_file(env, Path(ENV_FILE))
        print(
            f"==> sandbox on {server.base_url}: {len(workload.tenants)} tenants, "
            f"{len(workload.mailboxes)} mailboxes, {n_messages} messages over "
            f"{len(workload.days)} days"
        )
        print(f"==> registering tenants and connections in {env['TOUCHPOINT_WAREHOUSE_URL']}")
        first_day = _recent_days(sandbox_now, days, skip_today=act is not None)[0]
        _register(workload, cli_main, demo_authorization(first_day))
        _load_crm(workload, cli_main)
        failed = _materialize(workload, days, sandbox_now, skip_today=act is not None)
        if failed or act is None:
            return failed
        return act(workload, server, datetime.now(UTC).date().isoformat())
    finally:
        server.stop()


def _materialize(workload, days: int, now: datetime, skip_today: bool = False) -> int:
    import dagster as dg

    from assets.partitions import tenant_day_key, tenant_partitions
    from orchestration.definitions import defs
    from sensors.tenant_partitions import tenant_partition_requests

    instance = dg.DagsterInstance.get()
    registered = {t.slug for t in workload.tenants}
    existing = set(instance.get_dynamic_partitions(tenant_partitions.name))
    for request in tenant_partition_requests(registered, existing):
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(tenant_partitions.name, request.partition_keys)
    job = defs.resolve_job_def("tenant_sync_job")
    summaries = {t.slug: TenantSummary(t.slug) for t in workload.tenants}
    day_keys = _recent_days(now, days, skip_today)
    print(
        f"==> materializing mail and meetings for {len(summaries)} tenants x {days} days "
        f"({day_keys[0]} .. {day_keys[-1]}), one Dagster run per tenant-day"
    )
    failed = 0
    for tenant, summary in summaries.items():
        for day in day_keys:
            t0 = time.perf_counter()
            result = job.execute_in_process(
                partition_key=tenant_day_key(tenant, day),
                instance=instance,
                tags={"touchpoint/trigger": "demo"},
                run_config=QUIET_LOGS,
                raise_on_error=False,
            )
            seconds = time.perf_counter() - t0
            summary.seconds += seconds
            if not result.success:
                failed += 1
                print(f"    {tenant} {day}: run {result.run_id} FAILED (see the Dagster UI)")
                continue
            for asset in ("raw_emails", "raw_meetings"):
                (mat,) = result.asset_materializations_for_node(asset)
                summary.add_sync(asset, dict(mat.metadata))
            print(f"    {tenant} {day}: run {result.run_id[:8]} ok in {seconds:.1f}s")
    failed += _materialize_contact_engagement(defs, instance, list(summaries))
    _print_summary(list(summaries.values()), _deduplicated_counts(day_keys))
    _print_engagements(list(summaries))
    print(
        "\nOpen the Dagster UI on the same state (sandbox included):\n"
        "    .venv/bin/touchpoint dev\n"
        "then http://127.0.0.1:3000 -> Assets: raw_emails, emails, raw_meetings, meetings and "
        "the engagement tables on\ntheir tenant x day partitions, and these runs; 'Materialize' "
        "on an asset launches a "
        "backfill for any tenants and date range."
    )
    return 1 if failed else 0


def _deduplicated_counts(day_keys: list[str]) -> dict[str, tuple[int, int]]:
    """Per tenant: rows of emails and meetings (one per real message / meeting) in the days."""
    import sqlalchemy as sa

    from resources.settings import default_warehouse_url
    from resources.warehouse import Warehouse

    warehouse = Warehouse(default_warehouse_url())
    days = [datetime.fromisoformat(d).date() for d in day_keys]
    counts: dict[str, list[int]] = {}
    with warehouse.engine.connect() as db:
        for i, name in enumerate(("emails", "meetings")):
            t = warehouse.table(name)
            query = (
                sa.select(t.c.tenant_id, sa.func.count())
                .where(t.c.partition_day.in_(days))
                .group_by(t.c.tenant_id)
            )
            for tenant_id, n in db.execute(query):
                counts.setdefault(tenant_id, [0, 0])[i] = n
    warehouse.dispose()
    return {k: (v[0], v[1]) for k, v in counts.items()}


def _materialize_contact_engagement(defs: Any, instance: Any, tenant_ids: list[str]) -> int:
    """Each tenant's per-contact rollup, once its days are in. Under the daemon
    `engagement_automation_sensor` does this; the demo has no daemon running, so it asks."""
    import dagster as dg

    job = defs.resolve_implicit_job_def_def_for_assets([dg.AssetKey("contact_engagement")])
    failed = 0
    for tenant in tenant_ids:
        result = job.execute_in_process(
            partition_key=tenant,
            instance=instance,
            asset_selection=[dg.AssetKey("contact_engagement")],
            tags={"touchpoint/trigger": "demo"},
            run_config=QUIET_LOGS,
            raise_on_error=False,
        )
        if not result.success:
            failed += 1
            print(
                f"    {tenant} contact_engagement: run {result.run_id} FAILED (see the Dagster UI)"
            )
    return failed


def _print_engagements(tenant_ids: list[str]) -> None:
    from resources.settings import default_warehouse_url
    from resources.warehouse import Warehouse

    warehouse = Warehouse(default_warehouse_url())
    try:
        print_engagement_summaries(engagement_summaries(warehouse, tenant_ids))
    finally:
        warehouse.dispose()


def _print_summary(summaries: list[TenantSummary], deduped: dict[str, tuple[int, int]]) -> None:
    header = (
        f"{'tenant':<14} {'provider':<10} {'mailboxes':>9} {'new mail':>8} {'held':>6} "
        f"{'meetings':>8} {'quarant.':>8} {'api calls':>9} {'quota units':>11} {'seconds':>7}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for s in summaries:
        for name, p in sorted(s.providers.items()):
            print(
                f"{s.tenant_id:<14} {name:<10} {len(p.mailboxes):>9} {p.emails_new:>8} "
                f"{p.emails_held:>6} {p.meetings:>8} {p.quarantined:>8} {p.api_calls:>9} "
                f"{p.quota_units or '-':>11} {p.seconds:>7.1f}"
            )
            for problem in sorted(p.not_active):
                print(f"    not active: {problem}")
        emails, meetings = deduped.get(s.tenant_id, (0, 0))
        print(
            f"{s.tenant_id:<14} {'all':<10} {'':>9} {'':>8} {'':>6} {'':>8} {'':>8} {'':>9} "
            f"{'':>11} {s.seconds:>7.1f}  -> {emails} emails, {meetings} meetings (deduplicated)"
        )
    print(
        "new mail = copies synced this run; held = already in the warehouse (a re-run fetches "
        "none);\nquota units = what counts against the provider's per-mailbox limit; "
        "seconds = time in the provider's connections, 'all' = the tenant's runs end to end"
    )


def run_dev(dagster_args: list[str]) -> int:
    """Starts the sandbox the demo used and `dagster dev` on the demo's state, until stopped."""
    import signal
    import subprocess
    import sys
    from urllib.parse import urlparse

    settings = read_env_file(Path(ENV_FILE))
    if SANDBOX_URL_ENV not in settings:
        print("no .env from the demo here: run `bash scripts/demo.sh` first", file=sys.stderr)
        return 2
    env = dict(os.environ, **settings)
    # The queue's limits and run monitoring as deploy/dagster.yaml has them today.
    write_local_instance_config(Path(settings["DAGSTER_HOME"]))
    bin_dir = Path(sys.executable).parent
    port = str(urlparse(settings[SANDBOX_URL_ENV]).port)
    commands = [
        [
            str(bin_dir / "touchpoint-sandbox"),
            "serve",
            "--port",
            port,
            "--seed",
            settings["TOUCHPOINT_SANDBOX_SEED"],
            "--now",
            settings["TOUCHPOINT_SANDBOX_NOW"],
            "--providers",
            ",".join(DEMO_PROVIDERS),
            "--mailboxes-per-tenant",
            str(DEMO_MAILBOXES_PER_TENANT),
        ],
        [str(bin_dir / "dagster"), "dev", "-w", "workspace.yaml", *dagster_args],
    ]
    # Each child leads its own process group, so stopping one stops everything it started.
    children = [subprocess.Popen(c, env=env, start_new_session=True) for c in commands]

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        return children[1].wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            _stop_group(child)


def _stop_group(child) -> None:
    import signal
    import subprocess

    if child.poll() is None:
        os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
