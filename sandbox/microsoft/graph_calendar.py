"""Graph's calendarView (`/me/calendarView`, also `/me/calendar/calendarView`) for the sandbox's
Microsoft mailboxes: the overlap window, series expanded into occurrences and exceptions,
`Prefer: outlook.timezone`, `$select`, `$top`, `$orderby=start/dateTime` and `$skiptoken` paging.
Deleted occurrences of a series are not listed; a cancelled meeting is listed (`isCancelled`)
only on attendees' calendars.
A `$select` naming anything but a v1.0 event property is refused with Graph's 400
(`RequestBroker--ParseUri`), so a client asking for a beta property fails here as in production.
"""

from __future__ import annotations

import base64
import re
from typing import Any
from zoneinfo import ZoneInfo

from sandbox.http import Request, Response
from sandbox.microsoft.graph_event_payload import EVENT_PROPERTIES, event_resource, zone_named
from sandbox.microsoft.graph_query import QueryError, parse_datetime, parse_list_query, project
from sandbox.microsoft.graph_responses import (
    context_url,
    graph_error,
    graph_json,
    malform,
    next_link,
    query_options,
)
from sandbox.state import SandboxState
from sandbox.truth import listed_as
from sandbox.workload.calendar_model import occurrences
from sandbox.workload.model import Mailbox

_PREFER_ZONE = re.compile(r'outlook\.timezone\s*=\s*"?(?P<zone>[^";,]+)"?', re.IGNORECASE)


class GraphCalendar:
    """The calendarView handler `(request, match, mailbox) -> Response` over a shared state."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state

    def calendar_view(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        options = query_options(request)
        raw_start, raw_end = options.get("startDateTime"), options.get("endDateTime")
        if not raw_start or not raw_end:
            return graph_error(
                request,
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            )
        try:
            start, end = parse_datetime(raw_start), parse_datetime(raw_end)
        except QueryError:
            return graph_error(
                request,
                400,
                "ErrorInvalidParameter",
                "The value of StartDateTime or EndDateTime is invalid.",
            )
        if options.get("$filter"):
            return graph_error(
                request,
                400,
                "ErrorInvalidUrlQueryFilter",
                "The sandbox's calendarView takes no $filter.",
            )
        order = (options.get("$orderby") or "").replace(" ", "").lower()
        if order not in ("", "start/datetime", "start/datetimeasc", "start/datetimedesc"):
            return graph_error(
                request, 400, "BadRequest", f"Invalid $orderby: {options['$orderby']}"
            )
        query = parse_list_query(
            {"$select": options.get("$select"), "$top": options.get("$top")},
            {},
            set(),
            set(EVENT_PROPERTIES),
            "event",
        )
        skip = _skip_from_token(options.get("$skiptoken"))
        if skip is None:
            return graph_error(request, 400, "BadRequest", "Invalid $skiptoken.")
        label = "UTC"
        zone: ZoneInfo = ZoneInfo("UTC")
        headers: list[tuple[str, str]] = []
        prefer = _PREFER_ZONE.search(request.headers.get("prefer", ""))
        if prefer:
            named = zone_named(prefer["zone"].strip())
            if named is not None:
                zone, label = named, prefer["zone"].strip()
            headers.append(("Preference-Applied", f'outlook.timezone="{label}"'))
        # As on Graph: a deleted occurrence is left out (it is in the master's
        # cancelledOccurrences), the organiser's cancelled meeting is gone, and attendees'
        # copies of it stay with `isCancelled: true`.
        found = [
            o
            for e in self.state.events(box.address)
            for o in occurrences(e, start, end)
            if listed_as(box, o) == "full"
        ]
        found.sort(key=lambda o: (o.start, o.event.uid, o.original_key or ""))
        if order.endswith("desc"):
            found.reverse()
        page = found[skip : skip + query.top]
        items = []
        for occ in page:
            resource = event_resource(box, occ, zone, label)
            item = project(resource, query.select)
            variant = self.state.malformed_variant(box.address, resource["id"])
            items.append(item if variant is None else malform(item, variant))
        body: dict[str, Any] = {
            "@odata.context": context_url(request, box, "calendarView"),
            "value": items,
        }
        if skip + query.top < len(found):
            token = base64.urlsafe_b64encode(f"skip:{skip + query.top}".encode()).decode()
            body["@odata.nextLink"] = next_link(request, **{"$skiptoken": token})
        return graph_json(200, body, headers)


def _skip_from_token(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith("skip:"):
            return int(text[5:])
    except (ValueError, UnicodeDecodeError):
        return None
    return None
