"""Microsoft Graph message resources as `EmailRecord`s, without I/O.

A message that came in over the internet carries its raw RFC 5322 header block in
`internetMessageHeaders` (returned only when selected): the header fields are then read from it
with the same rules as Gmail's (vocabulary.headers), so one message gives the same fields and
the same defects whichever provider served it. Graph's own split and decoded fields (subject,
from, toRecipients, ...) already lose what the rules name: a second To header, encoded words
that do not decode, an address Exchange could not resolve. They are the fallback for items
without internet headers (composed in the mailbox: sent items), read with the same address,
id and single-line rules.

Graph names a message's folder only by an opaque `parentFolderId`; the connector resolves the
well-known folders once and writes the name into the payload under `FOLDER_KEY`. Folders become
Gmail's system labels (`SKIPPED_LABELS` then means the same for both providers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vocabulary.headers import (
    CONTROL_DEFECTS,
    HeaderFields,
    header_pairs,
    parse_headers,
    parse_message_id,
)
from vocabulary.records import EmailRecord, QuarantinedRecord, RawMessage, unusable_payload
from vocabulary.text import json_excerpt, normalize_address, one_line, short_repr
from vocabulary.times import parse_iso_datetime

FOLDER_KEY = "@touchpoint.wellKnownFolder"
"""Payload key (an OData-style annotation, so never a Graph property) the connector fills with
the well-known name of the message's folder, when it is one."""

FOLDER_LABELS: dict[str, str] = {
    "inbox": "INBOX",
    "sentitems": "SENT",
    "drafts": "DRAFT",
    "junkemail": "SPAM",
    "deleteditems": "TRASH",
    "archive": "ARCHIVE",
    "outbox": "OUTBOX",
}
"""Graph well-known folder names as Gmail system labels; any other folder counts as INBOX."""


def _recipient(item: Any, label: str, defects: list[str]) -> tuple[str | None, str] | None:
    """`(name, address)` of a Graph recipient, or None (named in `defects`) when unusable."""
    email = item.get("emailAddress") if isinstance(item, Mapping) else None
    if not isinstance(email, Mapping):
        defects.append(f"{label}: unreadable recipient {short_repr(item)}")
        return None
    raw_address = email.get("address")
    address = normalize_address(raw_address) if isinstance(raw_address, str) else None
    if address is None:
        problem = f"{label}: dropped unparseable address {short_repr(raw_address)}"
        if problem not in defects:
            defects.append(problem)
        return None
    name = email.get("name")
    name = name.strip() if isinstance(name, str) and name.strip() else None
    if name is not None and name.lower() == address:
        # Graph shows the address as the name of a mailbox written without one; the header
        # has no display name there, and neither does the row.
        name = None
    return name, address


def _recipients(payload: Mapping[str, Any], key: str, label: str, defects: list[str]) -> list[str]:
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        defects.append(f"{label}: not a list")
        return []
    addresses: list[str] = []
    for item in value:
        parsed = _recipient(item, label, defects)
        if parsed is not None and parsed[1] not in addresses:
            addresses.append(parsed[1])
    return addresses


def _labels(payload: Mapping[str, Any], defects: list[str]) -> list[str]:
    folder = payload.get(FOLDER_KEY)
    labels = [FOLDER_LABELS.get(folder, "INBOX") if isinstance(folder, str) else "INBOX"]
    if payload.get("isDraft") is True and "DRAFT" not in labels:
        labels.append("DRAFT")
    categories = payload.get("categories") or []
    if not isinstance(categories, list):
        defects.append("categories: not a list")
        categories = []
    for category in categories:
        if isinstance(category, str) and category and category not in labels:
            labels.append(category)
    return labels


def parse_graph_message(raw: RawMessage) -> EmailRecord | QuarantinedRecord:
    """A Graph `message` resource (the connector's `$select`) as an EmailRecord.

    Quarantined when the connector got no usable JSON object, or the resource lacks an id or a
    readable `receivedDateTime`. Anything else odd is left out and named in `header_defects`.
    """
    message_id = raw.provider_message_id
    payload = raw.payload
    if (unusable := unusable_payload(message_id, raw)) is not None:
        return unusable

    def quarantine(reason: str) -> QuarantinedRecord:
        return QuarantinedRecord(message_id, reason, None, json_excerpt(payload))

    if payload.get("receivedDateTime") in (None, ""):
        return quarantine("missing_received_time")
    received_at = parse_iso_datetime(payload["receivedDateTime"])
    if received_at is None:
        return quarantine("invalid_received_time")

    defects: list[str] = []
    headers = payload.get("internetMessageHeaders")
    if isinstance(headers, list) and headers:
        # Received over the internet: the raw header block, read exactly as Gmail's is.
        fields = parse_headers(header_pairs(headers, defects))
    else:
        # Composed in the mailbox (or headers not selected): Graph's own fields.
        if headers is not None and not isinstance(headers, list):
            defects.append("internetMessageHeaders: not a list")
        fields = _fields_from_json(payload)
    thread_id = payload.get("conversationId")
    labels = _labels(payload, defects)
    return EmailRecord(
        provider_message_id=message_id,
        received_at=received_at,
        thread_id=thread_id if isinstance(thread_id, str) and thread_id else None,
        labels=labels,
        size_bytes=None,
        header_defects=list(dict.fromkeys([*defects, *fields.defects])),
        **fields.record_fields(),
    )


def _fields_from_json(payload: Mapping[str, Any]) -> HeaderFields:
    """The header fields from Graph's own properties, for items without internet headers."""
    out = HeaderFields()
    defects = out.defects
    if payload.get("sentDateTime") not in (None, ""):
        out.sent_at = parse_iso_datetime(payload["sentDateTime"])
        if out.sent_at is None:
            defects.append(f"sentDateTime: unparseable {short_repr(payload['sentDateTime'])}")

    raw_mid = payload.get("internetMessageId")
    if isinstance(raw_mid, str) and raw_mid.strip():
        out.internet_message_id, problem = parse_message_id("message-id", raw_mid)
        if problem:
            defects.append(problem)
    else:
        defects.append("message-id: missing")

    subject = payload.get("subject")
    if subject is not None and not isinstance(subject, str):
        defects.append(f"subject: not text {short_repr(subject)}")
        subject = None
    if subject is not None:
        # Graph decodes encoded words itself, so a CR/LF or NUL can arrive in plain JSON text.
        out.subject, replaced = one_line(subject)
        if replaced:
            defects.append(CONTROL_DEFECTS["subject"])

    for key in ("from", "sender"):
        if payload.get(key) is None:
            continue
        sender = _recipient(payload[key], key, defects)
        if sender is not None:
            out.from_name, out.from_address = sender
            break
    if out.from_name is not None:
        out.from_name, replaced = one_line(out.from_name)
        if replaced:
            defects.append(CONTROL_DEFECTS["from_name"])

    out.to_addresses = _recipients(payload, "toRecipients", "to", defects)
    out.cc_addresses = _recipients(payload, "ccRecipients", "cc", defects)
    out.bcc_addresses = _recipients(payload, "bccRecipients", "bcc", defects)
    return out
