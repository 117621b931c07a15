"""From the rows `reading` gathered to an `Explanation`: pure, no I/O.

Every verdict comes from vocabulary/engagement.py (`email_verdicts`, `meeting_verdicts`) with the
tenant's `EngagementContext`, the same inputs the engagement assets use, so an explanation can
only disagree with the tables when the tables were built on older inputs; it then says which
partition to materialize.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from resources.explain.records import (
    AccountLine,
    Copy,
    CopyState,
    Explanation,
    Hint,
    Item,
    Kind,
    Note,
    QuarantineGroup,
)
from resources.registry.engagement_context import EngagementContext
from resources.registry.records import Connection
from vocabulary.engagement import (
    Meeting,
    MeetingAttendee,
    Message,
    Verdict,
    email_verdicts,
    meeting_verdicts,
)
from vocabulary.records import Removal
from vocabulary.status import ConnectionStatus

Row = Mapping[str, Any]

LABEL_OF_REMOVAL = {Removal.TRASHED: "TRASH", Removal.SPAM: "SPAM", Removal.DRAFT: "DRAFT"}
"""A tombstone's reason as the folder label the rules read (the copy's own labels are the ones
it had while synced)."""


def when(value: datetime) -> str:
    """A time as an admin reads it: UTC, to the minute."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def normalize_message_id(text: str) -> str:
    """The Message-ID as stored: one `<id>`, whether or not the admin typed the brackets."""
    return f"<{text.strip().strip('<>').strip()}>"


def _owner(ctx: EngagementContext, connection_id: str) -> tuple[str, str]:
    connection = ctx.connections.get(connection_id)
    if connection is None:
        # The raw rows outlive a connection removed from the registry.
        return connection_id, "unknown"
    return connection.owner_email, connection.provider


def raw_copy(ctx: EngagementContext, row: Row) -> Copy:
    owner, provider = _owner(ctx, row["connection_id"])
    removed = row.get("removed_at")
    return Copy(
        connection_id=row["connection_id"],
        owner_email=owner,
        provider=provider,
        state=CopyState.REMOVED if removed is not None else CopyState.SYNCED,
        partition_day=row["partition_day"],
        at=row["synced_at"],
        received_at=row.get("received_at"),
        start_at=row.get("start_at"),
        removed_at=removed,
        reason=row.get("removed_reason"),
    )


def quarantined_copy(ctx: EngagementContext, row: Row) -> Copy:
    owner, provider = _owner(ctx, row["connection_id"])
    return Copy(
        connection_id=row["connection_id"],
        owner_email=owner,
        provider=provider,
        state=CopyState.QUARANTINED,
        partition_day=row["partition_day"],
        at=row["quarantined_at"],
        received_at=row.get("received_at"),
        reason=row["reason"],
    )


def split_quarantine(rows: Iterable[Row], needle: str) -> tuple[list[Row], list[Row]]:
    """(rows whose excerpt shows `needle`, the others). The excerpt is the first 500
    characters of what the provider sent, so the id is there only when the provider put it
    early (Graph's JSON usually does, Gmail's raw payload does not): the others can be neither
    matched nor ruled out."""
    matched, unmatched = [], []
    for row in rows:
        (matched if needle in (row.get("excerpt") or "") else unmatched).append(row)
    return matched, unmatched


def quarantine_groups(ctx: EngagementContext, rows: Iterable[Row]) -> tuple[QuarantineGroup, ...]:
    grouped: dict[tuple[str, date], list[Row]] = {}
    for row in rows:
        grouped.setdefault((_owner(ctx, row["connection_id"])[0], row["partition_day"]), []).append(
            row
        )
    return tuple(
        QuarantineGroup(owner, day, len(group), tuple(sorted({r["reason"] for r in group})))
        for (owner, day), group in sorted(grouped.items())
    )


def account_lines(
    ctx: EngagementContext, verdicts: Sequence[Verdict], in_table: set[str]
) -> tuple[AccountLine, ...]:
    names = {a.account_id: a.name for a in ctx.crm.accounts}
    return tuple(
        AccountLine(
            v.account_id,
            names.get(v.account_id, v.account_id),
            v.exclusion,
            v.contacts,
            v.account_id in in_table,
        )
        for v in verdicts
    )


def _accounts_to_judge(ctx: EngagementContext, in_table: set[str]) -> list[str]:
    """The CRM's accounts, plus any the table still holds that the CRM no longer has (the rules
    then say why it should go)."""
    return sorted(set(ctx.account_ids) | in_table)


def _table_notes(item: Item, table: str, tenant_id: str) -> list[Note]:
    stale = [a.account_id for a in item.accounts if a.stale]
    if not stale:
        return []
    return [
        Note(
            Hint.ENGAGEMENTS_NOT_REBUILT,
            f"{table} disagrees with the rules for {', '.join(stale)} (it was built before the "
            f"CRM, the tenant's domains or the mail changed): materialize {table} for tenant "
            f"{tenant_id}, day {item.partition_day.isoformat()}",
        )
    ]


def _crm_notes(ctx: EngagementContext) -> list[Note]:
    if ctx.account_ids:
        return []
    return [
        Note(
            Hint.CRM_EMPTY,
            f"the tenant's CRM has no account, so nothing can be logged: load it with "
            f"`touchpoint crm load --tenant {ctx.tenant.tenant_id} ...`",
        )
    ]


# ---- email ---------------------------------------------------------------------------------


def _message_of_email_row(row: Row) -> Message:
    return Message(
        row.get("from_address"),
        tuple(row.get("to_addresses") or ()),
        tuple(row.get("cc_addresses") or ()),
        tuple(row.get("bcc_addresses") or ()),
        (),
        row["received_at"],
    )


def _message_of_copies(copies: Sequence[Row]) -> Message:
    """What the rules read of mailbox copies not merged into emails yet: the earliest copy's
    headers, the union of the Bcc each saw and of their folders (a tombstone's reason counting
    as its folder)."""
    first = min(copies, key=lambda c: (c["received_at"], c["connection_id"]))
    labels: set[str] = set()
    bcc: dict[str, None] = {}
    for copy in copies:
        labels.update(copy.get("labels") or ())
        if copy.get("removed_reason") in LABEL_OF_REMOVAL:
            labels.add(LABEL_OF_REMOVAL[copy["removed_reason"]])
        bcc.update(dict.fromkeys(copy.get("bcc_addresses") or ()))
    return Message(
        first.get("from_address"),
        tuple(first.get("to_addresses") or ()),
        tuple(first.get("cc_addresses") or ()),
        tuple(bcc),
        tuple(sorted(labels)),
        first["received_at"],
    )


def _email_item(
    ctx: EngagementContext,
    key: str,
    day: date,
    message: Message,
    connection_ids: Iterable[str],
    in_table: set[str],
    deduplicated: bool,
) -> Item:
    authorization = ctx.authorized(connection_ids)
    verdicts = email_verdicts(
        message,
        ctx.people,
        authorization,
        ctx.accounts_by_email,
        _accounts_to_judge(ctx, in_table),
    )
    return Item(
        key=key,
        partition_day=day,
        deduplicated=deduplicated,
        accounts=account_lines(ctx, verdicts, in_table),
        start_at=message.received_at,
        authorized_at=authorization.authorized_at,
    )


def _not_found_email_notes(ctx: EngagementContext, last_synced: Mapping[str, date]) -> list[Note]:
    connections = sorted(ctx.connections.values(), key=lambda c: c.owner_email)
    if not connections:
        return [
            Note(
                Hint.MAILBOX_NOT_CONNECTED,
                "the tenant has no connected mailbox: connect one with `touchpoint connections "
                "add`",
            )
        ]
    owners = ", ".join(c.owner_email for c in connections)
    notes = [
        Note(
            Hint.NOT_IN_SYNCED_FOLDER,
            "it is in no synced folder of a connected mailbox: drafts, spam/junk and "
            "trash/deleted items are never synced",
        ),
        Note(
            Hint.MAILBOX_NOT_CONNECTED,
            f"it reached no connected mailbox: only {owners} are connected, so mail between "
            "other people is never seen",
        ),
    ]
    synced = "; ".join(
        f"{c.owner_email} up to {last_synced[c.connection_id].isoformat()}"
        if c.connection_id in last_synced
        else f"{c.owner_email} not synced yet"
        for c in connections
    )
    notes.append(
        Note(
            Hint.NOT_YET_SYNCED,
            f"its UTC day may not be synced yet (latest day synced: {synced}); a later day "
            "is synced by the next scheduled run, an older one by `touchpoint backfill`",
        )
    )
    authorized = "; ".join(f"{c.owner_email} {when(c.authorized_at)}" for c in connections)
    notes.append(
        Note(
            Hint.BEFORE_AUTHORIZATION,
            f"it may predate the connection (connected: {authorized}): mail from before is "
            "synced only when an operator back-syncs its day",
        )
    )
    notes += inactive_connection_notes(connections, "mail")
    return notes


def _quarantine_note(groups: Sequence[QuarantineGroup]) -> list[Note]:
    if not groups:
        return []
    total = sum(g.count for g in groups)
    return [
        Note(
            Hint.MAYBE_QUARANTINED,
            f"{total} quarantined item(s) of the tenant show no id in their excerpt, so they "
            "can be neither matched to it nor ruled out (listed below)",
        )
    ]


def decide_email(
    ctx: EngagementContext,
    message_id: str,
    raw_rows: Sequence[Row],
    quarantined: Sequence[Row],
    email_rows: Sequence[Row],
    engaged: Mapping[str, set[str]],
    last_synced: Mapping[str, date],
) -> Explanation:
    """The explanation of one Message-ID from its raw copies, the quarantined items of the
    tenant (those whose excerpt shows the id are its copies), its emails rows and the
    email_engagements rows of their keys."""
    tenant_id = ctx.tenant.tenant_id
    matched_q, unmatched_q = split_quarantine(quarantined, message_id)
    copies = sorted(
        [raw_copy(ctx, r) for r in raw_rows] + [quarantined_copy(ctx, r) for r in matched_q],
        key=lambda c: (c.received_at or c.at, c.owner_email),
    )
    live = [r for r in raw_rows if r.get("removed_at") is None]
    items: list[Item] = []
    notes: list[Note] = []
    if email_rows:
        for row in sorted(email_rows, key=lambda r: r["email_key"]):
            items.append(
                _email_item(
                    ctx,
                    row["email_key"],
                    row["partition_day"],
                    _message_of_email_row(row),
                    row["seen_in_connections"],
                    engaged.get(row["email_key"], set()),
                    True,
                )
            )
        if not live:
            notes.append(
                Note(
                    Hint.DEDUPLICATED_NOT_REBUILT,
                    f"emails still holds it though no mailbox does any more: materialize emails "
                    f"for tenant {tenant_id}, day {email_rows[0]['partition_day'].isoformat()}",
                )
            )
    elif raw_rows and (live or any(r.get("removed_reason") in LABEL_OF_REMOVAL for r in raw_rows)):
        # Not merged into emails (yet), or every copy left for trash/spam: the copies decide.
        basis = live or raw_rows
        day = min(r["partition_day"] for r in basis)
        items.append(
            _email_item(
                ctx,
                message_id,
                day,
                _message_of_copies(basis),
                {r["connection_id"] for r in basis},
                engaged.get(message_id, set()),
                False,
            )
        )
        if live:
            notes.append(
                Note(
                    Hint.DEDUPLICATED_NOT_REBUILT,
                    f"emails has no row for it yet: materialize emails for tenant {tenant_id}, "
                    f"day {day.isoformat()}",
                )
            )
    elif raw_rows:
        reasons = ", ".join(sorted({r.get("removed_reason") or "removed" for r in raw_rows}))
        notes.append(
            Note(
                Hint.NO_LIVE_COPY,
                f"no connected mailbox holds it in a synced folder any more ({reasons}), so "
                "nothing can log it",
            )
        )
    elif matched_q:
        notes.append(
            Note(
                Hint.NO_LIVE_COPY,
                "every copy is quarantined (the provider sent something unreadable), so no rule "
                "could read it; the quarantine reason is above",
            )
        )
    groups: tuple[QuarantineGroup, ...] = ()
    if not live:
        groups = quarantine_groups(ctx, unmatched_q)
        if not copies:
            notes.extend(_not_found_email_notes(ctx, last_synced))
        notes.extend(_quarantine_note(groups))
    for item in items:
        notes.extend(_table_notes(item, "email_engagements", tenant_id))
    if items:
        notes.extend(_crm_notes(ctx))
    return Explanation(
        Kind.EMAIL, tenant_id, message_id, tuple(copies), tuple(items), tuple(notes), groups
    )


# ---- meetings ------------------------------------------------------------------------------


def _attendees(row: Row) -> tuple[MeetingAttendee, ...]:
    return tuple(
        MeetingAttendee(a.get("email") or "", a.get("response") or "none")
        for a in row.get("attendees") or ()
        if isinstance(a, Mapping)
    )


def _meeting_item(
    ctx: EngagementContext,
    key: str | None,
    row: Row,
    copies: Sequence[Row],
    in_table: set[str],
    now: datetime,
) -> Item:
    # The provider says on each calendar copy whether that calendar's owner organised it; one
    # copy saying so is the organiser's own calendar. Without copies, the organiser's address
    # is all there is to go on.
    organizer = (row.get("organizer_email") or "").strip().lower()
    by_owner = (
        any(c.get("organized_by_owner") for c in copies)
        if copies
        else organizer in ctx.people.owner_addresses
    )
    meeting = Meeting(row["start_at"], row["status"], by_owner, _attendees(row))
    verdicts = meeting_verdicts(
        meeting, now, ctx.people, ctx.accounts_by_email, _accounts_to_judge(ctx, in_table)
    )
    return Item(
        key=key,
        partition_day=row["partition_day"],
        deduplicated=key is not None,
        accounts=account_lines(ctx, verdicts, in_table),
        start_at=row["start_at"],
        status=row["status"],
        organizer_email=row.get("organizer_email"),
        copies=tuple(sorted((raw_copy(ctx, c) for c in copies), key=lambda c: c.owner_email)),
    )


def _not_found_meeting_notes(ctx: EngagementContext, last_synced: Mapping[str, date]) -> list[Note]:
    connections = sorted(ctx.connections.values(), key=lambda c: c.owner_email)
    if not connections:
        return [Note(Hint.MAILBOX_NOT_CONNECTED, "the tenant has no connected calendar")]
    owners = ", ".join(c.owner_email for c in connections)
    synced = "; ".join(
        f"{c.owner_email} up to {last_synced[c.connection_id].isoformat()}"
        if c.connection_id in last_synced
        else f"{c.owner_email} not synced yet"
        for c in connections
    )
    notes = [
        Note(
            Hint.MAILBOX_NOT_CONNECTED,
            f"it is on no connected calendar: only {owners} are connected",
        ),
        Note(
            Hint.NOT_YET_SYNCED,
            f"its UTC day may not be synced yet (latest day synced: {synced})",
        ),
    ]
    notes += inactive_connection_notes(connections, "calendar")
    return notes


def decide_meeting(
    ctx: EngagementContext,
    ical_uid: str,
    raw_rows: Sequence[Row],
    quarantined: Sequence[Row],
    meeting_rows: Sequence[Row],
    engaged: Mapping[str, set[str]],
    last_synced: Mapping[str, date],
    now: datetime,
) -> Explanation:
    """The explanation of one iCalUID: one item per occurrence held (meeting_key), judged by
    the meeting rules as of `now`, with the calendars that hold it."""
    tenant_id = ctx.tenant.tenant_id
    matched_q, unmatched_q = split_quarantine(quarantined, ical_uid)
    copies = sorted(
        [raw_copy(ctx, r) for r in raw_rows] + [quarantined_copy(ctx, r) for r in matched_q],
        key=lambda c: (c.start_at or c.at, c.owner_email),
    )
    items: list[Item] = []
    notes: list[Note] = []
    held_starts = set()
    for row in sorted(meeting_rows, key=lambda r: (r["start_at"], r["meeting_key"])):
        held_starts.add(row["start_at"])
        same = [r for r in raw_rows if r["start_at"] == row["start_at"]]
        key = row["meeting_key"]
        items.append(_meeting_item(ctx, key, row, same, engaged.get(key, set()), now))
    # Occurrences on a calendar that meetings does not hold yet: judged from their copies.
    pending: dict[datetime, list[Row]] = {}
    for row in raw_rows:
        if row["start_at"] not in held_starts:
            pending.setdefault(row["start_at"], []).append(row)
    for item in items:
        if not item.copies:
            # The calendars dropped it (a deleted event leaves no copy) after meetings was built.
            notes.append(
                Note(
                    Hint.DEDUPLICATED_NOT_REBUILT,
                    f"meetings still holds the occurrence of {when(item.start_at)} though no "
                    f"calendar does any more: materialize meetings for tenant {tenant_id}, day "
                    f"{item.partition_day.isoformat()}",
                )
            )
    for start, group in sorted(pending.items()):
        first = min(group, key=lambda r: r["connection_id"])
        item = _meeting_item(ctx, None, first, group, set(), now)
        items.append(item)
        notes.append(
            Note(
                Hint.DEDUPLICATED_NOT_REBUILT,
                f"the occurrence of {when(start)} is not in meetings yet: materialize meetings "
                f"for tenant {tenant_id}, day {item.partition_day.isoformat()}",
            )
        )
    groups: tuple[QuarantineGroup, ...] = ()
    if not raw_rows:
        groups = quarantine_groups(ctx, unmatched_q)
        if matched_q:
            notes.append(
                Note(
                    Hint.NO_LIVE_COPY,
                    "every copy is quarantined (the provider sent something unreadable), so no "
                    "rule could read it; the quarantine reason is above",
                )
            )
        elif not meeting_rows:
            notes.extend(_not_found_meeting_notes(ctx, last_synced))
        notes.extend(_quarantine_note(groups))
    for item in items:
        if item.deduplicated:
            notes.extend(_table_notes(item, "meeting_engagements", tenant_id))
    if items:
        notes.extend(_crm_notes(ctx))
    return Explanation(
        Kind.MEETING, tenant_id, ical_uid, tuple(copies), tuple(items), tuple(notes), groups
    )


def inactive_connection_notes(connections: Iterable[Connection], what: str) -> list[Note]:
    """One note per connection that is not active: its `what` (mail, calendar) is not being
    synced, which may be why an item is missing."""
    return [
        Note(
            Hint.CONNECTION_NOT_ACTIVE,
            f"{c.owner_email}'s connection is {c.status.value} since "
            f"{when(c.status_changed_at)}: its {what} is not being synced",
        )
        for c in connections
        if c.status is not ConnectionStatus.ACTIVE
    ]
