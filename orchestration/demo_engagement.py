"""What the demo says about engagements: when its mailboxes were authorized (so the first
demo day holds mail from before it, which the rules leave out) and, per tenant, what the
engagement tables hold after the runs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from resources.warehouse import Warehouse

AUTHORIZED_HOURS_INTO_FIRST_DAY = 12
"""The demo's mailboxes were connected at noon UTC of the first demo day: the morning's mail
was synced (the initial look-back) but is history, which the rules never log."""


def demo_authorization(first_day: str) -> datetime:
    """When the demo's connections were authorized, for its first synced day (YYYY-MM-DD)."""
    start = datetime.fromisoformat(first_day).replace(tzinfo=UTC)
    return start + timedelta(hours=AUTHORIZED_HOURS_INTO_FIRST_DAY)


@dataclass(frozen=True)
class EngagementSummary:
    tenant_id: str
    accounts_engaged: int
    email_engagements: int
    meeting_engagements: int
    top_account: str | None
    """'<name> (<n> touches)' of the account with the most engagements, or None."""


def engagement_summaries(warehouse: Warehouse, tenant_ids: list[str]) -> list[EngagementSummary]:
    """Per tenant: accounts with any engagement, email and meeting engagements, and the most
    engaged account (ties broken by account id, so the line is the same on every run)."""
    touches: dict[str, Counter[str]] = {t: Counter() for t in tenant_ids}
    kinds: dict[str, Counter[str]] = {t: Counter() for t in tenant_ids}
    names: dict[tuple[str, str], str] = {}
    with warehouse.engine.connect() as db:
        for name in ("email_engagements", "meeting_engagements"):
            table = warehouse.table(name)
            rows = db.execute(
                sa.select(table.c.tenant_id, table.c.account_id, sa.func.count())
                .where(table.c.tenant_id.in_(tenant_ids))
                .group_by(table.c.tenant_id, table.c.account_id)
            ).all()
            for tenant_id, account_id, n in rows:
                touches[tenant_id][account_id] += n
                kinds[tenant_id][name] += n
        accounts = warehouse.table("accounts")
        for tenant_id, account_id, account_name in db.execute(
            sa.select(accounts.c.tenant_id, accounts.c.account_id, accounts.c.name).where(
                accounts.c.tenant_id.in_(tenant_ids)
            )
        ):
            names[(tenant_id, account_id)] = account_name
    out = []
    for tenant_id in tenant_ids:
        ranked = sorted(touches[tenant_id].items(), key=lambda item: (-item[1], item[0]))
        top = None
        if ranked:
            account_id, n = ranked[0]
            top = f"{names.get((tenant_id, account_id), account_id)} ({n} touches)"
        out.append(
            EngagementSummary(
                tenant_id,
                len(ranked),
                kinds[tenant_id]["email_engagements"],
                kinds[tenant_id]["meeting_engagements"],
                top,
            )
        )
    return out


def print_engagement_summaries(summaries: list[EngagementSummary]) -> None:
    header = (
        f"{'tenant':<14} {'accounts engaged':>16} {'email eng.':>10} {'meeting eng.':>12}"
        "  most engaged account"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for s in summaries:
        print(
            f"{s.tenant_id:<14} {s.accounts_engaged:>16} {s.email_engagements:>10} "
            f"{s.meeting_engagements:>12}  {s.top_account or '-'}"
        )
    print(
        "engagements follow the rules in docs/analytics.md: mail before the mailbox's "
        "authorization, internal-only and blocked-only mail are never logged"
    )
