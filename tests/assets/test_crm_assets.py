"""crm_accounts / crm_contacts materialize per tenant from what `touchpoint crm load` loaded,
on both backends, and their data version follows the CRM."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets.crm import crm_accounts, crm_contacts
from orchestration.cli import main
from resources.dagster_resources import WarehouseResource

ACCOUNTS = "account_id,name,domains\nacc-1,Globex,globex.example\nacc-2,Initech,initech.example\n"
CONTACTS = (
    "contact_id,name,email,account_ids\n"
    "c-1,Ann,ann@globex.example,acc-1\n"
    "c-2,Bob,bob@initech.example,acc-1;acc-2\n"
)


def load(warehouse_url: str, tmp_path: Path, tenant: str, contacts: str) -> None:
    (tmp_path / "a.csv").write_text(ACCOUNTS)
    (tmp_path / "c.csv").write_text(contacts)
    files = ["--accounts", str(tmp_path / "a.csv"), "--contacts", str(tmp_path / "c.csv")]
    argv = ["--warehouse-url", warehouse_url, "crm", "load", "--tenant", tenant, *files]
    assert main(argv) == 0


def materialize(instance: dg.DagsterInstance, warehouse_url: str, tenant: str) -> dict:
    result = dg.materialize(
        [crm_accounts, crm_contacts],
        partition_key=tenant,
        instance=instance,
        resources={"warehouse": WarehouseResource(url=warehouse_url)},
    )
    assert result.success
    return {
        m.asset_key.to_user_string(): m
        for node in ("crm_accounts", "crm_contacts")
        for m in result.asset_materializations_for_node(node)
    }


def test_crm_assets_materialize_each_tenants_loaded_crm(
    warehouse_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for slug in ("acme", "globex"):
        assert main(["--warehouse-url", warehouse_url, "tenants", "add", "--slug", slug,
                     "--name", slug]) == 0  # fmt: skip
    load(warehouse_url, tmp_path, "acme", CONTACTS)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("tenants", ["acme", "globex"])

    acme = materialize(instance, warehouse_url, "acme")
    accounts, contacts = acme["crm_accounts"].metadata, acme["crm_contacts"].metadata
    assert accounts["dagster/row_count"].value == 2
    assert accounts["accounts_without_contacts"].value == 0
    assert contacts["dagster/row_count"].value == 2
    assert contacts["memberships"].value == 3
    assert contacts["contacts_in_several_accounts"].value == 1
    first_version = acme["crm_contacts"].tags["dagster/data_version"]

    empty = materialize(instance, warehouse_url, "globex")
    assert empty["crm_contacts"].metadata["dagster/row_count"].value == 0
    assert empty["crm_contacts"].tags["dagster/data_version"] != first_version

    load(warehouse_url, tmp_path, "acme", CONTACTS.replace("acc-1;acc-2", "acc-2"))
    changed = materialize(instance, warehouse_url, "acme")
    assert changed["crm_contacts"].metadata["contacts_in_several_accounts"].value == 0
    assert changed["crm_accounts"].metadata["accounts_without_contacts"].value == 0
    assert changed["crm_contacts"].tags["dagster/data_version"] != first_version
    again = materialize(instance, warehouse_url, "acme")
    assert (
        again["crm_contacts"].tags["dagster/data_version"]
        == changed["crm_contacts"].tags["dagster/data_version"]
    )
