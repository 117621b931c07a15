"""The rows of `email_engagements` and `meeting_engagements`: one per (message or meeting,
account) the rules engage, built from `emails` / `meetings` rows and the tenant's
`EngagementContext`.

Pure (no Dagster, no SQL) and deterministic: the same rows and context give the same rows, and
nothing of the build (its time, its run) is written into them, so a rebuild that changes nothing
changes no row. Every decision is a call into vocabulary/engagement.py; this module only maps
columns onto the rules' inputs and the rules' answers onto columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from resources.registry.engagement_context import EngagementContext
from vocabulary.engagement import (
    Exclusion,
    Meeting,
    MeetingAttendee,
    Message,
    Verdict,
    account_contacts_among,
    email_direction,
    email_participants,
    email_verdicts,
    is_internal,
    meeting_exclusion,
    meeting_verdicts,
    message_exclusion,
    normalised,
)

Row = Mapping[str, Any]

CLOSEST_MISSES = (Exclusion.NO_CONTACT_ACCEPTED, Exclusion.BLOCKED_CONTACT)
"""When accounts said no for different reasons, the one reported for the item: the reason that
came closest to an engagement (a contact was there, but did not accept or is blocked)."""


@dataclass(frozen=True)
class BuiltEngagements:
    """The engagement rows of some messages or meetings, and why the others engaged nothing."""

    rows: list[dict[str, Any]]
    read: int
    """Messages or meetings the rows were built from."""
    not_engaged: Counter[str] = field(default_factory=Counter)
    """Exclusion value -> items that engaged no account, by the rule that kept them out."""

    @property
    def accounts(self) -> set[str]:
        """The accounts engaged at least once."""
        return {r["account_id"] for r in self.rows}


def local_calendar(moment: datetime, zone: ZoneInfo) -> tuple[date, date]:
    """(local day, Monday of its week) of an instant in the tenant's zone: analysts count a
    tenant's days and weeks the way its staff live them, not by UTC."""
    day = moment.astimezone(zone).date()
    return day, day - timedelta(days=day.weekday())


def _why_not(verdicts: Sequence[Verdict], rule_for_no_account: Exclusion | None) -> Exclusion:
    """The one reason an item that engaged no account is counted under."""
    reasons = {v.exclusion for v in verdicts if v.exclusion is not None}
    if not reasons:
        # No account had a contact there (or the CRM is empty): the item-wide rule, if one
        # said no, else no contact.
        return rule_for_no_account or Exclusion.NO_CONTACT
    for closest in CLOSEST_MISSES:
        if closest in reasons:
            return closest
    order = list(Exclusion)
    return min(reasons, key=order.index)


def candidate_accounts(addresses: Iterable[str], ctx: EngagementContext) -> set[str]:
    """The accounts with a contact among `addresses`: the only ones the rules could engage.
    Asking them about every other account of a large CRM, for every message, would only hear
    `no_contact_of_account` again and again."""
    return set().union(*(ctx.accounts_by_email.get(a, frozenset()) for a in addresses))


def _contact_ids(addresses: Iterable[str], ctx: EngagementContext) -> list[str]:
    return sorted(ctx.contact_ids_by_email[a] for a in addresses)


# ---- emails ----------------------------------------------------------------------------------


def as_message(email: Row) -> Message:
    """What the email rules read of an `emails` row. Labels are left empty: drafts, spam and
    trash never reach `emails`, so the folder rule has nothing to say here."""
    return Message(
        from_address=email.get("from_address"),
        to_addresses=tuple(email.get("to_addresses") or ()),
        cc_addresses=tuple(email.get("cc_addresses") or ()),
        bcc_addresses=tuple(email.get("bcc_addresses") or ()),
        received_at=email["received_at"],
    )


def build_email_engagements(emails: Iterable[Row], ctx: EngagementContext) -> BuiltEngagements:
    """One `email_engagements` row per (message, engaged account), and the reasons for the rest.

    A message counts for authorization when any mailbox that saw it let it through
    (`EngagementContext.authorized`). `sent_at` is the Date header, else the receipt time, and
    it decides the local day and week.
    """
    rows: list[dict[str, Any]] = []
    read = 0
    not_engaged: Counter[str] = Counter()
    zone = ctx.zone
    for email in emails:
        read += 1
        message = as_message(email)
        authorization = ctx.authorized(email.get("seen_in_connections") or ())
        participants = email_participants(message)
        verdicts = email_verdicts(
            message,
            ctx.people,
            authorization,
            ctx.accounts_by_email,
            candidate_accounts(participants, ctx),
        )
        engaged = [v for v in verdicts if v.engaged]
        if not engaged:
            rule = message_exclusion(message, ctx.people, authorization)
            not_engaged[_why_not(verdicts, rule).value] += 1
            continue
        sent_at = email.get("sent_at") or email["received_at"]
        local_day, local_week = local_calendar(sent_at, zone)
        internal = sorted(p for p in participants if is_internal(p, ctx.people))
        common = {
            "tenant_id": email["tenant_id"],
            "email_key": email["email_key"],
            "partition_day": email["partition_day"],
            "local_day": local_day,
            "local_week": local_week,
            "internet_message_id": email.get("internet_message_id"),
            "thread_id": email.get("thread_id"),
            "subject": email.get("subject"),
            "sent_at": sent_at,
            "direction": email_direction(email.get("from_address"), ctx.people).value,
            "from_address": email.get("from_address"),
            "internal_participants": internal,
            "seen_in_mailboxes": sorted(email.get("seen_in_mailboxes") or ()),
        }
        for verdict in engaged:
            rows.append(
                {
                    **common,
                    "account_id": verdict.account_id,
                    "contact_ids": _contact_ids(verdict.contacts, ctx),
                    "contact_emails": list(verdict.contacts),
                }
            )
    return BuiltEngagements(rows, read, not_engaged)


def email_engagement_rows(emails: Iterable[Row], ctx: EngagementContext) -> list[dict[str, Any]]:
    """The `email_engagements` rows of `emails` (see `build_email_engagements`)."""
    return build_email_engagements(emails, ctx).rows


# ---- meetings --------------------------------------------------------------------------------


def organised_by_owner(meeting: Row, ctx: EngagementContext) -> bool:
    """The organiser is a connected owner or one of their aliases (compared normalised)."""
    return bool(normalised([meeting.get("organizer_email")]) & ctx.people.owner_addresses)


def as_meeting(meeting: Row, ctx: EngagementContext) -> Meeting:
    """What the meeting rules read of a `meetings` row."""
    return Meeting(
        start_at=meeting["start_at"],
        status=meeting["status"],
        organized_by_owner=organised_by_owner(meeting, ctx),
        attendees=tuple(
            MeetingAttendee(a["email"], a.get("response") or "none")
            for a in meeting.get("attendees") or ()
            if a.get("email")
        ),
    )


def meeting_calendar(meeting: Row, zone: ZoneInfo) -> tuple[date, date]:
    """(local day, week) of a meeting. An all-day event is stored at the UTC midnight of its
    date, which in a zone west of UTC is the evening before: its date is its day everywhere."""
    if meeting["all_day"]:
        day = meeting["start_at"].astimezone(UTC).date()
        return day, day - timedelta(days=day.weekday())
    return local_calendar(meeting["start_at"], zone)


def _responding(meeting: Meeting, response: str) -> set[str]:
    return normalised(a.email for a in meeting.attendees if a.response == response)


def _account_contact_ids(addresses: set[str], account_id: str, ctx: EngagementContext) -> list[str]:
    """Ids of the account's counted contacts among `addresses` (the rules' own matching)."""
    found, _ = account_contacts_among(addresses, account_id, ctx.accounts_by_email, ctx.people)
    return _contact_ids(found, ctx)


def _internal_attendees(row: Row, meeting: Meeting, ctx: EngagementContext) -> list[str]:
    """The organiser and every internal invitee who did not decline: the staff who were there."""
    present = normalised(
        [
            row.get("organizer_email"),
            *(a.email for a in meeting.attendees if a.response != "declined"),
        ]
    )
    return sorted(a for a in present if is_internal(a, ctx.people))


def build_meeting_engagements(
    meetings: Iterable[Row], ctx: EngagementContext, now: datetime
) -> BuiltEngagements:
    """One `meeting_engagements` row per (meeting, engaged account), and the reasons for the rest.

    `now` decides which meetings have started; the contacts of the account are listed by their
    response (accepted, declined, tentative), each list sorted by contact id.
    """
    rows: list[dict[str, Any]] = []
    read = 0
    not_engaged: Counter[str] = Counter()
    zone = ctx.zone
    for row in meetings:
        read += 1
        meeting = as_meeting(row, ctx)
        invited = normalised(a.email for a in meeting.attendees)
        verdicts = meeting_verdicts(
            meeting, now, ctx.people, ctx.accounts_by_email, candidate_accounts(invited, ctx)
        )
        engaged = [v for v in verdicts if v.engaged]
        if not engaged:
            not_engaged[_why_not(verdicts, meeting_exclusion(meeting, now)).value] += 1
            continue
        local_day, local_week = meeting_calendar(row, zone)
        declined = _responding(meeting, "declined")
        tentative = _responding(meeting, "tentative")
        common = {
            "tenant_id": row["tenant_id"],
            "meeting_key": row["meeting_key"],
            "partition_day": row["partition_day"],
            "local_day": local_day,
            "local_week": local_week,
            "ical_uid": row.get("ical_uid"),
            "subject": row.get("subject"),
            "start_at": row["start_at"],
            "end_at": row["end_at"],
            "duration_minutes": int((row["end_at"] - row["start_at"]).total_seconds() // 60),
            "all_day": bool(row["all_day"]),
            "organizer_email": row.get("organizer_email"),
            "internal_attendees": _internal_attendees(row, meeting, ctx),
            "recurring": row.get("series_id") is not None,
            "seen_in_calendars": sorted(row.get("seen_in_calendars") or ()),
        }
        for verdict in engaged:
            account = verdict.account_id
            rows.append(
                {
                    **common,
                    "account_id": account,
                    "accepted_contact_ids": _contact_ids(verdict.contacts, ctx),
                    "declined_contact_ids": _account_contact_ids(declined, account, ctx),
                    "tentative_contact_ids": _account_contact_ids(tentative, account, ctx),
                }
            )
    return BuiltEngagements(rows, read, not_engaged)


def meeting_engagement_rows(
    meetings: Iterable[Row], ctx: EngagementContext, now: datetime
) -> list[dict[str, Any]]:
    """The `meeting_engagements` rows of `meetings` as of `now` (see
    `build_meeting_engagements`)."""
    return build_meeting_engagements(meetings, ctx, now).rows
