"""`touchpoint backfill`: support launches a back-sync of a tenant's days as a Dagster backfill.

It stores the same kind of asset backfill the recovery sensor launches and the UI's asset page
launches (`PartitionBackfill.from_asset_graph_subset` + `instance.add_backfill`, which is what
Dagster's sensor daemon and GraphQL `launchPartitionBackfill` do): it shows on the Backfills
page and the instance's backfill daemon runs it (`dagster-daemon` / `dagster dev` on the same
DAGSTER_HOME). `--connection` tags the backfill `touchpoint/connection`, which its runs carry, and
the sync then touches only that connection of the tenant.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
from dagster._core.errors import DagsterHomeNotSetError
from dagster._core.execution.backfill import PartitionBackfill
from dagster._core.utils import make_new_backfill_id

from assets.partition_sync import CONNECTION_TAG, PROVIDER_TAG, TENANT_TAG
from assets.partitions import START_DATE, tenant_partitions
from assets.recovery_targets import TenantDays, recovery_subset
from resources.registry import ConnectionStore, TenantStore
from resources.warehouse import Warehouse
from sensors.recovery import TRIGGER_TAG

DAGSTER_URL_ENV = "TOUCHPOINT_DAGSTER_URL"
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
MAX_DAYS = 3660
"""A guard against a typo in a year (one run per 100 tenant-days still keeps this sane)."""


class BackfillError(Exception):
    """A back-sync that cannot be launched, said in one line."""


def add_backfill_command(commands: Any, handler: Callable[[argparse.Namespace], int]) -> None:
    """Adds `backfill` to the `touchpoint` subcommands; `handler` opens the warehouse the way
    the other commands do and calls `launch_from_args`."""
    backfill = commands.add_parser(
        "backfill",
        help="launch a Dagster backfill that re-syncs a tenant's days (mail and calendar)",
        description=(
            "Launch one Dagster asset backfill of the tenant's days FROM..TO (UTC, inclusive) "
            "over raw_emails, emails, raw_meetings and meetings (archive months for days before "
            "the daily window) on the instance in DAGSTER_HOME; prints its id and UI URL."
        ),
    )
    backfill.add_argument("--tenant", required=True, help="tenant slug")
    backfill.add_argument(
        "--connection", default=None, help="sync only this connection of the tenant"
    )
    backfill.add_argument("--from", dest="first", required=True, type=_day, help="YYYY-MM-DD")
    backfill.add_argument("--to", dest="last", required=True, type=_day, help="YYYY-MM-DD")
    backfill.set_defaults(handler=handler)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def launch_from_args(args: argparse.Namespace, warehouse: Warehouse) -> int:
    tenant = TenantStore(warehouse).get_tenant(args.tenant).tenant_id
    provider = None
    if args.connection is not None:
        connection = ConnectionStore(warehouse).get_connection(args.connection)
        if connection.tenant_id != tenant:
            raise BackfillError(f"connection {args.connection} is not one of tenant {tenant}'s")
        provider = connection.provider
    try:
        instance = dg.DagsterInstance.get()
    except DagsterHomeNotSetError:
        raise BackfillError("DAGSTER_HOME is not set to the Dagster instance's folder") from None
    with instance:
        backfill_id = launch_backfill(
            instance, tenant, args.first, args.last, args.connection, provider
        )
    base = os.environ.get(DAGSTER_URL_ENV) or DEFAULT_DAGSTER_URL
    print(f"backfill {backfill_id}")
    print(f"{base.rstrip('/')}/backfills/{backfill_id}")
    return 0


def launch_backfill(
    instance: dg.DagsterInstance,
    tenant_id: str,
    first: date,
    last: date,
    connection_id: str | None = None,
    provider: str | None = None,
) -> str:
    """Stores the backfill on the instance (the daemon picks it up) and returns its id.

    Its runs carry the tenant (and, for one connection, its `provider`) as tags, which the run
    queue's limits per tenant and per provider count (deploy/dagster.yaml)."""
    if last < first:
        raise BackfillError(f"--to {last} is before --from {first}")
    if first < START_DATE:
        raise BackfillError(f"--from {first} is before the first partition ({START_DATE})")
    if last > datetime.now(UTC).date():
        raise BackfillError(f"--to {last} is in the future (UTC)")
    span = (last - first).days + 1
    if span > MAX_DAYS:
        raise BackfillError(f"{span} days is more than {MAX_DAYS}; split the range")
    if tenant_id not in instance.get_dynamic_partitions(tenant_partitions.name):
        # tenant_partitions_sensor adds it within a minute of registration.
        raise BackfillError(f"tenant {tenant_id} has no Dagster partition yet; try again shortly")
    days = [date.fromordinal(first.toordinal() + n) for n in range(span)]
    target = TenantDays(tenant_id, tuple(days))
    tags = {TRIGGER_TAG: "cli_backfill", TENANT_TAG: tenant_id}
    if connection_id is not None:
        tags[CONNECTION_TAG] = connection_id
    if provider is not None:
        tags[PROVIDER_TAG] = provider
    backfill_id = make_new_backfill_id()
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags=tags,
            dynamic_partitions_store=instance,
            asset_graph_subset=recovery_subset([target]),
            title=f"touchpoint backfill {tenant_id} {first}..{last}",
            description="launched by `touchpoint backfill`"
            + (f" for connection {connection_id}" if connection_id else ""),
            run_config=None,
        )
    )
    return backfill_id
