"""The warehouse rows an explanation needs, read as plain dicts; no decision is made here.

Every query is scoped to one tenant and filtered on an indexed column (the raw tables'
Message-ID / iCalUID index, the engagement tables' primary keys); only the quarantine excerpts
are scanned, and only for the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa

from resources.warehouse import Warehouse
from vocabulary.status import ConnectionStatus

Row = dict[str, Any]


def rows_where(
    warehouse: Warehouse,
    table: str,
    tenant_id: str,
    column: str,
    value: str,
    days: Iterable[date] | None = None,
) -> list[Row]:
    """Every row of `table` in the tenant whose `column` equals `value` (on these partition
    days, when given: the deduplicated tables have no index on the id, but one on the day)."""
    tbl = warehouse.table(table)
    query = sa.select(tbl).where(tbl.c.tenant_id == tenant_id, tbl.c[column] == value)
    if days is not None:
        query = query.where(tbl.c.partition_day.in_(sorted(set(days))))
    with warehouse.engine.connect() as db:
        return [dict(r._mapping) for r in db.execute(query)]


def quarantined_rows(
    warehouse: Warehouse, table: str, tenant_id: str, days: Iterable[date] | None
) -> list[Row]:
    """The tenant's quarantined items (of these partition days, when given)."""
    tbl = warehouse.table(table)
    query = sa.select(tbl).where(tbl.c.tenant_id == tenant_id)
    if days is not None:
        query = query.where(tbl.c.partition_day.in_(sorted(set(days))))
    with warehouse.engine.connect() as db:
        return [dict(r._mapping) for r in db.execute(query)]


def engaged_accounts_by_key(
    warehouse: Warehouse, table: str, key_column: str, tenant_id: str, keys: Iterable[str]
) -> dict[str, set[str]]:
    """key -> the account ids the engagement table holds a row for."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    tbl = warehouse.table(table)
    query = sa.select(tbl.c[key_column], tbl.c.account_id).where(
        tbl.c.tenant_id == tenant_id, tbl.c[key_column].in_(wanted)
    )
    out: dict[str, set[str]] = {}
    with warehouse.engine.connect() as db:
        for key, account_id in db.execute(query):
            out.setdefault(key, set()).add(account_id)
    return out


def last_synced_days(warehouse: Warehouse, sync_log: str, tenant_id: str) -> dict[str, date]:
    """connection_id -> the latest partition day a sync of it finished as `active` (ok)."""
    tbl = warehouse.table(sync_log)
    query = (
        sa.select(tbl.c.connection_id, sa.func.max(tbl.c.partition_day))
        .where(tbl.c.tenant_id == tenant_id, tbl.c.status == ConnectionStatus.ACTIVE.value)
        .group_by(tbl.c.connection_id)
    )
    with warehouse.engine.connect() as db:
        return dict(db.execute(query).all())
