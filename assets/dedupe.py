"""One real thing, one row: merging the copies that several connected mailboxes of a tenant saw.

A message is the same real message in every mailbox that holds it when its Internet-Message-ID
is the same and its copies agree on a content fingerprint (`email_fingerprint`); a meeting
occurrence is the same when its iCalUID and start are. Copies never merge across tenants: every
key below is scoped by the tenant the rows come from.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Row = Mapping[str, Any]

SENT_AT_TOLERANCE = timedelta(minutes=5)
"""How far two copies' Date headers may lie apart and still be one message. The Date header is
written once by the sender, so copies normally agree to the second; the slack covers a copy
whose provider had no Date header to show (Graph's sentDateTime of an item composed in the
mailbox is the submit time) and whole-second rounding, and is far below the hours or days that
separate a reused or forged Message-ID from the message it collides with."""

_SUBJECT_TAGS = re.compile(r"^(?:\s*\[[^\[\]]*\])+")
_SPACES = re.compile(r"\s+")


def email_key(row: Row) -> str:
    """Internet-Message-ID, or the mailbox copy's own id when the message has none."""
    return row.get("internet_message_id") or f"{row['connection_id']}/{row['provider_message_id']}"


def normalized_subject(subject: str | None) -> str:
    """The subject as every copy of one message shows it: case-folded, whitespace collapsed,
    and leading `[...]` tags removed (a list server or a mail gateway tags some copies)."""
    text = _SUBJECT_TAGS.sub("", subject or "")
    return _SPACES.sub(" ", text).strip().casefold()


def email_fingerprint(row: Row) -> tuple[str, str, datetime | None]:
    """What every mailbox's copy of one message agrees on: the sender's address, the
    normalised subject and the Date header.

    Left out on purpose, because copies of one message legitimately differ there: when and
    where each mailbox received it (received_at, labels, folder, thread), Bcc (only the
    sender's copy carries it) and the provider's own ids.
    """
    return (
        row.get("from_address") or "",
        normalized_subject(row.get("subject")),
        row.get("sent_at"),
    )


def same_message(a: Row, b: Row) -> bool:
    """True when two copies with one Message-ID agree on the fingerprint. A missing Date on
    either side is no evidence of another message, so only two known dates can disagree."""
    from_a, subject_a, sent_a = email_fingerprint(a)
    from_b, subject_b, sent_b = email_fingerprint(b)
    if (from_a, subject_a) != (from_b, subject_b):
        return False
    return sent_a is None or sent_b is None or abs(sent_a - sent_b) <= SENT_AT_TOLERANCE


def _conflict_key(message_id: str, representative: Row) -> str:
    """A stable key for a group that reuses another message's Message-ID: the id and a digest
    of its first copy's fingerprint, so re-runs find the same row."""
    sender, subject, sent = email_fingerprint(representative)
    text = "\x1f".join((sender, subject, sent.astimezone(UTC).isoformat() if sent else ""))
    return f"{message_id}#{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def group_email_copies(rows: Iterable[Row]) -> dict[str, tuple[list[Row], bool]]:
    """Copies grouped into real messages: `key -> (copies, message_id_conflict)`.

    Copies of one Message-ID are taken earliest first; each joins the first group whose
    earliest copy it matches (`same_message`), else starts a new group. The group holding the
    earliest copy keeps the plain key (the Message-ID), the others get `_conflict_key`, and
    every group of a Message-ID that split is flagged.
    """
    by_id = group_by(rows, email_key)
    out: dict[str, tuple[list[Row], bool]] = {}
    for key, copies in by_id.items():
        ordered = sorted(
            copies, key=lambda c: (c["received_at"], c["connection_id"], c["provider_message_id"])
        )
        groups: list[list[Row]] = []
        for copy in ordered:
            home = next((g for g in groups if same_message(g[0], copy)), None)
            if home is None:
                groups.append([copy])
            else:
                home.append(copy)
        conflict = len(groups) > 1
        out[key] = (groups[0], conflict)
        for group in groups[1:]:
            out[_conflict_key(key, group[0])] = (group, True)
    return out


def meeting_key(row: Row) -> str:
    """iCalUID and UTC start, or the calendar copy's own id when the event has no iCalUID."""
    if row.get("ical_uid"):
        return f"{row['ical_uid']}|{row['start_at'].astimezone(UTC).isoformat()}"
    return f"{row['connection_id']}/{row['provider_event_id']}"


def group_by(rows: Iterable[Row], key) -> dict[str, list[Row]]:
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return groups


def _union(copies: list[Row], column: str) -> list[str]:
    seen: dict[str, None] = {}
    for copy in copies:
        for value in copy[column] or []:
            seen.setdefault(value, None)
    return list(seen)


def _seen_in(copies: list[Row], owners: Mapping[str, str]) -> tuple[list[str], list[str]]:
    connections = sorted({c["connection_id"] for c in copies})
    return connections, sorted({owners.get(c, c) for c in connections})


def merge_email_copies(
    tenant_id: str,
    key: str,
    copies: list[Row],
    owners: Mapping[str, str],
    now: datetime,
    conflict: bool = False,
) -> dict[str, Any]:
    """The emails row of one real message from its mailbox copies (one group of
    `group_email_copies`; `conflict`: its Message-ID also names another message).

    Headers come from the earliest received copy (they are the same message); Bcc is the union,
    since only the sender's copy carries it. `partition_day` is the earliest copy's day, so the
    row lands on one day even when copies straddle midnight.
    """
    first = min(copies, key=lambda c: (c["received_at"], c["connection_id"]))
    connections, mailboxes = _seen_in(copies, owners)
    return {
        "tenant_id": tenant_id,
        "email_key": key,
        "partition_day": first["partition_day"],
        "internet_message_id": first.get("internet_message_id"),
        "thread_id": first.get("thread_id"),
        "subject": first.get("subject"),
        "from_address": first.get("from_address"),
        "from_name": first.get("from_name"),
        "to_addresses": list(first["to_addresses"] or []),
        "cc_addresses": list(first["cc_addresses"] or []),
        "bcc_addresses": _union(copies, "bcc_addresses"),
        "sent_at": first.get("sent_at"),
        "received_at": first["received_at"],
        "seen_in_connections": connections,
        "seen_in_mailboxes": mailboxes,
        "copies": len(copies),
        "message_id_conflict": conflict,
        "updated_at": now,
    }


def merge_emails(
    tenant_id: str, copies: Iterable[Row], owners: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """The emails rows of a set of mailbox copies: one per real message."""
    return [
        merge_email_copies(tenant_id, key, group, owners, now, conflict)
        for key, (group, conflict) in group_email_copies(copies).items()
    ]


def merge_meetings(
    tenant_id: str, copies: Iterable[Row], owners: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """The meetings rows of a set of calendar copies: one per real occurrence."""
    return [
        merge_meeting_copies(tenant_id, key, group, owners, now)
        for key, group in group_by(copies, meeting_key).items()
    ]


def merge_meeting_copies(
    tenant_id: str, key: str, copies: list[Row], owners: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The meetings row of one real occurrence from its calendar copies.

    The organiser's copy is the authority on attendees and responses; without it, the most
    recently updated copy is. A cancellation on the authoritative copy cancels the meeting.
    """

    def authority(c: Row) -> tuple:
        updated = c.get("updated_at") or datetime.min.replace(tzinfo=UTC)
        return (bool(c.get("organized_by_owner")), updated, c["connection_id"])

    best = max(copies, key=authority)
    connections, calendars = _seen_in(copies, owners)
    return {
        "tenant_id": tenant_id,
        "meeting_key": key,
        "partition_day": best["partition_day"],
        "ical_uid": best.get("ical_uid"),
        "start_at": best["start_at"],
        "end_at": best["end_at"],
        "all_day": bool(best["all_day"]),
        "subject": best.get("subject"),
        "status": best["status"],
        "organizer_email": best.get("organizer_email"),
        "attendees": list(best["attendees"] or []),
        "series_id": best.get("series_id"),
        "seen_in_connections": connections,
        "seen_in_calendars": calendars,
        "copies": len(copies),
        "updated_at": now,
    }
