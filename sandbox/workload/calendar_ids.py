"""The ids each provider gives an event and its occurrences, derived from the master's UID.

Google: one event id per UID on every calendar (`<id>@google.com` UIDs keep their own id),
instances `<id>_20261120T150000Z` (timed, original start in UTC) or `<id>_20261120` (all-day).
Graph: ids are per mailbox; each occurrence of a series has its own id.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sandbox.workload import msids
from sandbox.workload.calendar_model import Occurrence

_BASE32HEX = "0123456789abcdefghijklmnopqrstuv"
GOOGLE_UID_SUFFIX = "@google.com"


def google_event_id(*parts: object) -> str:
    """Google's event id alphabet: base32hex, lower case, 26 characters."""
    value = int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:17], "big")
    out = []
    for _ in range(26):
        out.append(_BASE32HEX[value & 31])
        value >>= 5
    return "".join(out)


def google_base_id(uid: str) -> str:
    if uid.endswith(GOOGLE_UID_SUFFIX):
        return uid[: -len(GOOGLE_UID_SUFFIX)]
    return google_event_id("uid", uid)


def google_occurrence_id(occurrence: Occurrence) -> str:
    base = google_base_id(occurrence.event.uid)
    original = occurrence.original_start
    if original is None:
        return base
    if isinstance(original, datetime):
        return f"{base}_{original.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{base}_{original:%Y%m%d}"


def graph_master_id(user_id: str, uid: str) -> str:
    return msids.event_id(user_id, uid)


def graph_occurrence_id(user_id: str, occurrence: Occurrence) -> str:
    if occurrence.original_key is None:
        return graph_master_id(user_id, occurrence.event.uid)
    return msids.event_id(user_id, occurrence.event.uid, occurrence.original_key)


def provider_event_id(provider: str, user_id: str | None, occurrence: Occurrence) -> str:
    """The id the calendar's provider lists this occurrence under."""
    if provider == "microsoft":
        return graph_occurrence_id(user_id or "", occurrence)
    return google_occurrence_id(occurrence)


def provider_master_id(provider: str, user_id: str | None, uid: str) -> str:
    """The id of the series master, or of the event itself when it does not recur."""
    if provider == "microsoft":
        return graph_master_id(user_id or "", uid)
    return google_base_id(uid)
