"""Asset checks of the engagement tables: the detail rows reference the tenant's CRM as it is
(every account exists, every contact exists and belongs to that account), no engagement is
between internal people only, and the rollups equal the detail rows they summarise.

Checks of email_engagements / meeting_engagements are attached by asset key, so the detail
assets need no change to carry them. Like assets/missed_window_checks.py, the checks are
unpartitioned and evaluate the partitions of the run they run in: Dagster 1.13 records a
check's partition only for a step over one partition key, and partitioned checks
(`AssetCheckSpec.partitions_def`) are a preview there, while our runs cover ranges. Run on its
own, a check covers every tenant. A failure is an ERROR: the rows are wrong, not late. The
metadata counts the failing rows and lists a few (ids and keys only: no subject or address).
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import sqlalchemy as sa

from assets.engagement_rollup_tables import (
    ACCOUNT_DAILY,
    CONTACT_ENGAGEMENT,
    expected_account_daily,
    expected_contact_engagement,
    stored_rows,
    tenant_zone,
)
from assets.engagement_rollups import EMAIL_ENGAGEMENTS, MEETING_ENGAGEMENTS
from assets.engagement_rollups_logic import local_days_of_utc_day
from assets.partition_sync import tenant_days
from assets.partitions import tenant_day_partitions
from resources.dagster_resources import WarehouseResource
from resources.registry import TenantStore
from resources.registry.engagement_context import load_engagement_context
from resources.warehouse import Warehouse
from vocabulary.engagement import is_internal, normalised

EXAMPLES = 5
"""Failing rows listed in a check's metadata; the count covers all of them."""

Scope = Mapping[str, set[date] | None]
"""tenant_id -> the UTC days to check (None: all of the tenant's rows)."""


@dataclass(frozen=True)
class Finding:
    """One failing row: where it is and what is wrong, with no personal data."""

    tenant_id: str
    key: str
    problem: str

    def as_dict(self) -> dict[str, str]:
        return {"tenant": self.tenant_id, "row": self.key, "problem": self.problem}


def check_result(findings: list[Finding], rows_checked: int, what: str) -> dg.AssetCheckResult:
    """Passed when nothing was found; an ERROR counting and exemplifying the failing rows
    otherwise."""
    failing = len({(f.tenant_id, f.key) for f in findings})
    return dg.AssetCheckResult(
        passed=not findings,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "rows_checked": dg.MetadataValue.int(rows_checked),
            "failing_rows": dg.MetadataValue.int(failing),
            "examples": dg.MetadataValue.json([f.as_dict() for f in findings[:EXAMPLES]]),
        },
        description=f"{failing} of {rows_checked} row(s) {what}" if findings else "all rows pass",
    )


def all_tenants(warehouse: Warehouse) -> dict[str, set[date] | None]:
    return {t.tenant_id: None for t in TenantStore(warehouse).list_tenants()}


def day_scope(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Scope:
    """The run's tenant-days (UTC), or every tenant's rows for a check run on its own."""
    op_context = context.op_execution_context
    if not (op_context.has_partition_key or op_context.has_partition_key_range):
        return all_tenants(warehouse)
    plan = tenant_days(op_context.partition_keys, tenant_day_partitions)
    return {tenant: {w.start.date() for w in windows} for tenant, windows in plan.items()}


def tenant_scope(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Scope:
    """The run's tenants (a tenant-partitioned asset's keys are the slugs), or all tenants."""
    op_context = context.op_execution_context
    if not (op_context.has_partition_key or op_context.has_partition_key_range):
        return all_tenants(warehouse)
    return dict.fromkeys(op_context.partition_keys)


def detail_rows(
    warehouse: Warehouse, table_name: str, tenant_id: str, utc_days: set[date] | None
) -> list[dict[str, Any]]:
    """A detail table's rows of the tenant on `utc_days` (partition days), or all of them."""
    table = warehouse.table(table_name)
    query = sa.select(table).where(table.c.tenant_id == tenant_id)
    if utc_days is not None:
        query = query.where(table.c.partition_day.in_(sorted(utc_days)))
    with warehouse.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


CONTACT_LISTS = {
    "email_engagements": ("contact_ids",),
    "meeting_engagements": (
        "accepted_contact_ids",
        "declined_contact_ids",
        "tentative_contact_ids",
    ),
}
ROW_KEY = {"email_engagements": "email_key", "meeting_engagements": "meeting_key"}


def _row_id(table_name: str, row: Mapping[str, Any]) -> str:
    return f"{row['partition_day']}/{row[ROW_KEY[table_name]]}/{row['account_id']}"


def reference_findings(warehouse: Warehouse, table_name: str, scope: Scope) -> tuple[list, int]:
    """(findings, rows checked): rows whose account is not one of the tenant's, or naming a
    contact id the CRM does not have or that does not belong to the row's account."""
    findings, checked = [], 0
    for tenant_id, days in sorted(scope.items()):
        crm = TenantStore(warehouse).read_crm(tenant_id)
        accounts = {a.account_id for a in crm.accounts}
        members = set(crm.memberships)
        contacts = {c.contact_id for c in crm.contacts}
        for row in detail_rows(warehouse, table_name, tenant_id, days):
            checked += 1
            row_id = _row_id(table_name, row)
            if row["account_id"] not in accounts:
                findings.append(Finding(tenant_id, row_id, "unknown_account"))
                continue
            for column in CONTACT_LISTS[table_name]:
                for contact_id in row[column]:
                    if contact_id not in contacts:
                        problem = f"unknown_contact:{contact_id}"
                    elif (row["account_id"], contact_id) not in members:
                        problem = f"contact_not_in_account:{contact_id}"
                    else:
                        continue
                    findings.append(Finding(tenant_id, row_id, problem))
    return findings, checked


def internal_only_findings(warehouse: Warehouse, table_name: str, scope: Scope) -> tuple[list, int]:
    """(findings, rows checked): emails none of whose contact addresses is external (not on an
    internal domain, not an owner's address or alias), meetings with no accepted contact."""
    findings, checked = [], 0
    for tenant_id, days in sorted(scope.items()):
        people = load_engagement_context(warehouse, tenant_id).people
        for row in detail_rows(warehouse, table_name, tenant_id, days):
            checked += 1
            if table_name == "meeting_engagements":
                # The rules engage a meeting only through a contact who accepted.
                if not row["accepted_contact_ids"]:
                    findings.append(
                        Finding(tenant_id, _row_id(table_name, row), "no_accepted_contact")
                    )
                continue
            external = [a for a in normalised(row["contact_emails"]) if not is_internal(a, people)]
            if not external:
                findings.append(Finding(tenant_id, _row_id(table_name, row), "internal_only"))
    return findings, checked


def _compare(
    tenant_id: str, expected: list[dict], stored: list[dict], key: Callable[[dict], str]
) -> list[Finding]:
    """Findings for rows missing from `stored`, rows it should not hold, and rows that differ
    (naming the columns)."""
    want = {key(r): r for r in expected}
    have = {key(r): r for r in stored}
    findings = []
    for row_key in sorted(want.keys() | have.keys()):
        if row_key not in have:
            findings.append(Finding(tenant_id, row_key, "missing"))
        elif row_key not in want:
            findings.append(Finding(tenant_id, row_key, "no_detail_rows"))
        elif want[row_key] != have[row_key]:
            columns = sorted(c for c in want[row_key] if want[row_key][c] != have[row_key].get(c))
            findings.append(Finding(tenant_id, row_key, "differs:" + ",".join(columns)))
    return findings


def _local_days_with_rows(warehouse: Warehouse, conn: sa.Connection, tenant_id: str) -> list:
    days: set[date] = set()
    for name in (ACCOUNT_DAILY, "email_engagements", "meeting_engagements"):
        table = warehouse.table(name)
        query = sa.select(table.c.local_day).where(table.c.tenant_id == tenant_id).distinct()
        days.update(conn.scalars(query))
    return sorted(days)


def account_daily_findings(warehouse: Warehouse, scope: Scope) -> tuple[list, int]:
    """(findings, rows compared): account_engagement_daily rows of the scope's local days that
    differ from what the detail rows of those days give."""
    findings, checked = [], 0
    for tenant_id, utc_days in sorted(scope.items()):
        zone = tenant_zone(warehouse, tenant_id)
        with warehouse.engine.connect() as conn, conn.begin():
            if utc_days is None:
                local_days = _local_days_with_rows(warehouse, conn, tenant_id)
            else:
                local_days = sorted(
                    {d for utc_day in utc_days for d in local_days_of_utc_day(utc_day, zone)}
                )
            expected = expected_account_daily(warehouse, conn, tenant_id, local_days)
            stored = stored_rows(warehouse, conn, ACCOUNT_DAILY, tenant_id, local_days)
        checked += len(stored)
        findings += _compare(
            tenant_id, expected, stored, lambda r: f"{r['account_id']}/{r['local_day']}"
        )
    return findings, checked


def contact_engagement_findings(warehouse: Warehouse, scope: Scope) -> tuple[list, int]:
    """(findings, rows compared): contact_engagement rows that differ from what the CRM and the
    detail rows give as of the rows' own as_of (a tenant never built has nothing to compare)."""
    findings, checked = [], 0
    for tenant_id in sorted(scope):
        with warehouse.engine.connect() as conn, conn.begin():
            stored = stored_rows(warehouse, conn, CONTACT_ENGAGEMENT, tenant_id)
            as_of_dates = {r["as_of"] for r in stored}
            if len(as_of_dates) > 1:
                # One rebuild writes one as_of: several mean rows of different builds.
                findings.append(Finding(tenant_id, "*", "several_as_of"))
                continue
            if not as_of_dates:
                continue
            expected = expected_contact_engagement(warehouse, conn, tenant_id, as_of_dates.pop())
        checked += len(stored)
        findings += _compare(tenant_id, expected, stored, lambda r: r["contact_id"])
    return findings, checked


def _detail_check(
    asset_key: dg.AssetKey,
    name: str,
    description: str,
    find: Callable[[Warehouse, str, Scope], tuple[list, int]],
    what: str,
) -> dg.AssetChecksDefinition:
    table_name = asset_key.to_user_string()

    @dg.asset_check(asset=asset_key, name=name, description=description)
    def check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        store = warehouse.get()
        findings, checked = find(store, table_name, day_scope(context, store))
        return check_result(findings, checked, what)

    return check


REFERENCES_CRM = "references_crm"
HAS_EXTERNAL_CONTACT = "has_external_contact"
MATCHES_DETAIL_ROWS = "matches_detail_rows"


def _detail_checks(asset_key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    return [
        _detail_check(
            asset_key,
            REFERENCES_CRM,
            "ERROR when a row of the run's tenant-days names an account the tenant's CRM does "
            "not have, or a contact id that is unknown or not a member of the row's account.",
            reference_findings,
            "do not match the CRM",
        ),
        _detail_check(
            asset_key,
            HAS_EXTERNAL_CONTACT,
            "ERROR when an engagement of the run's tenant-days is between internal people only "
            "(an email with no external contact address, a meeting with no accepted contact).",
            internal_only_findings,
            "have no external contact",
        ),
    ]


def _rollup_check(
    asset_key: dg.AssetKey,
    scope_of: Callable[[dg.AssetCheckExecutionContext, Warehouse], Scope],
    find: Callable[[Warehouse, Scope], tuple[list, int]],
    description: str,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset_key, name=MATCHES_DETAIL_ROWS, description=description)
    def check(
        context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
    ) -> dg.AssetCheckResult:
        store = warehouse.get()
        findings, checked = find(store, scope_of(context, store))
        return check_result(findings, checked, "differ from the detail rows")

    return check


def engagement_checks() -> list[dg.AssetChecksDefinition]:
    """Every engagement check, for the Definitions."""
    return [
        *_detail_checks(EMAIL_ENGAGEMENTS),
        *_detail_checks(MEETING_ENGAGEMENTS),
        _rollup_check(
            dg.AssetKey(ACCOUNT_DAILY),
            day_scope,
            account_daily_findings,
            "ERROR when a row of the local days the run's UTC days overlap differs from the "
            "detail rows of that day, is missing, or has no detail rows left.",
        ),
        _rollup_check(
            dg.AssetKey(CONTACT_ENGAGEMENT),
            tenant_scope,
            contact_engagement_findings,
            "ERROR when a tenant's rows differ from the CRM and the detail rows as of the rows' "
            "as_of (a contact missing or extra, a count or a last touch off).",
        ),
    ]


ENGAGEMENT_CHECKS: Iterable[dg.AssetChecksDefinition] = tuple(engagement_checks())
