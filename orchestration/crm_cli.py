"""`touchpoint crm load`: replace a tenant's CRM with the rows of two CSV files.

Exit 0 when every row was loaded, 1 when some rows were refused (each listed on stderr with its
file, line and reason; the others are loaded), 2 when the input is unusable (a missing file,
wrong columns, an unknown tenant): then nothing changes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from resources.registry import TenantStore
from resources.registry.crm import check_crm
from resources.registry.crm_csv import (
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    CrmFileError,
    read_crm_csv,
)
from resources.warehouse import Warehouse

EXIT_REFUSED_ROWS = 1


def add_crm_command(
    commands: Any, open_warehouse: Callable[[argparse.Namespace], Warehouse]
) -> None:
    """Adds `crm load` to the `touchpoint` subcommands."""
    crm = commands.add_parser("crm", help="load a tenant's CRM accounts and contacts")
    sub = crm.add_subparsers(dest="crm_command", metavar="ACTION", required=True)
    load = sub.add_parser(
        "load",
        help="replace the tenant's CRM with two CSV files (see docs/analytics.md)",
        description=(
            f"accounts CSV columns: {','.join(ACCOUNT_COLUMNS)}; contacts CSV columns: "
            f"{','.join(CONTACT_COLUMNS)}. Lists inside a field are ';'-separated."
        ),
    )
    load.add_argument("--tenant", required=True, help="tenant slug")
    load.add_argument("--accounts", required=True, metavar="CSV", help="accounts file")
    load.add_argument("--contacts", required=True, metavar="CSV", help="contacts file")
    load.set_defaults(handler=lambda args: cmd_crm_load(args, open_warehouse))


def cmd_crm_load(
    args: argparse.Namespace, open_warehouse: Callable[[argparse.Namespace], Warehouse]
) -> int:
    accounts = read_crm_csv(args.accounts, ACCOUNT_COLUMNS)
    contacts = read_crm_csv(args.contacts, CONTACT_COLUMNS)
    checked = check_crm(accounts, contacts)
    with open_warehouse(args) as warehouse:
        TenantStore(warehouse).replace_crm(args.tenant, checked.crm)
    crm = checked.crm
    print(
        f"loaded CRM of {args.tenant}: {len(crm.accounts)} account(s), {len(crm.contacts)} "
        f"contact(s), {len(crm.memberships)} membership(s); {len(checked.refused)} row(s) refused"
    )
    for row in checked.refused:
        print(f"refused: {row}", file=sys.stderr)
    return EXIT_REFUSED_ROWS if checked.refused else 0


__all__ = ["CrmFileError", "add_crm_command"]
