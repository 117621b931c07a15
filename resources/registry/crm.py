"""A tenant's CRM as Touchpoint keeps it (accounts, contacts, memberships) and the checks that
decide which input rows are loaded and which are refused, with their line and reason.

Pure: no database, no files. The CSV reader (crm_csv.py) hands rows here; `TenantStore`
(tenants.py) writes the checked snapshot. A contact may belong to several accounts (one person
who is an end user of two customers), listed on its one row; its address identifies it within
the tenant, so a second row with the same address (case and surrounding spaces do not count)
is refused rather than guessed at.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resources.registry.errors import InvalidInputError
from resources.registry.validation import (
    normalise_domains,
    normalise_email,
    optional_name,
    validate_crm_id,
    validate_name,
)

LIST_SEPARATOR = ";"
"""Separates the domains of an account and the account ids of a contact within one field."""

NumberedRow = tuple[int, Mapping[str, Any]]
"""An input row with the line it came from (the header is line 1)."""


@dataclass(frozen=True)
class CrmAccount:
    account_id: str
    name: str
    domains: tuple[str, ...]


@dataclass(frozen=True)
class CrmContact:
    contact_id: str
    name: str | None
    email: str
    account_ids: tuple[str, ...]


@dataclass(frozen=True)
class RefusedRow:
    """An input row that was not loaded: which file (`accounts` or `contacts`), line, why."""

    source: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source} line {self.line}: {self.reason}"


@dataclass(frozen=True)
class CrmSnapshot:
    """One tenant's whole CRM, sorted by id (so equal CRMs compare and hash equal)."""

    accounts: tuple[CrmAccount, ...] = ()
    contacts: tuple[CrmContact, ...] = ()

    @property
    def memberships(self) -> list[tuple[str, str]]:
        """(account_id, contact_id) pairs, sorted."""
        return sorted((a, c.contact_id) for c in self.contacts for a in c.account_ids)

    def accounts_by_email(self) -> dict[str, frozenset[str]]:
        """Each contact address -> the accounts it belongs to (what the rules match on)."""
        return {c.email: frozenset(c.account_ids) for c in self.contacts}

    def fingerprint(self) -> str:
        """A short hash of the whole CRM: equal exactly when the CRMs are equal."""
        body = json.dumps(
            [
                [[a.account_id, a.name, list(a.domains)] for a in self.accounts],
                [[c.contact_id, c.name, c.email, list(c.account_ids)] for c in self.contacts],
            ],
            separators=(",", ":"),
        )
        return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CheckedCrm:
    """What a load would write (`crm`) and the rows it refuses (`refused`, in input order)."""

    crm: CrmSnapshot
    refused: tuple[RefusedRow, ...]


def split_list(value: object) -> list[str]:
    """A `;`-separated field (or an already split list) as its non-empty, stripped items."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(LIST_SEPARATOR)
    return [str(item).strip() for item in items if str(item).strip()]


def _new_id(value: object, what: str, seen: Mapping[str, int]) -> str:
    """A non-empty id no earlier row has (`seen`: id -> its line)."""
    text = validate_crm_id("" if value is None else value, what).strip()
    if not text:
        raise InvalidInputError(f"the {what} is empty")
    if text in seen:
        raise InvalidInputError(f"{what} {text!r} is already on line {seen[text]}")
    return text


@dataclass(frozen=True)
class CheckedAccounts:
    accounts: list[CrmAccount]
    refused: list[RefusedRow]
    refused_ids: dict[str, int]
    """Ids of refused rows that no good row has (id -> first refused line), so a contact naming
    one hears why."""


def check_accounts(rows: Iterable[NumberedRow]) -> CheckedAccounts:
    """Accounts with an id, a name and valid domains; a repeated id is refused (first wins)."""
    lines: dict[str, int] = {}
    accounts: list[CrmAccount] = []
    refused: list[RefusedRow] = []
    refused_ids: dict[str, int] = {}
    for line, row in rows:
        try:
            account_id = _new_id(row.get("account_id"), "account id", lines)
            account = CrmAccount(
                account_id,
                validate_name(row.get("name"), "account name"),
                tuple(normalise_domains(split_list(row.get("domains")), "account domain")),
            )
        except InvalidInputError as exc:
            refused.append(RefusedRow("accounts", line, str(exc)))
            refused_ids.setdefault(str(row.get("account_id") or "").strip(), line)
            continue
        lines[account_id] = line
        accounts.append(account)
    refused_ids = {k: v for k, v in refused_ids.items() if k and k not in lines}
    return CheckedAccounts(accounts, refused, refused_ids)


def check_contacts(
    rows: Iterable[NumberedRow], account_ids: set[str], refused_accounts: Mapping[str, int]
) -> tuple[list[CrmContact], list[RefusedRow]]:
    """Contacts with an id, a valid address and at least one account that is loaded.

    A repeated id, or an address another row already has (after lower-casing and stripping),
    is refused: one person is one row, with all their accounts in `account_ids`.
    """
    ids: dict[str, int] = {}
    emails: dict[str, tuple[int, str]] = {}
    contacts: list[CrmContact] = []
    refused: list[RefusedRow] = []
    for line, row in rows:
        try:
            contact_id = _new_id(row.get("contact_id"), "contact id", ids)
            email = normalise_email(row.get("email") or "", "contact email")
            if email in emails:
                first_line, first_id = emails[email]
                raise InvalidInputError(
                    f"address {email} already belongs to contact {first_id!r} (line {first_line}); "
                    "list every account of one person in its account_ids"
                )
            name = optional_name(row.get("name"), "contact name")
            memberships = list(dict.fromkeys(split_list(row.get("account_ids"))))
            if not memberships:
                raise InvalidInputError("no account: account_ids names none")
            for account_id in memberships:
                if account_id in refused_accounts:
                    raise InvalidInputError(
                        f"account {account_id!r} was refused (accounts line "
                        f"{refused_accounts[account_id]})"
                    )
                if account_id not in account_ids:
                    raise InvalidInputError(f"unknown account {account_id!r}")
        except InvalidInputError as exc:
            refused.append(RefusedRow("contacts", line, str(exc)))
            continue
        ids[contact_id] = line
        emails[email] = (line, contact_id)
        contacts.append(CrmContact(contact_id, name, email, tuple(sorted(memberships))))
    return contacts, refused


def check_crm(accounts: Sequence[NumberedRow], contacts: Sequence[NumberedRow]) -> CheckedCrm:
    """The snapshot of the rows that pass and the refused rows, accounts' first."""
    checked = check_accounts(accounts)
    loaded = {a.account_id for a in checked.accounts}
    good_contacts, refused_contacts = check_contacts(contacts, loaded, checked.refused_ids)
    return CheckedCrm(
        CrmSnapshot(
            tuple(sorted(checked.accounts, key=lambda a: a.account_id)),
            tuple(sorted(good_contacts, key=lambda c: c.contact_id)),
        ),
        tuple(checked.refused + refused_contacts),
    )
