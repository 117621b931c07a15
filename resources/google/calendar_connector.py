"""The owner's primary Google Calendar through google-api-python-client, behind `CalendarConnector`.

`events.list` with `singleEvents` expands series into occurrences and `showDeleted` keeps the
cancelled ones (the sync records them as cancelled). Google lists a cancelled exception with
only its id, status, series id and original start: it is filed at its original start and takes
the series' iCalUID from the master (one events.get per series). A deleted event comes with only
its id and status: it is passed on with no day (the sync cancels what it holds under that id).

Google matches events to `timeMin`/`timeMax` by overlap, all-day ones in the calendar's own
zone, so one event can be listed for two windows; each occurrence is kept only for the window
its start lies in (an all-day event: the UTC midnight of its date), exactly as the parser files
it. An all-day date spans at most 14 hours either side of its UTC day, so the window's request
always meets it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from resources.google.client import GoogleApiSession, UndecodedJsonModel, decode_json_object
from resources.google.errors import failure, owner_mismatch
from resources.google.event_parsing import google_event_start
from resources.google.settings import CALENDAR_PAGE_SIZE, GoogleSettings
from vocabulary.connectors import ApiStats
from vocabulary.events import events_in_window
from vocabulary.records import RawEvent
from vocabulary.status import ConnectionStatus
from vocabulary.windows import SyncWindow

LIST_METHOD = "calendar.events.list"
GET_METHOD = "calendar.events.get"
SERIES_FIELDS = ("iCalUID", "summary", "organizer", "attendees", "location")
"""What a cancelled exception in Google's minimal form takes from its series master."""
CALENDAR_GET_METHOD = "calendar.calendars.get"
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
        settings: GoogleSettings,
    ) -> None:
        base = settings.root
        self.owner_email = owner_email
        self.stats = ApiStats()
        self._page_size = max(1, min(settings.calendar_page_size, CALENDAR_PAGE_SIZE))
        self._session = GoogleApiSession(
            refresh_token,
            settings,
            stats=self.stats,
            units_per_window=settings.calendar_requests_per_minute,
            window_seconds=60.0,
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
        self._calendars = service.calendars()
        self._calendar_id: str | None = None

    def __repr__(self) -> str:
        return f"GoogleCalendarConnector(owner_email={self.owner_email!r})"

    def close(self) -> None:
        self._session.close()

    def owner_calendar_id(self) -> str:
        """The primary calendar's id, once it is proven to be the owner's.

        A primary calendar's id is its account's address. Another account's token would list
        its own primary calendar (or, addressed by the owner's address, a calendar merely shared
        with it), so the token's primary must be the owner's before any event is read.
        """
        if self._calendar_id is None:

            def send() -> Any:
                self.stats.count_call(CALENDAR_GET_METHOD, 1)
                return self._calendars.get(calendarId="primary").execute(num_retries=0)

            calendar, error, _ = decode_json_object(
                self._session.call(send, 1, CALENDAR_GET_METHOD)
            )
            if calendar is None:
                raise failure(ConnectionStatus.SYNC_ERROR, f"calendar_{error}")
            calendar_id = str(calendar.get("id") or "").strip().lower()
            if calendar_id != self.owner_email.strip().lower():
                raise owner_mismatch()
            self._calendar_id = calendar_id
        return self._calendar_id

    def list_events(self, window: SyncWindow) -> list[RawEvent]:
        """Every occurrence starting in `window`, cancelled ones included, over all pages."""
        calendar_id = self.owner_calendar_id()
        items: list[Any] = []
        seen_tokens: set[str] = set()
        page_token: str | None = None
        while True:
            params: dict[str, Any] = {
                "calendarId": calendar_id,
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

            page, error, _ = decode_json_object(self._session.call(send, 1, LIST_METHOD))
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
        events = events_in_window(items, window, google_event_start)
        self._complete_cancelled_exceptions(events)
        return events

    def _complete_cancelled_exceptions(self, events: list[RawEvent]) -> None:
        """Gives each cancelled exception in Google's minimal form (id, status,
        recurringEventId, originalStartTime) its series' iCalUID, title and people, read once
        per series with events.get, so it is still the same meeting as other calendars' copies."""
        stubs: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            payload = event.payload
            if (
                isinstance(payload, dict)
                and payload.get("status") == "cancelled"
                and "iCalUID" not in payload
                and isinstance(payload.get("recurringEventId"), str)
            ):
                stubs.setdefault(payload["recurringEventId"], []).append(payload)
        for series_id, payloads in stubs.items():
            master = self._series_master(series_id)
            for payload in payloads:
                for key in SERIES_FIELDS:
                    if key in master and key not in payload:
                        payload[key] = master[key]

    def _series_master(self, series_id: str) -> dict[str, Any]:
        """A series master by id, or {} when Google no longer has it (404) or sends garbage."""

        def send() -> Any:
            self.stats.count_call(GET_METHOD, 1)
            try:
                request = self._events.get(calendarId=self.owner_calendar_id(), eventId=series_id)
                return request.execute(num_retries=0)
            except HttpError as exc:
                if exc.status_code == 404:
                    return None
                raise

        master, _, _ = decode_json_object(self._session.call(send, 1, GET_METHOD))
        return master or {}
