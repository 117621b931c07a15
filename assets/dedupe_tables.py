"""Rebuilds one tenant-day of the deduplicated emails and meetings tables from the raw copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from assets.dedupe import merge_emails, merge_meetings
from assets.tenant_sync import chunks
from resources.warehouse import Warehouse

LOOKUP_CHUNK = 500


@dataclass
class DedupeResult:
    raw_rows: int
    rows: int
    multi_copy: int
    removed: int


def _select(warehouse: Warehouse, query: sa.Select) -> list[dict[str, Any]]:
    with warehouse.engine.connect() as db:
        return [dict(r) for r in db.execute(query).mappings()]


def _rebuild(
    warehouse: Warehouse,
    *,
    table: str,
    key_column: str,
    merge: Callable[..., list[dict[str, Any]]],
    copies: list[dict[str, Any]],
    tenant_id: str,
    day: date,
    owners: Mapping[str, str],
) -> DedupeResult:
    merged = merge(tenant_id, copies, owners, datetime.now(UTC))
    if merged:
        warehouse.upsert(table, merged, ("tenant_id", key_column))
    target = warehouse.table(table)
    keys_today = {m[key_column] for m in merged}
    held = {
        r[key_column]
        for r in _select(
            warehouse,
            sa.select(target.c[key_column]).where(
                target.c.tenant_id == tenant_id, target.c.partition_day == day
            ),
        )
    }
    stale = sorted(held - keys_today)
    if stale:
        with warehouse.write() as db:
            for part in chunks(stale, LOOKUP_CHUNK):
                db.execute(
                    target.delete().where(
                        target.c.tenant_id == tenant_id, target.c[key_column].in_(part)
                    )
                )
    day_raw = sum(1 for c in copies if c["partition_day"] == day)
    return DedupeResult(day_raw, len(merged), sum(m["copies"] > 1 for m in merged), len(stale))


def rebuild_emails(
    warehouse: Warehouse, tenant_id: str, day: date, owners: Mapping[str, str]
) -> DedupeResult:
    """emails rows for every message with a live copy received on `day`, all its live copies
    merged (tombstoned copies left out).

    Copies of the same message received on neighbouring days (mailboxes see it minutes apart
    around midnight) are looked up by Internet-Message-ID, so the merged row is the same
    whichever day is rebuilt first.
    """
    raw = warehouse.table("raw_emails")
    # Tombstoned copies are not in the mailbox any more: a message all of whose copies are
    # tombstoned has no emails row (the tombstones stay in raw_emails).
    live = raw.c.removed_at.is_(None)
    copies = _select(
        warehouse,
        raw.select().where(raw.c.tenant_id == tenant_id, raw.c.partition_day == day, live),
    )
    ids = sorted({c["internet_message_id"] for c in copies if c["internet_message_id"]})
    seen = {(c["connection_id"], c["provider_message_id"]) for c in copies}
    for part in chunks(ids, LOOKUP_CHUNK):
        for other in _select(
            warehouse,
            raw.select().where(
                raw.c.tenant_id == tenant_id,
                raw.c.internet_message_id.in_(part),
                raw.c.partition_day != day,
                live,
            ),
        ):
            if (other["connection_id"], other["provider_message_id"]) not in seen:
                copies.append(other)
    return _rebuild(
        warehouse,
        table="emails",
        key_column="email_key",
        merge=merge_emails,
        copies=copies,
        tenant_id=tenant_id,
        day=day,
        owners=owners,
    )


def rebuild_meetings(
    warehouse: Warehouse, tenant_id: str, day: date, owners: Mapping[str, str]
) -> DedupeResult:
    """meetings rows for every occurrence starting on `day`, its calendar copies merged."""
    raw = warehouse.table("raw_meetings")
    copies = _select(
        warehouse, raw.select().where(raw.c.tenant_id == tenant_id, raw.c.partition_day == day)
    )
    return _rebuild(
        warehouse,
        table="meetings",
        key_column="meeting_key",
        merge=merge_meetings,
        copies=copies,
        tenant_id=tenant_id,
        day=day,
        owners=owners,
    )
