"""Provider-neutral records: raw payloads as fetched, and what parsing makes of them.

Raw payloads (`RawMessage`, `RawEvent`) come out of connectors; parsers turn them into
`EmailRecord` / `MeetingRecord`, or a `QuarantinedRecord` that is kept and counted, never
dropped. Addresses are lower-cased bare `local@domain`; times are aware UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vocabulary.text import json_excerpt, safe_excerpt


@dataclass
class RawMessage:
    """One provider message as fetched: the decoded JSON payload, or why there is none.

    `payload is None` means the provider answered something unusable for this message (broken
    JSON, wrong shape); the sync quarantines it with `error` and a short `excerpt`.
    """

    provider_message_id: str
    payload: dict[str, Any] | None
    error: str | None = None
    excerpt: str | None = None


@dataclass
class RawEvent:
    """One calendar event occurrence as the provider listed it (already expanded from its series).

    `payload is None` means the provider answered something unusable for this event; the sync
    quarantines it with `error` and a short `excerpt`.
    """

    provider_event_id: str
    payload: dict[str, Any] | None
    error: str | None = None
    excerpt: str | None = None


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
"""Labels (Gmail's system labels; other providers map their folders onto them) whose messages
are never synced."""


def is_syncable(labels: Iterable[str]) -> bool:
    """False for drafts, spam and trash, which are never synced."""
    return not SKIPPED_LABELS.intersection(labels)


class Removal:
    """Why a synced message's row was tombstoned (raw_emails.removed_reason, at most 16 chars)."""

    TRASHED = "trashed"
    SPAM = "spam"
    DRAFT = "draft"
    DELETED = "deleted"
    """Deleted for good: the provider no longer knows the id."""
    MOVED_OUT = "moved_out"
    """Left every synced folder; the provider did not say where to."""
    NOT_LISTED = "not_listed"
    """Missing from a full listing of its window; the provider says nothing more."""


_REMOVAL_BY_LABEL = (("TRASH", Removal.TRASHED), ("SPAM", Removal.SPAM), ("DRAFT", Removal.DRAFT))


def removal_reason(labels: Iterable[str]) -> str | None:
    """Why a message with these labels is not synced (trash wins over spam), or None."""
    held = set(labels)
    return next((reason for label, reason in _REMOVAL_BY_LABEL if label in held), None)


@dataclass
class Attendee:
    """One attendee; `response` is one of RESPONSES."""

    email: str
    name: str | None = None
    response: str = "none"
    optional: bool = False


RESPONSES = ("accepted", "declined", "tentative", "none", "organizer")
"""Provider-neutral response status (Google's needsAction and Graph's notResponded are none)."""


@dataclass
class MeetingRecord:
    """One occurrence of a meeting as seen on one connected calendar, provider-neutral.

    `start_at`/`end_at` are aware UTC datetimes; for an all-day event they are the UTC midnights
    of its first day and of the day after its last (so it lands on its own calendar date).
    `start_time_zone` keeps the zone the organiser scheduled it in. `ical_uid` + `start_at`
    identify the real-world occurrence across calendars; `provider_event_id` is this calendar's
    id of the occurrence.
    """

    provider_event_id: str
    start_at: datetime
    end_at: datetime
    ical_uid: str | None = None
    subject: str | None = None
    all_day: bool = False
    start_time_zone: str | None = None
    status: str = "confirmed"  # confirmed | tentative | cancelled
    organizer_email: str | None = None
    organizer_name: str | None = None
    organized_by_owner: bool = False
    attendees: list[Attendee] = field(default_factory=list)
    series_id: str | None = None
    original_start_at: datetime | None = None
    location: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class DeletedEvent:
    """The provider says an event or a whole series was deleted, but not when it was (Google's
    deleted events carry only their id and status). It cannot be filed under a day: whatever
    the calendar's rows hold under this id, or as occurrences of this series, is cancelled."""

    provider_event_id: str


def unusable_payload(item_id: str, raw: RawMessage | RawEvent) -> QuarantinedRecord | None:
    """Why a fetched payload cannot become any record (none, not an object, no id or another
    item's id) as a quarantine record, or None when it can be read further."""
    payload = raw.payload
    if payload is None:
        excerpt = safe_excerpt(raw.excerpt) if raw.excerpt is not None else None
        return QuarantinedRecord(item_id, raw.error or "no_payload", excerpt=excerpt)
    if not isinstance(payload, Mapping):
        return QuarantinedRecord(item_id, "not_object", excerpt=json_excerpt(payload))
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        return QuarantinedRecord(item_id, "missing_id", excerpt=json_excerpt(payload))
    # A batch answer filed under the wrong id would overwrite a neighbour's row.
    if payload["id"] != item_id:
        return QuarantinedRecord(item_id, "id_mismatch", excerpt=json_excerpt(payload))
    return None
