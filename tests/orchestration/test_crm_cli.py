"""`touchpoint crm load` on both backends: good rows loaded, bad rows refused with their lines,
replace-as-a-whole, a contact in two accounts, case-only duplicate addresses, unusable input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.cli import main
from resources.registry import TenantStore
from resources.warehouse import Warehouse

ACCOUNTS = """account_id,name,domains
acc-1,Globex,globex.example; GLOBEX.example
acc-2,Initech,initech.example
"""
CONTACTS = """contact_id,name,email,account_ids
c-1,Ann Smith,  Ann.Smith@Globex.example ,acc-1
c-2,Bob Jones,bob@initech.example,acc-2;acc-1
c-3,Cy,cy@initech.example,acc-2
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def load(tmp_path: Path, warehouse_url: str, capsys: pytest.CaptureFixture[str]):
    def _load(accounts: str, contacts: str, tenant: str = "acme") -> tuple[int, str, str]:
        return run(
            capsys, "--warehouse-url", warehouse_url, "crm", "load", "--tenant", tenant,
            "--accounts", write(tmp_path, "accounts.csv", accounts),
            "--contacts", write(tmp_path, "contacts.csv", contacts),
        )  # fmt: skip

    for slug in ("acme", "globex"):
        assert run(capsys, "--warehouse-url", warehouse_url, "tenants", "add", "--slug", slug,
                   "--name", slug.title())[0] == 0  # fmt: skip
    return _load


def crm_of(warehouse_url: str, tenant: str = "acme"):
    with Warehouse(warehouse_url) as warehouse:
        return TenantStore(warehouse).read_crm(tenant)


def test_good_rows_load_with_normalised_addresses_and_two_accounts(load, warehouse_url: str):
    code, out, err = load(ACCOUNTS, CONTACTS)
    assert (code, err) == (0, "")
    assert "2 account(s), 3 contact(s), 4 membership(s); 0 row(s) refused" in out
    crm = crm_of(warehouse_url)
    assert [(a.account_id, a.domains) for a in crm.accounts] == [
        ("acc-1", ("globex.example",)),
        ("acc-2", ("initech.example",)),
    ]
    assert [(c.contact_id, c.email, c.account_ids) for c in crm.contacts] == [
        ("c-1", "ann.smith@globex.example", ("acc-1",)),
        ("c-2", "bob@initech.example", ("acc-1", "acc-2")),
        ("c-3", "cy@initech.example", ("acc-2",)),
    ]
    assert crm_of(warehouse_url, "globex").contacts == ()


def test_bad_rows_are_refused_with_their_lines_and_the_rest_loads(load, warehouse_url: str):
    accounts = ACCOUNTS + ",No Id,x.example\nacc-3,,x.example\nacc-4,Bad,not a domain\n"
    contacts = (
        "contact_id,name,email,account_ids\n"
        "c-1,Ann,ann@globex.example,acc-1\n"
        "\n"
        "c-2,Ann Again,ANN@globex.example ,acc-2\n"
        "c-3,Nobody,nobody@x.example,acc-9\n"
        "c-4,Orphan,orphan@x.example,acc-3\n"
        "c-5,No Address,not-an-address,acc-1\n"
        "c-1,Dup Id,dup@x.example,acc-1\n"
        "c-6,No Account,none@x.example,\n"
        "c-7,Fine,fine@initech.example,acc-2\n"
    )
    code, out, err = load(accounts, contacts)
    assert code == 1
    refused = [line.removeprefix("refused: ") for line in err.splitlines()]
    assert [r.split(":")[0] for r in refused] == [
        "accounts line 4",
        "accounts line 5",
        "accounts line 6",
        "contacts line 4",
        "contacts line 5",
        "contacts line 6",
        "contacts line 7",
        "contacts line 8",
        "contacts line 9",
    ]
    assert "account id is empty" in refused[0]
    assert "account name must not be empty" in refused[1]
    assert "already belongs to contact 'c-1' (line 2)" in refused[3]
    assert "unknown account 'acc-9'" in refused[4]
    assert "account 'acc-3' was refused (accounts line 5)" in refused[5]
    assert "invalid contact email" in refused[6]
    assert "contact id 'c-1' is already on line 2" in refused[7]
    assert "no account" in refused[8]
    assert "2 account(s), 2 contact(s), 2 membership(s); 9 row(s) refused" in out
    assert [c.contact_id for c in crm_of(warehouse_url).contacts] == ["c-1", "c-7"]


def test_a_load_replaces_the_tenants_crm_as_a_whole(load, warehouse_url: str) -> None:
    assert load(ACCOUNTS, CONTACTS)[0] == 0
    assert load(ACCOUNTS, CONTACTS, tenant="globex")[0] == 0
    smaller = "contact_id,name,email,account_ids\nc-2,Bob Jones,bob@initech.example,acc-2\n"
    assert load("account_id,name,domains\nacc-2,Initech Corp,\n", smaller)[0] == 0
    crm = crm_of(warehouse_url)
    assert [(a.account_id, a.name, a.domains) for a in crm.accounts] == [
        ("acc-2", "Initech Corp", ())
    ]
    assert [(c.contact_id, c.account_ids) for c in crm.contacts] == [("c-2", ("acc-2",))]
    assert crm.memberships == [("acc-2", "c-2")]
    assert len(crm_of(warehouse_url, "globex").memberships) == 4  # the other tenant untouched
    with Warehouse(warehouse_url) as warehouse:
        table = warehouse.table("account_contacts")
        with warehouse.engine.connect() as conn:
            count = conn.scalar(sa.select(sa.func.count()).select_from(table))
    assert count == 1 + 4


@pytest.mark.parametrize(
    ("accounts", "contacts", "message"),
    [
        ("account_id,name\nacc-1,X\n", CONTACTS, "missing column(s) domains"),
        ("account_id,name,domains,owner\n", CONTACTS, "unknown column(s) owner"),
        (
            ACCOUNTS,
            "id,name,email,account_ids\n",
            "missing column(s) contact_id; unknown column(s) id",
        ),
        ("", CONTACTS, "empty file"),
        (ACCOUNTS, 'contact_id,name,email,account_ids\n"c-1,x\n', "not a readable CSV"),
    ],
)
def test_unusable_input_changes_nothing_and_exits_2(
    load, warehouse_url: str, accounts: str, contacts: str, message: str
) -> None:
    assert load(ACCOUNTS, CONTACTS)[0] == 0
    code, out, err = load(accounts, contacts)
    assert code == 2 and out == ""
    assert message in err and len(err.splitlines()) == 1
    assert len(crm_of(warehouse_url).contacts) == 3


def test_unknown_tenant_and_missing_file_exit_2(load, tmp_path: Path, capsys) -> None:
    code, _, err = load(ACCOUNTS, CONTACTS, tenant="nope")
    assert code == 2 and "nope" in err
    missing, other = str(tmp_path / "missing.csv"), str(tmp_path / "c.csv")
    code, _, err = run(
        capsys, "crm", "load", "--tenant", "acme", "--accounts", missing, "--contacts", other
    )
    assert code == 2 and "no such file" in err


def test_the_console_script_exits_1_when_rows_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    cli = [sys.executable, "-m", "orchestration.cli", "--warehouse-url", url]
    subprocess.run([*cli, "tenants", "add", "--slug", "acme", "--name", "Acme"], check=True)
    accounts = write(tmp_path, "a.csv", ACCOUNTS)
    contacts = write(tmp_path, "c.csv", CONTACTS + "c-9,Bad,bad,acc-1\n")
    done = subprocess.run(
        [*cli, "crm", "load", "--tenant", "acme", "--accounts", accounts, "--contacts", contacts],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("refused: contacts line 5: invalid contact email")
