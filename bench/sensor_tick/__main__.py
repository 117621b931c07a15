"""Sensor tick time at many connections and a fixed number of open incidents, with the same
ticks at a tenth of the connections as the baseline, in the same run.

A throwaway PostgreSQL holds the registry (seeded in bulk, bench/sensor_tick/seed.py) and a real
Dagster instance (dagster-postgres) with the `tenants` partitions and the raw assets'
materializations of every tenant-day the hourly runs would have synced. The real sensors are
evaluated whole (`dg.build_sensor_context` + the sensor): `credential_failure_sensor` on its
first tick (no cursor) and the next one (its cursor), `reconnect_recovery_sensor` on the first
tick of a UTC day (the gap sweep) and the next one. The incidents are seeded with the baseline's
tenants and stay the same when the other tenants are added, so a tick that grows from the
baseline to the full size grows with connections, not with incidents.

    .venv/bin/python -m bench.sensor_tick --connections 10000 --incidents 500
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from bench.partition_scale.instance import seed_materializations, write_dagster_yaml
from bench.sensor_tick import seed
from resources.dagster_resources import WarehouseResource
from sandbox.postgres import create_database, throwaway_postgres

TICK_TARGET_S = 5.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--baseline-connections", type=int, default=1_000)
    parser.add_argument("--incidents", type=int, default=500, help="open incidents")
    parser.add_argument("--closed-incidents", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3, help="ticks per figure (median)")
    return parser.parse_args(argv)


def timed(tick: Callable[[], dg.SensorResult], repeats: int) -> tuple[float, dg.SensorResult]:
    """Median seconds of `repeats` whole ticks, and the last tick's result."""
    seconds = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = tick()
        seconds.append(time.perf_counter() - started)
    assert result is not None
    return statistics.median(seconds), result


def measure(
    instance: dg.DagsterInstance, resources: dict, repeats: int
) -> dict[str, tuple[float, int]]:
    """Seconds and run requests of each sensor's first and next tick."""
    # Imported here: the partitions module reads the window from the environment at import.
    from sensors.credential_failure import credential_failure_sensor
    from sensors.recovery import reconnect_recovery_sensor

    def tick(sensor: dg.SensorDefinition, cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return sensor(context)

    figures: dict[str, tuple[float, int]] = {}
    for name, sensor in (
        ("alerts", credential_failure_sensor),
        ("recovery", reconnect_recovery_sensor),
    ):
        first_s, first = timed(lambda s=sensor: tick(s, None), repeats)
        next_s, after = timed(lambda s=sensor, c=first.cursor: tick(s, c), repeats)
        figures[f"{name}, first tick"] = (first_s, len(first.run_requests or []))
        figures[f"{name}, next tick"] = (next_s, len(after.run_requests or []))
    return figures


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.getLogger("dagster").setLevel(logging.WARNING)  # the sensors' per-tick lines
    per = seed.CONNECTIONS_PER_TENANT
    base_tenants = max(1, args.baseline_connections // per)
    all_tenants = max(base_tenants, args.connections // per)
    if args.incidents > base_tenants * per:
        raise SystemExit("--incidents must fit in the baseline's connections")
    now = datetime.now(UTC)
    with throwaway_postgres() as server, tempfile.TemporaryDirectory(prefix="tp-sensor-") as tmp:
        dagster_db = create_database(server, "dagster")
        registry_url = create_database(server, "registry")
        home = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(home)
        write_dagster_yaml(home, dagster_db, max_concurrent_runs=1)
        from assets.emails import raw_emails
        from assets.meetings import raw_meetings
        from assets.partitions import WINDOW_START, tenant_partitions

        resources = {"warehouse": WarehouseResource(url=registry_url)}
        warehouse = resources["warehouse"].get()  # migrated once, outside the timings
        results: dict[int, dict[str, tuple[float, int]]] = {}
        with dg.DagsterInstance.get() as instance:
            seeded = None
            for first, count in ((0, base_tenants), (base_tenants, all_tenants - base_tenants)):
                if count == 0:
                    continue
                started = time.perf_counter()
                added = seed.add_tenants(warehouse, first, count, now)
                if seeded is None:
                    seeded = added
                    seed.add_incidents(
                        warehouse, seeded, args.incidents, args.closed_incidents, now
                    )
                else:
                    seeded.tenants += added.tenants
                    seeded.connections += added.connections
                instance.add_dynamic_partitions(tenant_partitions.name, added.tenants)
                events = 0
                for asset in (raw_emails, raw_meetings):
                    keys = seed.materialized_keys(added, WINDOW_START, now.date())
                    events += seed_materializations(instance, dagster_db, asset.key, keys)[0]
                print(
                    f"seeded {len(seeded.connections)} connections ({len(seeded.tenants)} "
                    f"tenants), {seeded.open_incidents} open + {seeded.closed_incidents} closed "
                    f"incidents, {seeded.notifications} notifications, {seeded.windows} missed "
                    f"windows, +{events} materializations in "
                    f"{time.perf_counter() - started:.1f}s",
                    flush=True,
                )
                measure(instance, resources, 1)  # warm-up: imports, pools, first queries
                results[len(seeded.connections)] = measure(instance, resources, args.repeats)
        warehouse.dispose()
    report(results, args.incidents)


def report(results: dict[int, dict[str, tuple[float, int]]], incidents: int) -> None:
    sizes = sorted(results)
    print()
    print(f"{incidents} open incidents; median of the ticks, seconds (run requests)")
    print(f"{'tick':<22}" + "".join(f" {f'{n:,} conn.':>18}" for n in sizes) + "   ratio")
    for name in results[sizes[0]]:
        cells = "".join(f" {results[n][name][0]:>11.3f} ({results[n][name][1]:>3})" for n in sizes)
        ratio = results[sizes[-1]][name][0] / max(results[sizes[0]][name][0], 1e-9)
        print(f"{name:<22}{cells}   {ratio:>5.2f}x")
    worst = max(s for s, _ in results[sizes[-1]].values())
    print()
    print(
        f"slowest tick at {sizes[-1]:,} connections: {worst:.2f}s; target {TICK_TARGET_S:.0f}s: "
        f"{'within' if worst < TICK_TARGET_S else 'OVER'}"
    )


if __name__ == "__main__":
    main()
