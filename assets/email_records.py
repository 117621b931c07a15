"""Normalised email records: what parsing produces and the warehouse's raw_emails table stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class EmailRecord:
    """One message as seen in one connected mailbox, provider-neutral.

    Addresses are lower-cased bare addresses (`name@domain`); display names are kept apart.
    `received_at` (the provider's own received/internal time, UTC) decides the partition day.
    """

    provider_message_id: str
    received_at: datetime
    internet_message_id: str | None = None
    thread_id: str | None = None
    subject: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    to_addresses: list[str] = field(default_factory=list)
    cc_addresses: list[str] = field(default_factory=list)
    bcc_addresses: list[str] = field(default_factory=list)
    sent_at: datetime | None = None
    in_reply_to: str | None = None
    labels: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    header_defects: list[str] = field(default_factory=list)


@dataclass
class QuarantinedRecord:
    """A message the sync could not turn into an EmailRecord: kept, counted, never dropped."""

    provider_message_id: str
    reason: str
    received_at: datetime | None = None
    excerpt: str | None = None


SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})
"""Gmail system labels whose messages are never synced."""
