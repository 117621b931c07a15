"""crm_change_sensor: a CRM load launches one backfill of exactly that tenant's engagement
partitions (the days holding its mail or meetings), once, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg

from assets.engagement_targets import engagement_days
from orchestration.cli import main
from resources.dagster_resources import WarehouseResource
from resources.registry import TenantStore
from resources.warehouse import Warehouse
from sensors.crm_change import crm_change_sensor

TODAY = datetime.now(UTC).date()
DAYS = [TODAY - timedelta(days=2), TODAY - timedelta(days=1)]
ACCOUNTS = "account_id,name,domains\nacc-1,Globex,globex.example\n"
CONTACTS = "contact_id,name,email,account_ids\nc-1,Ann,ann@globex.example,acc-1\n"


def cli(warehouse_url: str, *argv: str) -> None:
    assert main(["--warehouse-url", warehouse_url, *argv]) == 0


def load_crm(warehouse_url: str, tmp_path: Path, tenant: str, contacts: str = CONTACTS) -> None:
    (tmp_path / "a.csv").write_text(ACCOUNTS)
    (tmp_path / "c.csv").write_text(contacts)
    cli(warehouse_url, "crm", "load", "--tenant", tenant, "--accounts", str(tmp_path / "a.csv"),
        "--contacts", str(tmp_path / "c.csv"))  # fmt: skip


def add_email(warehouse: Warehouse, tenant: str, day: date, key: str) -> None:
    at = datetime(day.year, day.month, day.day, 10, tzinfo=UTC)
    warehouse.upsert(
        "emails",
        [
            {
                "tenant_id": tenant,
                "email_key": key,
                "partition_day": day,
                "to_addresses": [],
                "cc_addresses": [],
                "bcc_addresses": [],
                "received_at": at,
                "seen_in_connections": [],
                "seen_in_mailboxes": [],
                "copies": 1,
                "updated_at": at,
            }
        ],
        ("tenant_id", "email_key"),
    )


def tick(
    instance: dg.DagsterInstance, warehouse_url: str, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None]:
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
    )
    result = crm_change_sensor(context)
    return list(result.run_requests or []), result.cursor


def targets(request: dg.RunRequest) -> dict[str, set[str]]:
    subset = request.asset_graph_subset
    assert subset is not None
    return {
        key.to_user_string(): {
            str(k) for k in subset.get_partitions_subset(key).get_partition_keys()
        }
        for key in subset.asset_keys
    }


def test_a_crm_load_rebuilds_exactly_that_tenants_engagements_once(
    warehouse_url: str, tmp_path: Path
) -> None:
    for slug in ("acme", "globex"):
        cli(warehouse_url, "tenants", "add", "--slug", slug, "--name", slug)
    warehouse = Warehouse(warehouse_url)
    for n, day in enumerate(DAYS):
        add_email(warehouse, "acme", day, f"m{n}")
    add_email(warehouse, "globex", DAYS[0], "g0")
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tenants", ["acme", "globex"])

    # No CRM loaded anywhere: nothing to rebuild.
    requests, cursor = tick(instance, warehouse_url, None)
    assert requests == []

    load_crm(warehouse_url, tmp_path, "acme")
    requests, cursor = tick(instance, warehouse_url, cursor)
    (request,) = requests
    assert request.tags["touchpoint/tenant"] == "acme"
    acme_days = {f"{d.isoformat()}|acme" for d in DAYS}
    assert targets(request) == {
        "email_engagements": acme_days,
        "meeting_engagements": acme_days,
        "account_engagement_daily": acme_days,
        "contact_engagement": {"acme"},
        "crm_accounts": {"acme"},
        "crm_contacts": {"acme"},
    }
    assert json.loads(cursor or "{}").keys() == {"acme"}

    # Same CRM loaded again: same fingerprint, nothing launched.
    load_crm(warehouse_url, tmp_path, "acme")
    assert tick(instance, warehouse_url, cursor)[0] == []

    # A contact removed at the source: rebuilt again, that tenant only.
    load_crm(warehouse_url, tmp_path, "acme", CONTACTS.splitlines()[0] + "\n")
    requests, cursor = tick(instance, warehouse_url, cursor)
    assert [r.tags["touchpoint/tenant"] for r in requests] == ["acme"]

    load_crm(warehouse_url, tmp_path, "globex")
    requests, cursor = tick(instance, warehouse_url, cursor)
    (request,) = requests
    assert targets(request)["email_engagements"] == {f"{DAYS[0].isoformat()}|globex"}


def test_a_fresh_cursor_skips_tenants_whose_engagements_were_built_from_the_current_crm(
    warehouse_url: str, tmp_path: Path
) -> None:
    for slug in ("acme", "globex"):
        cli(warehouse_url, "tenants", "add", "--slug", slug, "--name", slug)
        load_crm(warehouse_url, tmp_path, slug)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tenants", ["acme", "globex"])
    # What a crm_contacts run records: the CRM's fingerprint as the partition's data version.
    built = TenantStore(Warehouse(warehouse_url)).read_crm("globex").fingerprint()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "crm_contacts", partition="globex", tags={"dagster/data_version": built}
        )
    )

    requests, _ = tick(instance, warehouse_url, None)
    assert [r.tags["touchpoint/tenant"] for r in requests] == ["acme"]


def test_engagement_days_are_the_tenants_days_in_the_window_only(warehouse_url: str) -> None:
    cli(warehouse_url, "tenants", "add", "--slug", "acme", "--name", "acme")
    warehouse = Warehouse(warehouse_url)
    add_email(warehouse, "acme", DAYS[1], "new")
    add_email(warehouse, "acme", date(2020, 1, 1), "old")
    add_email(warehouse, "other", DAYS[0], "theirs")
    assert engagement_days(warehouse, "acme") == [DAYS[1]]
