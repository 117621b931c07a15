"""What a correct sync must find, as the truth rows `/_sandbox/truth` and
`/_sandbox/truth/events` serve: one row per message, one per event occurrence, named with the ids
the mailbox's provider uses.

Pure functions of the world model; `SandboxState.truth` and `truth_events` pick the window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.workload.calendar_ids import provider_event_id
from sandbox.workload.calendar_model import Occurrence
from sandbox.workload.model import Mailbox, SandboxMessage

SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR = datetime(2200, 1, 1, tzinfo=UTC)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def message_row(msg: SandboxMessage) -> dict[str, Any]:
    return {
        "mailbox": msg.mailbox,
        "id": msg.id,
        "threadId": msg.thread_id,
        "internet_message_id": msg.internet_message_id,
        "labels": list(msg.label_ids),
        "internal_date": datetime.fromtimestamp(msg.internal_date_ms / 1000, tz=UTC).isoformat(),
        "internal_date_ms": msg.internal_date_ms,
        "subject": msg.subject,
        "from": msg.from_address,
        "to": list(msg.to_addresses),
        "cc": list(msg.cc_addresses),
        "kind": msg.kind,
    }


def listed_as(box: Mailbox, occ: Occurrence) -> str:
    """How the mailbox's provider lists an occurrence, as each documents it:

    - "full": every property (Graph also lists an attendee's copy of a meeting the organiser
      cancelled, with `isCancelled: true`);
    - "minimal": Google's cancelled exception of a live series (showDeleted): only `id`,
      `status`, `recurringEventId` and `originalStartTime`, so it is placed by its original start;
    - "deleted": Google's deleted event or series: only `id` and `status`, no time at all;
    - "hidden": Graph leaves a deleted occurrence out of calendarView (it is in the master's
      `cancelledOccurrences`), and the organiser's own cancelled meeting is gone.
    """
    event = occ.event
    if occ.status != "cancelled":
        return "full"
    if box.provider == "microsoft":
        if event.status != "cancelled" or event.organizer_email == box.address:
            return "hidden"
        return "full"
    return "deleted" if event.status == "cancelled" else "minimal"


def shown_start(box: Mailbox, occ: Occurrence) -> datetime:
    """Where the provider's listing places an occurrence: Google's minimal form only at its
    original start."""
    original = occ.original_start
    if listed_as(box, occ) != "minimal" or original is None:
        return occ.start
    if isinstance(original, datetime):
        return original.astimezone(UTC)
    return datetime(original.year, original.month, original.day, tzinfo=UTC)


def event_row(box: Mailbox, occ: Occurrence) -> dict[str, Any]:
    event = occ.event
    organizer = event.organizer_email
    start, end = occ.start, occ.end
    if listed_as(box, occ) == "minimal":
        # Google gives no end: a timed occurrence keeps no duration, an all-day one its day.
        start = shown_start(box, occ)
        end = start + (timedelta(days=1) if event.all_day else timedelta(0))
    return {
        "mailbox": box.address,
        "event_id": provider_event_id(box.provider, box.user_id, occ),
        "listed_as": listed_as(box, occ),
        "ical_uid": event.uid,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "all_day": event.all_day,
        "start_time_zone": event.time_zone,
        "status": occ.status,
        "subject": occ.subject,
        "organizer": organizer,
        "organized_by_owner": organizer == box.address,
        "attendees": [
            {"email": a.email, "response": a.response}
            for a in event.attendees
            if a.email != organizer
        ],
        "recurring": event.recurring,
        "original_start": None if occ.original_start is None else occ.original_start.isoformat(),
        "is_exception": occ.is_exception,
        "kind": event.kind,
    }
