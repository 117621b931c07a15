"""One Microsoft 365 calendar through Microsoft Graph's calendarView, behind
`CalendarConnector`.

calendarView expands series into occurrences for a time range, matching by overlap, so an event
can be listed for two windows; each occurrence is kept only for the window its start lies in
(an all-day event: the UTC midnight of its date), exactly as `parse_graph_event` files it.
Times come back in UTC (`Prefer: outlook.timezone="UTC"`); the zone the organiser used stays in
`originalStartTimeZone`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from resources.microsoft.auth import GRAPH_CALENDAR_SCOPES
from resources.microsoft.client import (
    graph_time,
    open_graph_client,
    select,
    user_path,
)
from resources.microsoft.event_parsing import graph_event_start
from resources.microsoft.settings import GraphSettings
from vocabulary.connectors import ApiStats
from vocabulary.events import events_in_window
from vocabulary.records import RawEvent
from vocabulary.windows import SyncWindow

EVENT_FIELDS = (
    "iCalUId",
    "subject",
    "isAllDay",
    "isCancelled",
    "isOrganizer",
    "start",
    "end",
    "originalStartTimeZone",
    "originalEndTimeZone",
    "originalStart",
    "organizer",
    "attendees",
    "seriesMasterId",
    "type",
    "location",
    "lastModifiedDateTime",
)
"""`$select` of calendarView: exactly what `parse_graph_event` reads (`id` comes regardless).

Only v1.0 properties: Graph answers 400 for any other, so one beta name (such as `uid`) here
would fail every calendar sync. `iCalUId` alone identifies the meeting across calendars once
`normalize_ical_uid` has zeroed the occurrence date it carries."""
LIST_METHOD = "graph.calendarView.list"
LOOKBACK = timedelta(minutes=1)
"""Ranges match by overlap (an event's end after startDateTime): a zero-length event at the
window's first instant is only listed when the range starts before it."""
PREFER_UTC = {"Prefer": 'outlook.timezone="UTC"'}


class GraphCalendarConnector:
    """The default calendar of one connected Microsoft 365 mailbox (`CalendarConnector`).

    Shares GraphMailConnector's token handling (msal, cache per connection), pacing, retries
    and statistics (GraphClient).
    """

    provider = "microsoft"

    def __init__(
        self,
        owner_email: str,
        refresh_token: str,
        token_cache: str | None = None,
        save_token_cache: Callable[[str], None] | None = None,
        *,
        settings: GraphSettings,
    ) -> None:
        self.owner_email = owner_email
        self.stats = ApiStats()
        self.client = open_graph_client(
            owner_email,
            refresh_token,
            token_cache,
            save_token_cache,
            scopes=GRAPH_CALENDAR_SCOPES,
            settings=settings,
            stats=self.stats,
        )
        self.tokens = self.client.tokens
        self._page_size = settings.top
        self._user = user_path(owner_email)

    def __repr__(self) -> str:
        return f"GraphCalendarConnector(owner_email={self.owner_email!r})"

    def close(self) -> None:
        self.client.close()

    def list_events(self, window: SyncWindow) -> list[RawEvent]:
        """Every occurrence starting in `window`, over all pages."""
        params = {
            "startDateTime": graph_time(window.start - LOOKBACK),
            "endDateTime": graph_time(window.end),
            "$select": select(EVENT_FIELDS),
            "$top": self._page_size,
        }
        url = self.client.url(f"{self._user}/calendarView", params)
        items: list[Any] = []
        for page in self.client.pages(url, LIST_METHOD, PREFER_UTC):
            items.extend(page)
        return events_in_window(items, window, graph_event_start)
