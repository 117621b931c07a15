"""The workload's CRM exported as CSV and loaded by the demo's step through the real CLI, on
both backends: every row loads, with the edge cases the engagement rules must meet."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from orchestration.cli import main
from orchestration.demo import _load_crm
from resources.registry import TenantStore
from resources.warehouse import Warehouse
from sandbox.workload.crm import crm_spelling, export_workload_crm
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import Workload


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(
        seed=11, tenants=3, mailboxes_per_tenant=1, days=1, messages_per_mailbox_per_day=2
    )


def test_the_export_carries_the_edge_cases(workload: Workload, tmp_path: Path) -> None:
    files = export_workload_crm(workload, tmp_path)
    assert sorted(files) == sorted(t.slug for t in workload.tenants)
    for tenant in workload.tenants:
        accounts_csv, contacts_csv = files[tenant.slug]
        with contacts_csv.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["contact_id"] for r in rows] == [c.contact_id for c in tenant.contacts]
        assert any(";" in r["account_ids"] for r in rows)
        first = rows[0]["email"]
        assert first != tenant.contacts[0].email and first.lower() == tenant.contacts[0].email
        others = {d for t in workload.tenants if t is not tenant for d in t.blocked_domains}
        assert any(set(a.domains) & others for a in tenant.accounts)
        assert accounts_csv.read_text(encoding="utf-8").startswith("account_id,name,domains\n")
    assert crm_spelling("strauß@x.example") == "Strauß@X.Example"


def test_the_demo_loads_every_tenants_crm(
    workload: Workload, warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def cli(argv: list[str]) -> int:
        return main(["--warehouse-url", warehouse_url, *argv])

    for tenant in workload.tenants:
        argv = ["tenants", "add", "--slug", tenant.slug, "--name", tenant.name]
        assert cli(argv + [a for d in tenant.blocked_domains for a in ("--blocked-domain", d)]) == 0
    _load_crm(workload, cli)
    _load_crm(workload, cli)  # a second demo run replaces, never duplicates
    out, err = capsys.readouterr()
    assert err == "" and out.count("0 row(s) refused") == 2 * len(workload.tenants)
    with Warehouse(warehouse_url) as warehouse:
        store = TenantStore(warehouse)
        for tenant in workload.tenants:
            crm = store.read_crm(tenant.slug)
            expected = sorted((a, c.contact_id) for c in tenant.contacts for a in c.account_ids)
            assert crm.memberships == expected
            assert {c.contact_id: c.email for c in crm.contacts} == {
                c.contact_id: c.email for c in tenant.contacts
            }
            assert {a.account_id: list(a.domains) for a in crm.accounts} == {
                a.account_id: a.domains for a in tenant.accounts
            }
