"""Microsoft Graph resources built from the sandbox's provider-neutral model.

Messages come from the same raw RFC 5322 bytes the Gmail side serves (decoded names and subject,
as Outlook shows them); Gmail labels become folders. Events are rendered from occurrences in the
time zone the client asked for with `Prefer: outlook.timezone`.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.workload import msids, rfc822
from sandbox.workload.calendar_ids import graph_master_id, graph_occurrence_id
from sandbox.workload.calendar_model import Occurrence
from sandbox.workload.model import USER_LABELS, Mailbox, SandboxMessage

WELL_KNOWN_FOLDERS: tuple[tuple[str, str], ...] = (
    ("inbox", "Inbox"),
    ("drafts", "Drafts"),
    ("sentitems", "Sent Items"),
    ("deleteditems", "Deleted Items"),
    ("junkemail", "Junk Email"),
    ("archive", "Archive"),
    ("outbox", "Outbox"),
)
"""Well-known folder names (as in /mailFolders/{name}) and their display names."""

_LABEL_FOLDERS = (
    ("DRAFT", "drafts"),
    ("TRASH", "deleteditems"),
    ("SPAM", "junkemail"),
    ("SENT", "sentitems"),
)

MESSAGE_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
    "internetMessageHeaders", "uniqueBody",
)  # fmt: skip
"""Everything $select may name; the last two are only returned when selected."""

EVENT_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "transactionId",
    "originalStartTimeZone", "originalEndTimeZone", "iCalUId", "uid", "reminderMinutesBeforeStart",
    "isReminderOn", "hasAttachments", "subject", "bodyPreview", "importance", "sensitivity",
    "isAllDay", "isCancelled", "isOrganizer", "responseRequested", "seriesMasterId", "showAs",
    "type", "webLink", "onlineMeetingUrl", "isOnlineMeeting", "onlineMeetingProvider",
    "allowNewTimeProposals", "isDraft", "hideAttendees", "responseStatus", "body", "start", "end",
    "originalStart", "location", "locations", "recurrence", "attendees", "organizer",
    "onlineMeeting",
)  # fmt: skip

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
_NEVER = "0001-01-01T00:00:00Z"
_SPACES = re.compile(r"\s+")


def folder_of(labels: list[str]) -> str:
    """The well-known folder a message with these Gmail labels sits in."""
    for label, folder in _LABEL_FOLDERS:
        if label in labels:
            return folder
    return "inbox"


def zone_named(name: str | None) -> ZoneInfo | None:
    """An IANA or Windows zone name as ZoneInfo, or None if unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(IANA_ZONES.get(name, name))
    except Exception:  # zoneinfo raises several types for bad keys
        return None


def graph_instant(moment: datetime) -> str:
    """`2026-11-20T15:00:02Z`: how Graph writes receivedDateTime and friends (whole seconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_local(moment: datetime | date) -> str:
    """`2026-11-20T15:00:00.0000000`: a dateTimeTimeZone's dateTime."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _etag(*parts: object) -> tuple[str, str]:
    key = base64.b64encode(b"\x09\x00\x00\x00\x16\x00\x00\x00" + msids.digest(*parts)[:22])
    change_key = key.decode("ascii")
    return f'W/"{change_key}"', change_key


class MessageRenderer:
    """Graph `message` resources, parsed once per stored message (safe across threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def resource(self, box: Mailbox, msg: SandboxMessage) -> dict[str, Any]:
        """Every property (headers included); callers project with $select."""
        key = (msg.mailbox, msg.id)
        with self._lock:
            parsed = self._cache.get(key)
        if parsed is None:
            parsed = _parse(msg)
            with self._lock:
                self._cache[key] = parsed
        user = box.user_id or box.address
        received = datetime.fromtimestamp(msg.internal_date_ms / 1000, tz=UTC)
        labels = msg.label_ids
        etag, change_key = _etag(msg.id, tuple(labels))
        draft = "DRAFT" in labels
        promo = bool({"CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_SOCIAL"} & set(labels))
        return {
            "@odata.etag": etag,
            "id": msg.id,
            "createdDateTime": graph_instant(received),
            "lastModifiedDateTime": graph_instant(received),
            "changeKey": change_key,
            "categories": [USER_LABELS[label] for label in labels if label in USER_LABELS],
            "receivedDateTime": graph_instant(received),
            "sentDateTime": parsed["sent"] or graph_instant(received),
            "hasAttachments": parsed["has_attachments"],
            "internetMessageId": msg.internet_message_id,
            "subject": parsed["subject"],
            "bodyPreview": parsed["preview"],
            "importance": "high" if "IMPORTANT" in labels else "normal",
            "parentFolderId": msids.folder_id(user, folder_of(labels)),
            "conversationId": msg.thread_id,
            "conversationIndex": base64.b64encode(msids.digest("ci", msg.thread_id)[:22]).decode(),
            "isDeliveryReceiptRequested": None if draft else False,
            "isReadReceiptRequested": False,
            "isRead": "UNREAD" not in labels,
            "isDraft": draft,
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            + msg.id.replace("-", "%2F").replace("_", "%2B").replace("=", "%3D")
            + "&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "other" if promo else "focused",
            "body": {"contentType": "html", "content": parsed["html"]},
            "sender": parsed["from"],
            "from": parsed["from"],
            "toRecipients": parsed["to"],
            "ccRecipients": parsed["cc"],
            "bccRecipients": [],
            "replyTo": parsed["reply_to"],
            "flag": {"flagStatus": "notFlagged"},
            "internetMessageHeaders": None if draft else parsed["headers"],
            "uniqueBody": {"contentType": "html", "content": parsed["html"]},
        }

    def forget(self, mailbox: str, message_id: str) -> None:
        with self._lock:
            self._cache.pop((mailbox, message_id), None)


def _recipients(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    out = []
    for name, address in getaddresses([rfc822.decode_text(value) or ""]):
        if "@" in address:
            out.append({"emailAddress": {"name": name or address, "address": address}})
    return out


def _parse(msg: SandboxMessage) -> dict[str, Any]:
    headers = rfc822.raw_headers(msg.raw)

    def get(name: str) -> str | None:
        return rfc822.header(headers, name)

    try:
        subject = rfc822.decode_text(get("Subject"))
    except Exception:  # a broken encoded word: Outlook shows the raw text
        subject = get("Subject")
    sent = None
    try:
        date_value = get("Date")
        if date_value:
            moment = parsedate_to_datetime(date_value)
            if moment.tzinfo is not None:
                sent = graph_instant(moment)
    except (TypeError, ValueError):
        sent = None
    text, has_attachments = _body_text(msg.raw)
    senders = _recipients(get("From"))
    return {
        "subject": subject,
        "sent": sent,
        "from": senders[0] if senders else None,
        "to": _recipients(get("To")),
        "cc": _recipients(get("Cc")),
        "reply_to": _recipients(get("Reply-To")),
        "headers": [{"name": n, "value": v} for n, v in headers],
        "preview": _SPACES.sub(" ", text).strip()[:255],
        "html": "<html><body><div>"
        + html.escape(text).replace("\n", "<br>")
        + "</div></body></html>",
        "has_attachments": has_attachments,
    }


def _body_text(raw: bytes) -> tuple[str, bool]:
    try:
        parsed = message_from_bytes(raw, policy=policy.compat32)
    except Exception:  # unparseable mail still lists, with an empty body
        return "", False
    text, attachments = "", False
    for part in parsed.walk():
        if part.get_filename():
            attachments = True
        elif part.get_content_type() == "text/plain" and not text:
            data = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                text = data.decode(charset, "replace")
            except LookupError:
                text = data.decode("utf-8", "replace")
    return text, attachments


def folder_resources(box: Mailbox, counts: dict[str, tuple[int, int]]) -> list[dict[str, Any]]:
    """The mailbox's well-known folders; `counts` maps folder -> (total, unread)."""
    user = box.user_id or box.address
    root = msids.folder_id(user, "msgfolderroot")
    return [
        {
            "id": msids.folder_id(user, name),
            "displayName": display,
            "parentFolderId": root,
            "childFolderCount": 0,
            "unreadItemCount": counts.get(name, (0, 0))[1],
            "totalItemCount": counts.get(name, (0, 0))[0],
            "sizeInBytes": 0,
            "isHidden": False,
        }
        for name, display in WELL_KNOWN_FOLDERS
    ]


# ---- events -----------------------------------------------------------------------------------


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
    etag, change_key = _etag(event.uid, occ.original_key, event.sequence)
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
        "iCalUId": msids.graph_uid(event.uid, instance),
        "uid": msids.graph_uid(event.uid),
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
        "responseStatus": {"response": own, "time": _NEVER},
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
                "status": {"response": _RESPONSES[a.response], "time": _NEVER},
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
