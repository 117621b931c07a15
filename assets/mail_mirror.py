"""What the mail sync reads and writes to mirror a mailbox: held rows and their tombstones, and
each connection's change cursors. Every query is scoped by tenant and connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa

from assets.tenant_sync import chunks
from resources.registry import Connection
from resources.warehouse import Warehouse

LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class HeldCopy:
    """What the warehouse holds of one message of one mailbox."""

    live: bool
    partition_day: date
    internet_message_id: str | None


def _mine(table: sa.Table, conn: Connection) -> list[sa.ColumnElement[bool]]:
    return [table.c.tenant_id == conn.tenant_id, table.c.connection_id == conn.connection_id]


def held_copies(warehouse: Warehouse, conn: Connection, ids: Iterable[str]) -> dict[str, HeldCopy]:
    """The held rows (live or tombstoned) of these message ids."""
    raw = warehouse.table("raw_emails")
    found: dict[str, HeldCopy] = {}
    with warehouse.engine.connect() as db:
        for part in chunks(dict.fromkeys(ids), LOOKUP_CHUNK):
            query = sa.select(
                raw.c.provider_message_id,
                raw.c.removed_at,
                raw.c.partition_day,
                raw.c.internet_message_id,
            ).where(*_mine(raw, conn), raw.c.provider_message_id.in_(part))
            for mid, removed_at, day, imid in db.execute(query):
                found[mid] = HeldCopy(removed_at is None, day, imid)
    return found


def live_ids_received(
    warehouse: Warehouse, conn: Connection, start: datetime, end: datetime
) -> set[str]:
    """Ids of the connection's live rows received in [start, end)."""
    raw = warehouse.table("raw_emails")
    query = sa.select(raw.c.provider_message_id).where(
        *_mine(raw, conn),
        # partition_day is the UTC date of received_at: the bounds let the tenant-day index work.
        raw.c.partition_day >= start.astimezone(UTC).date(),
        raw.c.partition_day <= end.astimezone(UTC).date(),
        raw.c.received_at >= start,
        raw.c.received_at < end,
        raw.c.removed_at.is_(None),
    )
    with warehouse.engine.connect() as db:
        return set(db.scalars(query))


def earliest_live_day(warehouse: Warehouse, conn: Connection, since: date) -> date | None:
    """The first day on or after `since` holding a live row of the connection."""
    raw = warehouse.table("raw_emails")
    query = sa.select(sa.func.min(raw.c.partition_day)).where(
        *_mine(raw, conn), raw.c.partition_day >= since, raw.c.removed_at.is_(None)
    )
    with warehouse.engine.connect() as db:
        return db.scalar(query)


def tombstone(
    warehouse: Warehouse, conn: Connection, reasons: Mapping[str, str], now: datetime
) -> int:
    """Marks these messages' live rows removed (a row already tombstoned keeps its first reason
    and time); returns how many rows it marked."""
    raw = warehouse.table("raw_emails")
    by_reason: dict[str, list[str]] = {}
    for mid, reason in reasons.items():
        by_reason.setdefault(reason, []).append(mid)
    marked = 0
    with warehouse.write() as db:
        for reason, ids in sorted(by_reason.items()):
            for part in chunks(ids, LOOKUP_CHUNK):
                result = db.execute(
                    raw.update()
                    .where(
                        *_mine(raw, conn),
                        raw.c.provider_message_id.in_(part),
                        raw.c.removed_at.is_(None),
                    )
                    .values(removed_at=now, removed_reason=reason)
                )
                marked += result.rowcount
    return marked


def days_holding(
    warehouse: Warehouse, tenant_id: str, internet_message_ids: Iterable[str]
) -> set[date]:
    """The days of every copy in the tenant (any mailbox) of these Internet-Message-IDs: their
    emails rows may move between those days when one copy comes or goes."""
    raw = warehouse.table("raw_emails")
    days: set[date] = set()
    with warehouse.engine.connect() as db:
        for part in chunks(sorted(set(internet_message_ids)), LOOKUP_CHUNK):
            query = (
                sa.select(raw.c.partition_day)
                .distinct()
                .where(raw.c.tenant_id == tenant_id, raw.c.internet_message_id.in_(part))
            )
            days.update(db.scalars(query))
    return days


def load_cursors(warehouse: Warehouse, conn: Connection) -> dict[str, str]:
    """The connection's stored change cursors (scope -> cursor), empty before the first feed."""
    t = warehouse.table("change_cursors")
    query = sa.select(t.c.scope, t.c.cursor).where(*_mine(t, conn))
    with warehouse.engine.connect() as db:
        return {scope: cursor for scope, cursor in db.execute(query)}


def save_cursors(warehouse: Warehouse, conn: Connection, cursors: Mapping[str, str]) -> None:
    """Replaces the connection's cursors (scopes the connector no longer returns go)."""
    t = warehouse.table("change_cursors")
    now = datetime.now(UTC)
    with warehouse.write() as db:
        db.execute(t.delete().where(*_mine(t, conn)))
        if cursors:
            db.execute(
                t.insert(),
                [
                    {
                        "tenant_id": conn.tenant_id,
                        "connection_id": conn.connection_id,
                        "scope": scope,
                        "cursor": cursor,
                        "updated_at": now,
                    }
                    for scope, cursor in sorted(cursors.items())
                ],
            )
