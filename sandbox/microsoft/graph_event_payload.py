"""Microsoft Graph `event` resources (calendarView items) built from the sandbox's occurrences.

Events are rendered in the time zone the client asked for with `Prefer: outlook.timezone`
(IANA or Windows names); the event's own zone is reported by its Windows name, as Outlook does.
"""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.microsoft.graph_payload import NEVER, graph_etag, graph_instant
from sandbox.workload import msids
from sandbox.workload.calendar_ids import graph_master_id, graph_occurrence_id
from sandbox.workload.calendar_model import Occurrence
from sandbox.workload.model import Mailbox

EVENT_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "transactionId",
    "originalStartTimeZone", "originalEndTimeZone", "iCalUId", "reminderMinutesBeforeStart",
    "isReminderOn", "hasAttachments", "subject", "bodyPreview", "importance", "sensitivity",
    "isAllDay", "isCancelled", "isOrganizer", "responseRequested", "seriesMasterId", "showAs",
    "type", "webLink", "onlineMeetingUrl", "isOnlineMeeting", "onlineMeetingProvider",
    "allowNewTimeProposals", "isDraft", "hideAttendees", "responseStatus", "body", "start", "end",
    "originalStart", "location", "locations", "recurrence", "attendees", "organizer",
    "onlineMeeting",
)  # fmt: skip
"""The v1.0 `event` properties (with `outlookItem`'s) calendarView returns and `$select` accepts;
any other name is a 400, as on Graph. Beta-only ones such as `uid` and `occurrenceId` are not
here: a v1.0 answer never carries them."""

WINDOWS_ZONES = {
    "UTC": "UTC",
    "America/New_York": "Eastern Standard Time",
    "America/Chicago": "Central Standard Time",
    "America/Los_Angeles": "Pacific Standard Time",
    "America/Sao_Paulo": "E. South America Standard Time",
    "Europe/Berlin": "W. Europe Standard Time",
    "Europe/Paris": "Romance Standard Time",
    "Europe/London": "GMT Standard Time",
    "Asia/Kolkata": "India Standard Time",
    "Asia/Tokyo": "Tokyo Standard Time",
    "Australia/Sydney": "AUS Eastern Standard Time",
}
"""IANA -> Windows names: Outlook reports an event's original zone by its Windows name."""

IANA_ZONES = {v: k for k, v in WINDOWS_ZONES.items()}

_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentativelyAccepted",
    "none": "none",
}


def zone_named(name: str | None) -> ZoneInfo | None:
    """An IANA or Windows zone name as ZoneInfo, or None if unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(IANA_ZONES.get(name, name))
    except Exception:  # zoneinfo raises several types for bad keys
        return None


def graph_local(moment: datetime | date) -> str:
    """`2026-11-20T15:00:00.0000000`: a dateTimeTimeZone's dateTime."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _when(
    occ: Occurrence, local: datetime | date, instant: datetime, zone: ZoneInfo, label: str
) -> dict[str, str]:
    """A dateTimeTimeZone in the asked zone; all-day events stay at midnight of their dates,
    labelled with the event's own zone."""
    if occ.event.all_day:
        return {"dateTime": graph_local(local), "timeZone": occ.event.time_zone}
    return {"dateTime": graph_local(instant.astimezone(zone)), "timeZone": label}


def event_resource(
    box: Mailbox, occ: Occurrence, zone: ZoneInfo, zone_label: str
) -> dict[str, Any]:
    """A calendarView item: one occurrence as Graph shows it on this mailbox's calendar."""
    event = occ.event
    user = box.user_id or box.address
    owner = box.address
    organizer = event.organizer_email
    kind = "singleInstance"
    if event.recurring:
        kind = "exception" if occ.is_exception else "occurrence"
    instance = None
    if event.recurring and occ.original_start is not None:
        original = occ.original_start
        instance = original.astimezone(UTC).date() if isinstance(original, datetime) else original
    mine = next((a for a in event.attendees if a.email == owner), None)
    if organizer == owner:
        own = "organizer"
    elif mine is None:
        own = "notResponded"
    else:
        own = _RESPONSES[mine.response] if mine.response != "none" else "notResponded"
    show_as = {"declined": "free", "tentativelyAccepted": "tentative"}.get(own, "busy")
    etag, change_key = graph_etag(event.uid, occ.original_key, event.sequence)
    windows_zone = WINDOWS_ZONES.get(event.time_zone, event.time_zone)
    teams = (event.location or "") == "Microsoft Teams Meeting"
    location = {
        "displayName": event.location or "",
        "locationType": "default",
        "uniqueIdType": "unknown",
        "address": {},
        "coordinates": {},
    }
    resource: dict[str, Any] = {
        "@odata.etag": etag,
        "id": graph_occurrence_id(user, occ),
        "createdDateTime": event.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "lastModifiedDateTime": event.updated.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z"),
        "changeKey": change_key,
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": windows_zone,
        "originalEndTimeZone": windows_zone,
        # v1.0 shows only the per-occurrence iCalUId (the series-wide `uid` is beta)
        "iCalUId": msids.graph_uid(event.uid, instance),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": not event.all_day,
        "hasAttachments": False,
        "subject": occ.subject,
        "bodyPreview": event.description[:255],
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": event.all_day,
        "isCancelled": occ.status == "cancelled",
        "isOrganizer": organizer == owner,
        "responseRequested": True,
        "seriesMasterId": graph_master_id(user, event.uid) if event.recurring else None,
        "showAs": "free" if occ.status == "cancelled" else show_as,
        "type": kind,
        "webLink": "https://outlook.office365.com/owa/?itemid="
        + graph_occurrence_id(user, occ).replace("=", "%3D")
        + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": teams,
        "onlineMeetingProvider": "teamsForBusiness" if teams else "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": own, "time": NEVER},
        "body": {
            "contentType": "html",
            "content": f"<html><body>{html.escape(event.description)}</body></html>",
        },
        "start": _when(occ, occ.start_local, occ.start, zone, zone_label),
        "end": _when(occ, occ.end_local, occ.end, zone, zone_label),
        "location": location,
        "locations": [location] if event.location else [],
        "recurrence": None,
        "attendees": [
            {
                "type": "optional" if a.optional else "required",
                "status": {"response": _RESPONSES[a.response], "time": NEVER},
                "emailAddress": {"name": a.name or a.email, "address": a.email},
            }
            for a in event.attendees
            if a.email != organizer
        ],
        "organizer": {
            "emailAddress": {"name": event.organizer_name or organizer, "address": organizer}
        },
        "onlineMeeting": {"joinUrl": "https://teams.microsoft.com/l/meetup-join/sbx"}
        if teams
        else None,
    }
    if event.recurring and occ.original_start is not None:
        original = occ.original_start
        resource["originalStart"] = (
            graph_instant(original) if isinstance(original, datetime) else f"{original}T00:00:00Z"
        )
    return resource
