"""Gmail `users.messages.get` resources as `EmailRecord`s, without I/O.

Gmail hands over raw RFC 5322 headers; the neutral header rules (vocabulary.headers) read them,
so Gmail and Graph agree on addresses and Internet-Message-IDs. Only a payload without what a
record needs (id, received time, a header list) is quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from vocabulary.headers import header_pairs, parse_headers
from vocabulary.records import EmailRecord, QuarantinedRecord, RawMessage, unusable_payload
from vocabulary.text import json_excerpt, short_repr

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _internal_date(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        millis = int(value)
        return _EPOCH + timedelta(milliseconds=millis)
    except (ValueError, OverflowError):
        return None


def parse_gmail_message(raw: RawMessage) -> EmailRecord | QuarantinedRecord:
    """A Gmail `users.messages.get` resource (format=metadata or full) as an EmailRecord.

    Quarantined when the connector got no usable JSON object, or the resource lacks an id, a
    readable `internalDate` or a `payload` with a header list.
    """
    message_id = raw.provider_message_id
    payload = raw.payload
    if (unusable := unusable_payload(message_id, raw)) is not None:
        return unusable

    def quarantine(reason: str, received_at: datetime | None = None) -> QuarantinedRecord:
        return QuarantinedRecord(message_id, reason, received_at, json_excerpt(payload))

    if payload.get("internalDate") in (None, ""):
        return quarantine("missing_internal_date")
    received_at = _internal_date(payload["internalDate"])
    if received_at is None:
        return quarantine("invalid_internal_date")
    part = payload.get("payload")
    if not isinstance(part, Mapping):
        return quarantine("missing_payload", received_at)
    headers = part.get("headers", [])
    if not isinstance(headers, list):
        return quarantine("bad_headers", received_at)

    defects: list[str] = []
    fields = parse_headers(header_pairs(headers, defects))
    labels = payload.get("labelIds") or []
    if not isinstance(labels, list):
        defects.append("labelIds: not a list")
        labels = []
    size = payload.get("sizeEstimate")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        defects.append(f"sizeEstimate: not an integer {short_repr(repr(size))}")
        size = None
    thread_id = payload.get("threadId")
    return EmailRecord(
        provider_message_id=message_id,
        received_at=received_at,
        thread_id=thread_id if isinstance(thread_id, str) else None,
        labels=[label for label in labels if isinstance(label, str)],
        size_bytes=size,
        header_defects=[*defects, *fields.defects],
        **fields.record_fields(),
    )
