"""One Google Calendar ("primary") through google-api-python-client, behind `CalendarConnector`.

`events.list` with `singleEvents` expands series into occurrences and `showDeleted` keeps the
cancelled ones (the sync records them as cancelled). Google matches events to `timeMin`/`timeMax`
by overlap, all-day ones in the calendar's own zone, so one event can be listed for two windows;
each occurrence is kept only for the window its start lies in (an all-day event: the UTC
midnight of its date), exactly as the parser files it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from googleapiclient.discovery import build

from assets.event_parsing import events_in_window, google_event_start
from resources.google_client import GoogleApiSession, UndecodedJsonModel, decode_json_object
from resources.google_errors import failure
from resources.provider import ApiStats, ConnectionStatus, RawEvent, SyncWindow

LIST_METHOD = "calendar.events.list"
PAGE_SIZE = 2500
"""events.list's largest page."""
REQUESTS_PER_MINUTE = 600
"""Google Calendar's per-user limit."""
LOOKBACK = timedelta(minutes=1)
"""timeMin is an exclusive bound on an event's *end*: a zero-length event at the window's first
instant is only listed when timeMin lies before it."""


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GoogleCalendarConnector:
    """The primary Google Calendar of one connected user (`CalendarConnector`).

    Uses the same token refresh, pacing (600 requests per minute), Retry-After-honouring retries
    and failure classification as the Gmail connector (google_client.GoogleApiSession).
    """

    provider = "google"

    def __init__(
        self,
        owner_email: str,
        refresh_token: str,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        token_uri: str | None = None,
        page_size: int = PAGE_SIZE,
        requests_per_minute: int = REQUESTS_PER_MINUTE,
        max_attempts: int = 8,
        max_retry_wait_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        self.owner_email = owner_email
        self.stats = ApiStats()
        self._page_size = max(1, min(page_size, PAGE_SIZE))
        self._session = GoogleApiSession(
            refresh_token,
            token_uri=token_uri or base + "/token",
            client_id=client_id,
            client_secret=client_secret,
            stats=self.stats,
            units_per_window=requests_per_minute,
            window_seconds=60.0,
            max_attempts=max_attempts,
            max_retry_wait_seconds=max_retry_wait_seconds,
            timeout_seconds=timeout_seconds,
            sleep=sleep,
            clock=clock,
            rng=rng,
        )
        self._credentials = self._session.credentials
        service = build(
            "calendar",
            "v3",
            http=self._session.authorized_http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": base + "/calendar/v3/"},
            model=UndecodedJsonModel(),
        )
        self._events = service.events()

    def __repr__(self) -> str:
        return f"GoogleCalendarConnector(owner_email={self.owner_email!r})"

    def close(self) -> None:
        self._session.close()

    def list_events(self, window: SyncWindow) -> list[RawEvent]:
        """Every occurrence starting in `window`, cancelled ones included, over all pages."""
        items: list[Any] = []
        seen_tokens: set[str] = set()
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "calendarId": "primary",
                "timeMin": rfc3339(window.start - LOOKBACK),
                "timeMax": rfc3339(window.end),
                "singleEvents": True,
                "showDeleted": True,
                "orderBy": "startTime",
                "maxResults": self._page_size,
            }
            if page_token:
                params["pageToken"] = page_token

            def send(params: dict[str, Any] = params) -> Any:
                self.stats.count_call(LIST_METHOD, 1)
                return self._events.list(**params).execute(num_retries=0)

            page, error, _ = decode_json_object(self._session.call(send, 1))
            if page is None:
                raise failure(ConnectionStatus.SYNC_ERROR, f"list_{error}")
            page_items = page.get("items") or []
            if not isinstance(page_items, list):
                raise failure(ConnectionStatus.SYNC_ERROR, "list_not_a_list")
            items.extend(page_items)
            page_token = page.get("nextPageToken")
            if not page_token:
                break
            if page_token in seen_tokens:
                raise failure(ConnectionStatus.SYNC_ERROR, "list_page_token_loop")
            seen_tokens.add(page_token)
        return events_in_window(items, window, google_event_start)
