"""One Microsoft 365 calendar through Microsoft Graph's calendarView, behind
`CalendarConnector`.

calendarView expands series into occurrences for a time range, matching by overlap, so an event
can be listed for two windows; each occurrence is kept only for the window its start lies in
(an all-day event: the UTC midnight of its date), exactly as `parse_graph_event` files it.
Times come back in UTC (`Prefer: outlook.timezone="UTC"`); the zone the organiser used stays in
`originalStartTimeZone`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from assets.event_parsing import events_in_window, graph_event_start
from resources.graph_client import GraphClient, graph_time, select, user_path
from resources.microsoft_auth import GRAPH_CALENDAR_SCOPES, MICROSOFT_LOGIN_URL, MicrosoftTokens
from resources.provider import ApiStats, RawEvent, SyncWindow

EVENT_FIELDS = (
    "iCalUId",
    "uid",
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
"""`$select` of calendarView: exactly what `parse_graph_event` reads (`id` comes regardless)."""
PAGE_SIZE = 1000
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
        graph_base_url: str,
        client_id: str,
        client_secret: str,
        login_base_url: str = MICROSOFT_LOGIN_URL,
        tenant: str = "organizations",
        page_size: int = PAGE_SIZE,
        requests_per_ten_minutes: int = 10_000,
        throttle_window_seconds: float = 600.0,
        max_attempts: int = 8,
        max_retry_wait_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.owner_email = owner_email
        self.stats = ApiStats()
        self.tokens = MicrosoftTokens(
            owner_email,
            refresh_token,
            client_id=client_id,
            client_secret=client_secret,
            scopes=GRAPH_CALENDAR_SCOPES,
            login_base_url=login_base_url,
            tenant=tenant,
            token_cache=token_cache,
            save_token_cache=save_token_cache,
            stats=self.stats,
            timeout_seconds=timeout_seconds,
            clock=clock,
        )
        self.client = GraphClient(
            self.tokens,
            graph_base_url=graph_base_url,
            stats=self.stats,
            max_attempts=max_attempts,
            max_retry_wait_seconds=max_retry_wait_seconds,
            timeout_seconds=timeout_seconds,
            requests_per_window=requests_per_ten_minutes,
            window_seconds=throttle_window_seconds,
            sleep=sleep,
            clock=clock,
            rng=rng,
        )
        self._page_size = max(1, min(page_size, 1000))
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
