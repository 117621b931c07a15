"""How a mail sync writes what it parsed: bounded batches, each one bulk upsert.

Every upsert call is a transaction and, on PostgreSQL, a staging table of its own; at 500 rows a
call the sync loaded at 57% of a raw COPY of the same rows (docs/benchmarks.md). A batch now
holds up to `WRITE_BATCH_ROWS` rows or `WRITE_BATCH_TEXT_BYTES` of their text, whichever comes
first: one write for an ordinary connection-window, bounded memory for a 100,000-message mailbox
or messages with thousands of recipients.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from assets.tenant_sync import CONNECTION_KEY, upsert_quarantine
from resources.warehouse import Warehouse
from vocabulary.text import safe_excerpt

RAW_EMAIL_KEY = (*CONNECTION_KEY, "provider_message_id")

WRITE_BATCH_ROWS = 5_000
"""Rows per write: 0.91x a raw COPY where 20,000 reached 0.95x (docs/benchmarks.md, write path),
for a quarter of the memory: ~8 MiB a connection, ~160 MiB for a run's 20 connections at once."""

WRITE_BATCH_TEXT_BYTES = 8 * 2**20
"""Text per write (subjects, addresses, ids): bounds a batch of messages with huge recipient
lists, which the row count alone would not."""

_ADDRESS_LISTS = ("to_addresses", "cc_addresses", "bcc_addresses")
_TEXT_FIELDS = ("provider_message_id", "internet_message_id", "thread_id", "subject", "from_name")


def text_bytes(row: dict) -> int:
    """Characters of the row's variable-size text: what its memory and COPY size grow with."""
    size = sum(len(row.get(name) or "") for name in _TEXT_FIELDS)
    return size + sum(len(address) for name in _ADDRESS_LISTS for address in row[name])


@dataclass
class MailBatch:
    """Parsed rows and quarantine rows waiting for one write, stamped when the batch began."""

    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    fetched: int = 0
    text: int = 0

    def add_row(self, row: dict) -> None:
        self.rows.append(row)
        self.text += text_bytes(row)

    @property
    def full(self) -> bool:
        return (
            len(self.rows) + len(self.quarantined) >= WRITE_BATCH_ROWS
            or self.text >= WRITE_BATCH_TEXT_BYTES
        )


def refused_row(row: dict, reason: str, now: datetime) -> dict:
    """The quarantine row of a parsed message the warehouse refused to store."""
    return {
        "tenant_id": row["tenant_id"],
        "connection_id": row["connection_id"],
        "provider_message_id": row["provider_message_id"],
        "partition_day": row["partition_day"],
        "reason": reason,
        "excerpt": safe_excerpt(str(row.get("subject") or "")),
        "received_at": row["received_at"],
        "quarantined_at": now,
        "attempts": 1,
    }


def store_mail(
    warehouse: Warehouse,
    tenant_id: str,
    connection_id: str,
    rows: list[dict],
    quarantined: Iterable[dict],
    now: datetime,
) -> tuple[list[dict], list[dict]]:
    """Upserts `rows` into raw_emails in one call and records `quarantined`; returns the rows
    stored and every quarantine row, including the rows the database refused (one bad row never
    sinks its neighbours), and releases from quarantine the messages that now stored."""
    quarantined = list(quarantined)
    if rows:
        # What the sync writes is mostly mail the warehouse lacked (it fetched only that).
        refused = warehouse.upsert_or_refuse("raw_emails", rows, RAW_EMAIL_KEY, mostly_new=True)
        # Parsed, but the database will not store it: kept for another try.
        quarantined.extend(refused_row(row, reason, now) for row, reason in refused)
        refused_ids = {row["provider_message_id"] for row, _ in refused}
        if refused_ids:
            rows = [r for r in rows if r["provider_message_id"] not in refused_ids]
    upsert_quarantine(
        warehouse,
        "quarantined_messages",
        "provider_message_id",
        quarantined,
        [r["provider_message_id"] for r in rows],
        tenant_id,
        connection_id,
    )
    return rows, quarantined
