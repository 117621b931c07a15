"""One real thing, one row: merging the copies that several connected mailboxes of a tenant saw.

A message is the same real message in every mailbox that holds it when its Internet-Message-ID
is the same; a meeting occurrence is the same when its iCalUID and start are. Copies never merge
across tenants: every key below is scoped by the tenant the rows come from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]


def email_key(row: Row) -> str:
    """Internet-Message-ID, or the mailbox copy's own id when the message has none."""
    return row.get("internet_message_id") or f"{row['connection_id']}/{row['provider_message_id']}"


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
    tenant_id: str, key: str, copies: list[Row], owners: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    """The emails row of one real message from its mailbox copies.

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
        "updated_at": now,
    }


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
        "seen_in_connections": connections,
        "seen_in_calendars": calendars,
        "copies": len(copies),
        "updated_at": now,
    }
