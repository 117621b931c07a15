"""Tenant-days whose deduplicated rows must be rebuilt although no run holds their partition.

A change feed applies a mailbox's changes wherever they fall: the hourly run of today tombstones
a message received 20 days ago. That run's deduplicated asset rebuilds only its own days, so the
raw sync marks the other days here and the next rebuild of the same table for the tenant (the
same run's, in practice) takes them too, then clears the marks it saw. A mark made meanwhile
has a later `marked_at` and stays for the rebuild after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import sqlalchemy as sa

from resources.warehouse import Warehouse

TABLE = "pending_rebuilds"


def mark(warehouse: Warehouse, table_name: str, tenant_id: str, days: Iterable[date]) -> None:
    """Asks for `days` of `table_name` to be rebuilt for the tenant."""
    now = datetime.now(UTC)
    rows = [
        {"tenant_id": tenant_id, "table_name": table_name, "partition_day": d, "marked_at": now}
        for d in sorted(set(days))
    ]
    if rows:
        warehouse.upsert(TABLE, rows, ("tenant_id", "table_name", "partition_day"))


def pending(warehouse: Warehouse, table_name: str, tenant_id: str) -> dict[date, datetime]:
    """The tenant's marked days of `table_name` and when each was marked."""
    t = warehouse.table(TABLE)
    query = sa.select(t.c.partition_day, t.c.marked_at).where(
        t.c.tenant_id == tenant_id, t.c.table_name == table_name
    )
    with warehouse.engine.connect() as db:
        return {day: marked for day, marked in db.execute(query)}


def clear(
    warehouse: Warehouse, table_name: str, tenant_id: str, done: dict[date, datetime]
) -> None:
    """Removes the marks `pending` returned, unless one was renewed since."""
    if not done:
        return
    t = warehouse.table(TABLE)
    with warehouse.write() as db:
        for day, marked in done.items():
            db.execute(
                t.delete().where(
                    t.c.tenant_id == tenant_id,
                    t.c.table_name == table_name,
                    t.c.partition_day == day,
                    t.c.marked_at <= marked,
                )
            )
