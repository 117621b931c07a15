"""The CRM edge cases every tenant's CRM carries, and its export as the two CSV files
`touchpoint crm load` reads (docs/analytics.md has their columns).

Edge cases, added without drawing random numbers (the mail and calendars stay the same):
- the first contact of the tenant's second account also belongs to its first account;
- the tenant's last account also lists a domain another tenant blocks (blocking is per tenant);
- the export spells the first contact's address in another case than the mail does, as CRMs
  hold them (Touchpoint matches after lower-casing).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sandbox.workload import names
from sandbox.workload.model import Tenant, Workload

ACCOUNT_COLUMNS = ("account_id", "name", "domains")
CONTACT_COLUMNS = ("contact_id", "name", "email", "account_ids")


def add_crm_edge_cases(tenant: Tenant) -> None:
    """Adds the edge cases above to a freshly drawn tenant's CRM, in place."""
    if len(tenant.accounts) >= 2:
        first, second = tenant.accounts[0], tenant.accounts[1]
        shared = next(c for c in tenant.contacts if c.account_id == second.account_id)
        shared.other_account_ids.append(first.account_id)
    foreign = next(
        (
            domain
            for spec in names.TENANTS
            for domain in spec.blocked_domains
            if spec.slug != tenant.slug and domain not in tenant.blocked_domains
        ),
        None,
    )
    if tenant.accounts and foreign and foreign not in tenant.accounts[-1].domains:
        tenant.accounts[-1].domains.append(foreign)


def crm_spelling(address: str) -> str:
    """The address as the CRM spells it: each word of it capitalised, a letter only where its
    capital lower-cases back to it (never `ß` -> `SS`), so it differs in case alone."""
    out = []
    for index, char in enumerate(address):
        upper = char.upper()
        starts_word = index == 0 or not address[index - 1].isalnum()
        out.append(upper if starts_word and len(upper) == 1 and upper.lower() == char else char)
    return "".join(out)


def write_crm_csv(tenant: Tenant, folder: Path) -> tuple[Path, Path]:
    """Writes `accounts.csv` and `contacts.csv` of one tenant into `folder`; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts_path, contacts_path = folder / "accounts.csv", folder / "contacts.csv"
    with accounts_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(ACCOUNT_COLUMNS)
        for account in tenant.accounts:
            writer.writerow([account.account_id, account.name, ";".join(account.domains)])
    with contacts_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CONTACT_COLUMNS)
        for index, contact in enumerate(tenant.contacts):
            email = crm_spelling(contact.email) if index == 0 else contact.email
            writer.writerow(
                [contact.contact_id, contact.name, email, ";".join(contact.account_ids)]
            )
    return accounts_path, contacts_path


def export_workload_crm(workload: Workload, root: Path) -> dict[str, tuple[Path, Path]]:
    """Each tenant's CRM as `root/<tenant>/accounts.csv` and `contacts.csv`."""
    return {t.slug: write_crm_csv(t, root / t.slug) for t in workload.tenants}
