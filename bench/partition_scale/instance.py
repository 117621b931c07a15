"""A real Dagster instance on a throwaway PostgreSQL, with tenants and history in it.

Storage is dagster-postgres with `scheme: postgresql+psycopg2` (FIELD-NOTES: psycopg 3 breaks
its NOTIFY). Runs go through the QueuedRunCoordinator and the default run launcher, as in
production minus Kubernetes.
"""

from __future__ import annotations

import io
import random
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from bench.partition_scale.settings import Settings, cohort_key, tenant_key

CONNECTIONS_PER_TENANT = 10


def write_dagster_yaml(home: Path, db_url: str, max_concurrent_runs: int) -> None:
    """dagster.yaml for the instance: postgres storage, queued runs, telemetry off."""
    url = sa.make_url(db_url)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        f"""storage:
  postgres:
    postgres_db:
      username: {url.username}
      password: unused
      hostname: {url.host}
      port: {url.port}
      db_name: {url.database}
      scheme: postgresql+psycopg2
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {max_concurrent_runs}
    dequeue_interval_seconds: 1
run_launcher:
  module: dagster.core.launcher
  class: DefaultRunLauncher
telemetry:
  enabled: false
"""
    )


def write_workspace_yaml(home: Path, root: Path) -> Path:
    """Workspace for `dagster-daemon run`: the harness's code location, loaded as a module."""
    path = home / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: bench.partition_scale.code_location\n"
        "      attribute: defs\n"
        f"      working_directory: {root}\n"
        "      location_name: scale\n"
    )
    return path


def create_registry(db_url: str, s: Settings) -> int:
    """Touchpoint's connection registry stand-in: 10 connections per tenant, ~2% stopped."""
    engine = sa.create_engine(db_url, poolclass=sa.NullPool)
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE connections (id text primary key, tenant_id text, status text)"
        )
        rows = [
            {"id": f"{tenant_key(t)}-{c}", "tenant_id": tenant_key(t),
             "status": "stopped" if rng.random() < 0.02 else "active"}
            for t in range(s.tenants)
            for c in range(CONNECTIONS_PER_TENANT)
        ]
        conn.execute(
            sa.text("INSERT INTO connections VALUES (:id, :tenant_id, :status)"), rows
        )
    engine.dispose()
    return len(rows)


def register_tenants(instance: dg.DagsterInstance, s: Settings) -> float:
    """Adds every tenant as a dynamic partition (what tenant_partitions_sensor does)."""
    started = time.perf_counter()
    instance.add_dynamic_partitions("tenants", [tenant_key(i) for i in range(s.tenants)])
    return time.perf_counter() - started


def tenant_history(s: Settings, tenant: int) -> set[int]:
    """Day indexes (0 = start) a tenant has synced: onboarded at some point, two outages.

    Onboarding is spread over the first year and each tenant has two outages of 1-5 days, so
    the status ranges fragment as they would in production; today's partition is still open.
    """
    rng = random.Random(tenant)
    onboard = rng.randint(0, s.days // 2)
    synced = set(range(onboard, s.days - 1))
    for _ in range(2):
        gap = rng.randint(onboard, s.days - 1)
        synced -= set(range(gap, gap + rng.randint(1, 5)))
    return synced


def seed_keys(s: Settings, design: str) -> Iterator[str]:
    """Partition keys of `{design}/raw_emails` that have a materialization."""
    days = [s.start + timedelta(days=i) for i in range(s.days)]
    if design in ("a", "b1"):
        for t in range(s.tenants):
            for d in sorted(tenant_history(s, t)):
                yield f"{days[d].isoformat()}|{tenant_key(t)}"
    elif design == "b2":
        first = (s.window_start - s.start).days
        for t in range(s.tenants):
            for d in sorted(tenant_history(s, t)):
                if d >= first:
                    yield f"{days[d].isoformat()}|{tenant_key(t)}"
    elif design == "b2_archive":
        for t in range(s.tenants):
            months = {_month(days[d]) for d in tenant_history(s, t) if days[d] < s.window_start}
            for m in sorted(months):
                yield f"{m}|{tenant_key(t)}"
    elif design == "b3":
        # A cohort-day is synced in the first quarter of history and wherever a seed tenant's
        # history is, so cohorts get holes and outages too (they fragment the status ranges).
        for c in range(s.cohorts):
            synced = tenant_history(s, c * 7919)
            for d in range(s.days - 1):
                if d in synced or d < s.days // 4:
                    yield f"{cohort_key(c)}|{days[d].isoformat()}"


def _csv_field(value: object) -> str:
    """CSV for COPY: NULL stays unquoted \\N, every value is quoted (so "" stays "")."""
    if value is None:
        return "\\N"
    text = value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)
    return '"' + text.replace('"', '""') + '"'


def _month(d: date) -> str:
    return d.replace(day=1).isoformat()


def seed_materializations(instance: dg.DagsterInstance, db_url: str, asset_key: dg.AssetKey,
                          keys: Iterator[str]) -> tuple[int, float]:
    """Bulk-writes one materialization event per key; returns (events, seconds).

    One real event is stored through Dagster (`report_runless_asset_event`), then its
    event_logs row is cloned by COPY with the partition key replaced in both the serialized
    event and the `partition` column. Reporting 500k events one by one would take hours; the
    partition-status query reads exactly these rows. (Dimension tags in asset_event_tags are
    not cloned: the status query does not read them.)
    """
    started = time.perf_counter()
    first = next(keys, None)
    if first is None:
        return 0, time.perf_counter() - started
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset_key,
                                                                partition=first))
    engine = sa.create_engine(db_url, poolclass=sa.NullPool)
    count = 1
    with engine.begin() as conn:
        row = conn.exec_driver_sql(
            "SELECT * FROM event_logs WHERE asset_key = %(k)s ORDER BY id DESC LIMIT 1",
            {"k": asset_key.to_string()},
        ).mappings().one()
        columns = [c for c in row if c != "id"]
        raw = conn.connection.dbapi_connection
        cursor = raw.cursor()
        buf = io.StringIO()

        def flush() -> None:
            buf.seek(0)
            cursor.copy_expert(
                f"COPY event_logs ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                buf,
            )
            buf.seek(0)
            buf.truncate()

        for key in keys:
            values = []
            for c in columns:
                v = row[c]
                if c == "partition":
                    v = key
                elif c == "event":
                    v = v.replace(first, key)
                values.append(_csv_field(v))
            buf.write(",".join(values) + "\n")
            count += 1
            if count % 50_000 == 0:
                flush()
        flush()
        conn.exec_driver_sql("ANALYZE event_logs")
    engine.dispose()
    return count, time.perf_counter() - started
