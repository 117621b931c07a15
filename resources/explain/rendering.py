"""An `Explanation` in plain words for an admin, or as JSON with stable keys (exclusions by
their `Exclusion` value). Both say the same facts; neither ever holds a token (an explanation
reads no token column)."""

from __future__ import annotations

from typing import Any

from resources.explain.deciding import when
from resources.explain.records import (
    AccountLine,
    Copy,
    CopyState,
    Explanation,
    Item,
    Kind,
)
from vocabulary.engagement import Exclusion
from vocabulary.records import Removal

EXCLUSION_TEXT = {
    Exclusion.NOT_SYNCABLE: "it is a draft, spam or in the trash",
    Exclusion.BEFORE_AUTHORIZATION: (
        "it was received before its mailbox was connected (from {authorized}) and that day was "
        "not back-synced"
    ),
    Exclusion.INTERNAL_ONLY: "every participant is internal (colleagues among themselves)",
    Exclusion.BLOCKED_ONLY: "every outside participant is on a blocked domain",
    Exclusion.NO_CONTACT: "no participant is a contact of this account",
    Exclusion.BLOCKED_CONTACT: "this account's contact is on a blocked domain",
    Exclusion.CANCELLED: "the meeting was cancelled",
    Exclusion.NOT_ORGANISED_BY_OWNER: (
        "the meeting was not organised by a connected owner (organiser: {organizer})"
    ),
    Exclusion.NOT_STARTED: "the meeting has not started yet",
    Exclusion.NO_CONTACT_ACCEPTED: "this account's contacts were invited but none accepted",
}
"""Each rule's "no" in plain words (docs/analytics.md gives the why)."""

REMOVAL_TEXT = {
    Removal.TRASHED: "moved to trash",
    Removal.SPAM: "marked as spam",
    Removal.DRAFT: "turned into a draft",
    Removal.DELETED: "deleted",
    Removal.MOVED_OUT: "moved out of the synced folders",
    Removal.NOT_LISTED: "no longer listed by the provider",
}


def exclusion_text(exclusion: Exclusion, item: Item, kind: Kind) -> str:
    text = EXCLUSION_TEXT[exclusion].format(
        authorized=when(item.authorized_at) if item.authorized_at else "?",
        organizer=item.organizer_email or "unknown",
    )
    if kind is Kind.MEETING and exclusion is Exclusion.NO_CONTACT:
        return "no attendee is a contact of this account"
    return text


def copy_text(copy: Copy, kind: Kind) -> str:
    who = f"{copy.owner_email} ({copy.provider})"
    if copy.state is CopyState.QUARANTINED:
        return f"{who} quarantined {when(copy.at)}, unreadable: {copy.reason}"
    seen = (
        f"received {when(copy.received_at)}, synced"
        if kind is Kind.EMAIL and copy.received_at
        else f"synced {when(copy.at)}"
    )
    if copy.state is CopyState.REMOVED and copy.removed_at is not None:
        removal = REMOVAL_TEXT.get(copy.reason or "", f"removed ({copy.reason})")
        return f"{who} {seen}, then {removal} {when(copy.removed_at)}"
    return f"{who} {seen}"


def account_text(line: AccountLine, item: Item, kind: Kind, table: str) -> str:
    if line.exclusion is None:
        contacts = f"(contacts: {', '.join(line.contacts)})"
        if line.in_table:
            return f"logged {contacts}"
        return f"not logged yet: the rules log it {contacts} but {table} has no row"
    reason = exclusion_text(line.exclusion, item, kind)
    if line.in_table:
        return f"logged, but the rules now say no: {reason}"
    return f"not logged: {reason}"


def _table(kind: Kind) -> str:
    return "email_engagements" if kind is Kind.EMAIL else "meeting_engagements"


def _accounts_block(item: Item, kind: Kind, indent: str) -> list[str]:
    if not item.accounts:
        return [f"{indent}Accounts: none"]
    width = max(len(a.account_id) for a in item.accounts)
    lines = [f"{indent}Accounts:"]
    for a in item.accounts:
        lines.append(
            f"{indent}  {a.account_id.ljust(width)} {account_text(a, item, kind, _table(kind))}"
        )
    return lines


def render_text(explanation: Explanation) -> str:
    kind = explanation.kind
    noun = "Message" if kind is Kind.EMAIL else "Meeting"
    lines = [f"{noun} {explanation.item_id} in tenant {explanation.tenant_id}"]
    if kind is Kind.EMAIL:
        seen = "; ".join(copy_text(c, kind) for c in explanation.copies)
        lines.append(f"  Seen by: {seen or 'no connected mailbox'}")
        for item in explanation.items:
            indent = "  "
            if len(explanation.items) > 1:
                # One Message-ID reused by different messages: each is judged on its own.
                lines.append(f"  As message {item.key} (day {item.partition_day.isoformat()}):")
                indent = "    "
            lines.extend(_accounts_block(item, kind, indent))
    else:
        if not explanation.copies:
            lines.append("  Seen by: no connected calendar")
        quarantined = [c for c in explanation.copies if c.state is CopyState.QUARANTINED]
        if quarantined:
            lines.append(f"  Quarantined: {'; '.join(copy_text(c, kind) for c in quarantined)}")
        for item in explanation.items:
            key = item.key or "not in meetings yet"
            lines.append(
                f"  Occurrence {when(item.start_at) if item.start_at else '?'} ({key}), "
                f"{item.status}, organised by {item.organizer_email or 'unknown'}"
            )
            calendars = "; ".join(copy_text(c, kind) for c in item.copies)
            lines.append(f"    Calendars: {calendars or 'none'}")
            lines.extend(_accounts_block(item, kind, "    "))
    if explanation.notes:
        lines.append("  Notes:" if explanation.found else "  Possible causes:")
        lines.extend(f"    - {n.text}" for n in explanation.notes)
    for group in explanation.unmatched_quarantine:
        lines.append(
            f"    quarantined, id not shown: {group.owner_email} {group.partition_day.isoformat()}"
            f": {group.count} ({', '.join(group.reasons)})"
        )
    return "\n".join(lines)


def _iso(value: Any) -> Any:
    return value.isoformat() if value is not None else None


def _copy_json(copy: Copy) -> dict[str, Any]:
    return {
        "connection_id": copy.connection_id,
        "owner_email": copy.owner_email,
        "provider": copy.provider,
        "state": copy.state.value,
        "partition_day": _iso(copy.partition_day),
        "received_at": _iso(copy.received_at),
        "start_at": _iso(copy.start_at),
        "synced_at": _iso(copy.at) if copy.state is not CopyState.QUARANTINED else None,
        "quarantined_at": _iso(copy.at) if copy.state is CopyState.QUARANTINED else None,
        "removed_at": _iso(copy.removed_at),
        "reason": copy.reason,
    }


def _account_json(line: AccountLine) -> dict[str, Any]:
    return {
        "account_id": line.account_id,
        "name": line.name,
        "engaged_by_rules": line.engaged,
        "exclusion": line.exclusion.value if line.exclusion else None,
        "contacts": list(line.contacts),
        "logged": line.in_table,
        "table_disagrees": line.stale,
    }


def _item_json(item: Item, kind: Kind) -> dict[str, Any]:
    common = {
        "partition_day": _iso(item.partition_day),
        "deduplicated": item.deduplicated,
        "accounts": [_account_json(a) for a in item.accounts],
    }
    if kind is Kind.EMAIL:
        return {
            "email_key": item.key,
            "received_at": _iso(item.start_at),
            "authorized_from": _iso(item.authorized_at),
            **common,
        }
    return {
        "meeting_key": item.key,
        "start_at": _iso(item.start_at),
        "status": item.status,
        "organizer_email": item.organizer_email,
        "calendars": [_copy_json(c) for c in item.copies],
        **common,
    }


def render_json(explanation: Explanation) -> dict[str, Any]:
    kind = explanation.kind
    return {
        "kind": kind.value,
        "tenant_id": explanation.tenant_id,
        "message_id" if kind is Kind.EMAIL else "ical_uid": explanation.item_id,
        "found": explanation.found,
        "copies": [_copy_json(c) for c in explanation.copies],
        "messages" if kind is Kind.EMAIL else "occurrences": [
            _item_json(i, kind) for i in explanation.items
        ],
        "notes": [{"code": n.hint.value, "text": n.text} for n in explanation.notes],
        "unmatched_quarantine": [
            {
                "owner_email": g.owner_email,
                "partition_day": g.partition_day.isoformat(),
                "count": g.count,
                "reasons": list(g.reasons),
            }
            for g in explanation.unmatched_quarantine
        ],
    }
