"""Google Calendar API v3 for the sandbox's Google mailboxes: events.list, events.get,
calendars.get and calendarList.list on each mailbox's primary calendar, with Google's shapes
and rules.

events.list returns events that *overlap* [timeMin, timeMax) (a client wanting "starts in the
window" filters itself); an all-day event spans midnight to midnight in the calendar's zone.
`singleEvents=true` expands series into instances; cancelled ones appear only with
`showDeleted=true`, in Google's documented forms: a cancelled exception of a live series with
only `id`, `status`, `recurringEventId` and `originalStartTime`; a deleted event or series with
only `id` and `status`. With `singleEvents=false`, series come back as masters with
`recurrence`, plus their exceptions: moved instances in full, cancelled ones in the minimal form,
even without showDeleted. Every parameter must be one the method's discovery document lists.
Times are written in the `timeZone` parameter's zone, else the calendar's (the tenant's).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from sandbox.faults import Rejection
from sandbox.google.errors import (
    google_authenticate,
    google_error,
    google_rejection,
    unknown_parameter,
)
from sandbox.http import Request, Response, Router
from sandbox.state import SandboxState
from sandbox.truth import listed_as
from sandbox.workload.calendar_ids import google_base_id, google_occurrence_id
from sandbox.workload.calendar_model import (
    MasterEvent,
    Occurrence,
    expand,
    local_to_utc,
    occurrences,
)
from sandbox.workload.model import CALENDAR_READONLY_SCOPE, Mailbox
from sandbox.workload.msids import digest

DEFAULT_MAX_RESULTS = 250
MAX_RESULTS = 2500
_CALENDAR = r"/calendar/v3/calendars/(?P<calendar>[^/]+)"
_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "none": "needsAction",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SLACK = timedelta(days=2)


def _stamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _rfc3339(value: str, name: str) -> datetime:
    text = value.strip().replace(" ", "+")
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)", text):
        raise ValueError(name)
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


class GoogleCalendarProvider:
    """Handlers for Google Calendar over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.router = Router()
        self.router.add(
            "GET", _CALENDAR + r"/events", self._wrap("calendar.events.list", self._events)
        )
        self.router.add(
            "GET",
            _CALENDAR + r"/events/(?P<event>[^/]+)",
            self._wrap("calendar.events.get", self._event),
        )
        self.router.add("GET", _CALENDAR, self._wrap("calendar.calendars.get", self._calendar))
        self.router.add(
            "GET",
            r"/calendar/v3/users/me/calendarList",
            self._wrap("calendar.calendarList.list", self._calendar_list),
        )

    def _wrap(
        self, method: str, run: Callable[[Request, re.Match[str], Mailbox], Response]
    ) -> Callable[[Request, re.Match[str]], Response]:
        def handle(request: Request, match: re.Match[str]) -> Response:
            mailbox = google_authenticate(self.state, request)
            if isinstance(mailbox, Response):
                return mailbox
            self.state.count_http(mailbox)
            self.state.pause_if_slow(mailbox)
            box = self.state.mailbox(mailbox)
            if "calendar" in match.groupdict():
                wanted = unquote(match["calendar"]).lower()
                if wanted != "primary" and wanted != box.address and wanted not in box.aliases:
                    return google_error(404, "Not Found", "notFound")
            refused = unknown_parameter(request, method)
            if refused is not None:
                return refused
            rejection = self.state.admit_call(mailbox, method, 1, meter="calendar")
            if rejection is not None:
                return google_rejection(rejection)
            if CALENDAR_READONLY_SCOPE not in box.scopes:
                return google_rejection(Rejection("insufficient_permissions", 403))
            return run(request, match, box)

        return handle

    def _calendar_zone(self, box: Mailbox) -> str:
        return self.state.workload.tenant(box.tenant).time_zone

    def _calendar(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        return Response.json(
            200,
            {
                "kind": "calendar#calendar",
                "etag": f'"{_number(box.address)}"',
                "id": box.address,
                "summary": box.address,
                "timeZone": self._calendar_zone(box),
                "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
            },
        )

    def _calendar_list(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        entry = {
            "kind": "calendar#calendarListEntry",
            "etag": f'"{_number(box.address)}"',
            "id": box.address,
            "summary": box.address,
            "timeZone": self._calendar_zone(box),
            "colorId": "14",
            "backgroundColor": "#9fe1e7",
            "foregroundColor": "#000000",
            "selected": True,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
            "primary": True,
        }
        return Response.json(
            200,
            {"kind": "calendar#calendarList", "etag": f'"{_number("list")}"', "items": [entry]},
        )

    def _event(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        """events.get of a single event or a series master (a deleted one in its id-only form);
        the sandbox does not look instances up by id."""
        wanted = unquote(match["event"])
        zone = ZoneInfo(request.param("timeZone") or self._calendar_zone(box))
        for event in self.state.events(box.address):
            if google_base_id(event.uid) != wanted:
                continue
            if event.status == "cancelled":
                return Response.json(200, self._deleted(event, wanted))
            if event.recurring:
                return Response.json(200, self._master(box, event, zone))
            (single,) = expand(event, _EPOCH)  # a single event is its own one occurrence
            return Response.json(200, self._instance(box, single, zone))
        return google_error(404, "Not Found", "notFound")

    # ---- events.list --------------------------------------------------------------------------

    def _events(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        try:
            params = _ListParams.parse(request, self._calendar_zone(box), self.state.workload.now)
        except _BadParam as exc:
            return google_error(400, str(exc), exc.reason)
        items: list[tuple[tuple[Any, ...], Any]] = []
        calendar_zone = ZoneInfo(self._calendar_zone(box))
        for event in self.state.events(box.address):
            if params.ical_uid and event.uid != params.ical_uid:
                continue
            # All-day events reach into the next UTC day in zones west of UTC: look wider,
            # then match each occurrence as Google does (`_overlaps`).
            wide = occurrences(event, params.start - _SLACK, params.end + _SLACK)
            found = [o for o in wide if _overlaps(box, o, calendar_zone, params)]
            if params.single_events:
                for occ in found:
                    shown = listed_as(box, occ)
                    if shown != "full" and not params.show_deleted:
                        continue
                    items.append((_sort_key(occ, params), self._listed(box, occ, shown, params)))
            else:
                items.extend(self._unexpanded(box, event, found, params))
        items.sort(key=lambda pair: pair[0])
        page = items[params.offset : params.offset + params.max_results]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"{_number(box.address, len(items))}"',
            "summary": box.address,
            "description": "",
            "updated": _stamp(
                max((e.updated for e in self.state.events(box.address)), default=_EPOCH)
            ),
            "timeZone": self._calendar_zone(box),
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
        }
        if params.offset + params.max_results < len(items):
            token = f"o:{params.offset + params.max_results}"
            body["nextPageToken"] = base64.urlsafe_b64encode(token.encode()).decode()
        else:
            body["nextSyncToken"] = "CPDAlvWDx70CEPDAlvWDx70CGAU="
        body["items"] = [self._maybe_malformed(box, item) for _, item in page]
        return Response.json(200, body)

    def _maybe_malformed(self, box: Mailbox, item: dict[str, Any]) -> Any:
        variant = self.state.malformed_variant(box.address, item["id"])
        if variant is None:
            return item
        if variant == "invalid_json":
            text = json.dumps(item, ensure_ascii=False)
            return text[: max(1, len(text) // 2)]
        if variant == "not_object":
            return [item["id"]]
        if variant == "missing_payload":
            return {k: item[k] for k in ("kind", "etag", "id") if k in item}
        broken = dict(item)
        broken["start"] = {"dateTime": "not a date", "timeZone": "Nowhere/Never"}
        broken["organizer"] = {"email": "<<>>@@"}
        return broken

    def _unexpanded(
        self, box: Mailbox, event: MasterEvent, found: list[Occurrence], params: _ListParams
    ) -> list[tuple[tuple[Any, ...], Any]]:
        if not found:
            return []
        if event.status == "cancelled":
            # A deleted event or series: one id-only item, and only with showDeleted.
            if not params.show_deleted:
                return []
            return [(_sort_key(found[0], params), self._deleted(event, google_base_id(event.uid)))]
        if not event.recurring:
            return [(_sort_key(found[0], params), self._instance(box, found[0], params.zone))]
        out = [(_sort_key(found[0], params), self._master(box, event, params.zone))]
        for occ in found:
            if occ.is_exception:
                out.append(
                    (_sort_key(occ, params), self._listed(box, occ, listed_as(box, occ), params))
                )
        return out

    def _listed(
        self, box: Mailbox, occ: Occurrence, shown: str, params: _ListParams
    ) -> dict[str, Any]:
        """An occurrence in the form Google lists it (`sandbox.truth.listed_as`)."""
        if shown == "deleted":
            return self._deleted(occ.event, google_occurrence_id(occ))
        if shown == "minimal":
            return {
                **self._deleted(occ.event, google_occurrence_id(occ), occ.original_key),
                "recurringEventId": google_base_id(occ.event.uid),
                "originalStartTime": self._original(occ, params.zone),
            }
        return self._instance(box, occ, params.zone)

    @staticmethod
    def _deleted(event: MasterEvent, item_id: str, key: str | None = None) -> dict[str, Any]:
        """Google's deleted event: "only guaranteed to have the id field populated"."""
        return {
            "kind": "calendar#event",
            "etag": f'"{_number(event.uid, key or item_id, "x")}"',
            "id": item_id,
            "status": "cancelled",
        }

    # ---- rendering ----------------------------------------------------------------------------

    def _when(
        self, event: MasterEvent, local: datetime | date, instant: datetime, zone: ZoneInfo
    ) -> dict[str, str]:
        if event.all_day:
            return {"date": (local if isinstance(local, date) else instant.date()).isoformat()}
        return {"dateTime": instant.astimezone(zone).isoformat(), "timeZone": event.time_zone}

    def _original(self, occ: Occurrence, zone: ZoneInfo) -> dict[str, str]:
        original = occ.original_start
        if isinstance(original, datetime):
            return {
                "dateTime": original.astimezone(zone).isoformat(),
                "timeZone": occ.event.time_zone,
            }
        return {"date": original.isoformat() if original else ""}

    def _people(self, box: Mailbox, event: MasterEvent) -> dict[str, Any]:
        owner, organizer = box.address, event.organizer_email

        def person(email: str, name: str) -> dict[str, Any]:
            found: dict[str, Any] = {"email": email}
            if name:
                found["displayName"] = name
            if email == owner:
                found["self"] = True
            return found

        out: dict[str, Any] = {
            "creator": person(organizer, event.organizer_name),
            "organizer": person(organizer, event.organizer_name),
        }
        invitees = [a for a in event.attendees if a.email != organizer]
        if invitees:
            entries = [
                {
                    **person(organizer, event.organizer_name),
                    "organizer": True,
                    "responseStatus": "accepted",
                }
            ]
            for a in invitees:
                entry = person(a.email, a.name)
                if a.optional:
                    entry["optional"] = True
                entry["responseStatus"] = _RESPONSES[a.response]
                entries.append(entry)
            out["attendees"] = entries
        return out

    def _common(
        self, box: Mailbox, event: MasterEvent, item_id: str, subject: str, status: str
    ) -> dict[str, Any]:
        eid = base64.b64encode(f"{item_id} {box.address}".encode()).decode().rstrip("=")
        item: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": f'"{_number(event.uid, item_id, event.sequence)}"',
            "id": item_id,
            "status": status,
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "created": _stamp(event.created),
            "updated": _stamp(event.updated),
            "summary": subject,
        }
        if event.description:
            item["description"] = event.description
        if event.location:
            item["location"] = event.location
        item.update(self._people(box, event))
        return item

    def _instance(self, box: Mailbox, occ: Occurrence, zone: ZoneInfo) -> dict[str, Any]:
        event = occ.event
        item = self._common(box, event, google_occurrence_id(occ), occ.subject, occ.status)
        item["start"] = self._when(event, occ.start_local, occ.start, zone)
        item["end"] = self._when(event, occ.end_local, occ.end, zone)
        if event.recurring:
            item["recurringEventId"] = google_base_id(event.uid)
            item["originalStartTime"] = self._original(occ, zone)
        return self._finish(item, event)

    def _master(self, box: Mailbox, event: MasterEvent, zone: ZoneInfo) -> dict[str, Any]:
        base = google_base_id(event.uid)
        item = self._common(box, event, base, event.subject, event.status)
        if event.all_day:
            item["start"] = {"date": event.start.isoformat()}
            item["end"] = {"date": event.end.isoformat()}
        else:
            start = local_to_utc(event.start, event.zone)  # type: ignore[arg-type]
            end = local_to_utc(event.end, event.zone)  # type: ignore[arg-type]
            item["start"] = self._when(event, event.start, start, zone)
            item["end"] = self._when(event, event.end, end, zone)
        rule = event.rrule or ""
        item["recurrence"] = [rule if rule.upper().startswith("RRULE:") else "RRULE:" + rule]
        return self._finish(item, event)

    @staticmethod
    def _finish(item: dict[str, Any], event: MasterEvent) -> dict[str, Any]:
        item["iCalUID"] = event.uid
        item["sequence"] = event.sequence
        item["reminders"] = {"useDefault": True}
        item["eventType"] = "default"
        return item


class _BadParam(ValueError):
    def __init__(self, message: str, reason: str = "badRequest") -> None:
        super().__init__(message)
        self.reason = reason


class _ListParams:
    def __init__(self) -> None:
        self.start = _EPOCH
        self.end = datetime.now(UTC) + timedelta(days=366)
        self.single_events = False
        self.show_deleted = False
        self.order_by: str | None = None
        self.max_results = DEFAULT_MAX_RESULTS
        self.offset = 0
        self.zone = ZoneInfo("UTC")
        self.ical_uid: str | None = None

    @classmethod
    def parse(cls, request: Request, calendar_zone: str, anchor: datetime) -> _ListParams:
        """`anchor` (the workload's now) bounds expansion when timeMax is absent."""
        params = cls()
        params.end = max(params.end, anchor + timedelta(days=366))

        def flag(name: str) -> bool:
            return (request.param(name) or "false").lower() == "true"

        params.single_events = flag("singleEvents")
        params.show_deleted = flag("showDeleted")
        for name in ("timeMin", "timeMax"):
            raw = request.param(name)
            if raw:
                try:
                    value = _rfc3339(raw, name)
                except ValueError:
                    raise _BadParam("Bad Request") from None
                setattr(params, "start" if name == "timeMin" else "end", value)
        if params.end <= params.start:
            raise _BadParam("The specified time range is empty.", "timeRangeEmpty")
        params.order_by = request.param("orderBy")
        if params.order_by not in (None, "startTime", "updated"):
            raise _BadParam(f"Invalid value for orderBy: {params.order_by}", "invalid")
        if params.order_by == "startTime" and not params.single_events:
            raise _BadParam("The requested ordering is not available for the particular query.")
        raw_max = request.param("maxResults")
        if raw_max:
            try:
                params.max_results = int(raw_max)
            except ValueError:
                raise _BadParam(f"Invalid value '{raw_max}'.", "invalidParameter") from None
            if params.max_results < 1:
                raise _BadParam("Invalid value for maxResults", "invalid")
            params.max_results = min(params.max_results, MAX_RESULTS)
        token = request.param("pageToken")
        if token:
            try:
                text = base64.urlsafe_b64decode(token.encode()).decode()
                params.offset = int(text.removeprefix("o:"))
            except (ValueError, UnicodeDecodeError):
                raise _BadParam("Invalid page token", "invalid") from None
        zone_name = request.param("timeZone") or calendar_zone
        try:
            params.zone = ZoneInfo(zone_name)
        except Exception:  # zoneinfo raises several types for bad keys
            raise _BadParam(
                f"Invalid time zone definition for the request: {zone_name}", "invalid"
            ) from None
        params.ical_uid = request.param("iCalUID")
        return params


def _overlaps(box: Mailbox, occ: Occurrence, calendar_zone: ZoneInfo, params: _ListParams) -> bool:
    """Google's match against [timeMin, timeMax): the event's span overlaps it. An all-day event
    spans its dates from midnight to midnight in the calendar's own zone, not UTC's; a cancelled
    exception is matched where it was before it was cancelled."""
    if listed_as(box, occ) == "minimal" and occ.original_start is not None:
        length = occ.end - occ.start
        original = occ.original_start
        start = (
            original.astimezone(UTC)
            if isinstance(original, datetime)
            else datetime.combine(original, time(), calendar_zone).astimezone(UTC)
        )
        return start < params.end and start + length > params.start
    if occ.all_day:
        first, after = occ.start_local, occ.end_local
        start = datetime.combine(first, time(), calendar_zone).astimezone(UTC)  # type: ignore[arg-type]
        end = datetime.combine(after, time(), calendar_zone).astimezone(UTC)  # type: ignore[arg-type]
        return start < params.end and end > params.start
    return occ.start < params.end and occ.end > params.start


def _sort_key(occ: Occurrence, params: _ListParams) -> tuple[Any, ...]:
    if params.order_by == "updated":
        return (occ.event.updated, occ.start, occ.event.uid, occ.original_key or "")
    return (occ.start, occ.event.uid, occ.original_key or "")


def _number(*parts: object) -> int:
    """Google's etags are quoted decimal numbers."""
    return 3_000_000_000_000_000 + int.from_bytes(digest(*parts)[:6], "big")
