"""Normalised meeting records: what event parsing produces and raw_meetings stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
