"""Calendars in the sandbox: the model's expansion, Google Calendar through the real Google client,
Graph calendarView over HTTP, and both against `truth_events`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msal
import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from sandbox.workload.calendar_model import EventSpecError, expand
from sandbox.workload.event_spec import build_event
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GRAPH_CALENDARS_SCOPE,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    Mailbox,
    Workload,
)
from sandbox.workload.msids import graph_uid, ical_uid_from_graph, native_goid

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
LOGIN = "https://login.microsoftonline.com"
KINDS = (
    "organised",
    "invited",
    "internal",
    "all_day",
    "multi_day",
    "standup",
    "weekly",
    "cancelled",
    "midnight",
    "utc_midnight",
    "shared",
)
GOOGLE_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentative": "tentative",
    "needsAction": "none",
}
GRAPH_RESPONSES = {
    "accepted": "accepted",
    "declined": "declined",
    "tentativelyAccepted": "tentative",
    "none": "none",
    "notResponded": "none",
}

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=5, now=NOW, days=7, providers=("google", "microsoft"))


@pytest.fixture(scope="module")
def gbox(workload: Workload) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == "google")


@pytest.fixture(scope="module")
def mbox(workload: Workload, gbox: Mailbox) -> Mailbox:
    return next(
        m for m in workload.mailboxes if m.provider == "microsoft" and m.tenant == gbox.tenant
    )


def calendar(server: SandboxServer, mailbox: Mailbox) -> Any:
    creds = Credentials(
        token=None,
        refresh_token=mailbox.refresh_token,
        token_uri=server.base_url + "/token",
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        scopes=mailbox.scopes,
    )
    return build(
        "calendar",
        "v3",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": server.base_url + "/calendar/v3/"},
    )


def google_items(service: Any, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request = service.events().list(calendarId="primary", **params)
    while request is not None:
        page = request.execute()
        items.extend(page["items"])
        request = service.events().list_next(request, page)
    return items


class _Rewrite:
    def __init__(self, base: str) -> None:
        self.base, self.session = base, requests.Session()
        self.session.trust_env = False

    def get(self, url: str, **kw: Any) -> requests.Response:
        return self.session.get(url.replace(LOGIN, self.base, 1), **kw)

    def post(self, url: str, **kw: Any) -> requests.Response:
        return self.session.post(url.replace(LOGIN, self.base, 1), **kw)

    def close(self) -> None:
        self.session.close()


def graph_token(server: SandboxServer, mailbox: Mailbox) -> str:
    app = msal.ConfidentialClientApplication(
        MICROSOFT_CLIENT_ID,
        client_credential=MICROSOFT_CLIENT_SECRET,
        authority=f"{LOGIN}/{mailbox.entra_tenant_id}",
        instance_discovery=False,
        http_client=_Rewrite(server.base_url),
    )
    result = app.acquire_token_by_refresh_token(mailbox.refresh_token, [GRAPH_CALENDARS_SCOPE])
    return result["access_token"]


def calendar_view(
    http: requests.Session,
    server: SandboxServer,
    token: str,
    start: datetime,
    end: datetime,
    **extra: str,
) -> list[dict[str, Any]]:
    url: str | None = f"{server.base_url}/v1.0/me/calendarView"
    params: dict[str, str] | None = {
        "startDateTime": start.isoformat(),
        "endDateTime": end.isoformat(),
        "$top": "7",
        **extra,
    }
    items: list[dict[str, Any]] = []
    while url:
        answer = http.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["Preference-Applied"] == 'outlook.timezone="UTC"'
        body = answer.json()
        items.extend(body["value"])
        url, params = body.get("@odata.nextLink"), None
    return items


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def span(workload: Workload) -> tuple[datetime, datetime]:
    first, last = workload.days[0], workload.days[-1]
    return (
        datetime(first.year, first.month, first.day, tzinfo=UTC),
        datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1),
    )


# ---- the model ----------------------------------------------------------------------------------


def test_weekly_new_york_series_moves_an_hour_in_utc_across_the_dst_change() -> None:
    event = build_event(
        {
            "subject": "Sync",
            "start": "2026-10-19T09:00:00",
            "time_zone": "America/New_York",
            "duration_minutes": 45,
            "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=4",
        },
        "a@x.example",
        "A",
        NOW,
    )
    starts = [o.start for o in expand(event, datetime(2030, 1, 1, tzinfo=UTC))]
    assert [s.isoformat() for s in starts] == [
        "2026-10-19T13:00:00+00:00",
        "2026-10-26T13:00:00+00:00",
        "2026-11-02T14:00:00+00:00",  # New York left daylight time on Sunday 1 November
        "2026-11-09T14:00:00+00:00",
    ]
    berlin = build_event(
        {
            "start": "2026-10-23T09:00:00",
            "time_zone": "Europe/Berlin",
            "rrule": "FREQ=DAILY;COUNT=3",
        },
        "a@x.example",
        "A",
        NOW,
    )
    assert [o.start.hour for o in expand(berlin, NOW)] == [7, 7, 8]  # 25 October in Europe
    with pytest.raises(EventSpecError):
        build_event({"start": "2026-11-01T09:00:00", "rrule": "FREQ=MONTHLY"}, "a@x", "A", NOW)
    with pytest.raises(EventSpecError):
        build_event(
            {
                "start": "2026-11-02T09:00:00",
                "rrule": "FREQ=DAILY;COUNT=2",
                "exceptions": [{"original_start": "2026-11-05T09:00:00", "cancelled": True}],
            },
            "a@x",
            "A",
            NOW,
        )


def test_graph_uid_round_trips_both_kinds_of_uid() -> None:
    google = "abc123def456@google.com"
    wrapped = graph_uid(google)
    assert (
        wrapped.startswith("040000008200E00074C5B7101A82E008")
        and ical_uid_from_graph(wrapped) == google
    )
    occurrence = graph_uid(google, date(2026, 11, 20))
    assert occurrence != wrapped and ical_uid_from_graph(occurrence) == google
    native = native_goid("x", 1)
    assert (
        graph_uid(native) == native
        and ical_uid_from_graph(graph_uid(native, date(2026, 1, 2))) == native
    )


def test_generated_calendars_have_the_required_shapes(
    workload: Workload, server: SandboxServer
) -> None:
    for box in workload.mailboxes:
        events = workload.events[box.address]
        assert 10 <= len(events) <= 40
        kinds = Counter(e.kind for e in events)
        for kind in KINDS:
            assert kinds[kind] >= 1, (box.address, kind)
        rows = server.state.truth_events(box.address, *span(workload))
        assert 15 <= len(rows) <= 80
        assert {r["status"] for r in rows} <= {"confirmed", "cancelled"}
        responses = Counter(a["response"] for r in rows for a in r["attendees"])
        assert {"accepted", "declined", "tentative", "none"} <= set(responses)
        assert any(r["organized_by_owner"] for r in rows) and not all(
            r["organized_by_owner"] for r in rows
        )
        # Google lists cancelled exceptions (minimal form); Graph leaves deleted occurrences out
        # and shows only attendees' copies of cancelled meetings.
        cancelled = {
            (r["is_exception"], r["organized_by_owner"]) for r in rows if r["status"] == "cancelled"
        }
        if box.provider == "google":
            assert (True, True) in cancelled or (True, False) in cancelled
        else:
            assert cancelled <= {(False, False)}
        assert any(r["start_time_zone"] != "UTC" for r in rows)
    # The stand-up of each tenant is one series on every connected calendar of the tenant.
    for tenant in workload.tenants:
        boxes = [m.address for m in workload.mailboxes if m.tenant == tenant.slug]
        standups = {next(e.uid for e in workload.events[b] if e.kind == "standup") for b in boxes}
        assert len(standups) == 1
    assert (
        len(
            {
                m.address: len(v)
                for m, v in ((m, workload.events[m.address]) for m in workload.mailboxes)
            }
        )
        > 1
    )
    again = generate_workload(seed=5, now=NOW, days=7, providers=("google", "microsoft"))
    assert [e.uid for e in again.events[workload.mailboxes[0].address]] == [
        e.uid for e in workload.events[workload.mailboxes[0].address]
    ]


# ---- Google Calendar ----------------------------------------------------------------------------


def test_google_events_list_equals_truth_day_by_day(
    server: SandboxServer, workload: Workload, gbox: Mailbox
) -> None:
    service = calendar(server, gbox)
    for day in workload.days:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        items = google_items(
            service,
            timeMin=start.isoformat(),
            timeMax=end.isoformat(),
            singleEvents=True,
            showDeleted=True,
            orderBy="startTime",
            maxResults=5,
        )
        starting = []
        for item in items:
            if item["status"] == "cancelled" and "originalStartTime" not in item:
                assert set(item) == {"kind", "etag", "id", "status"}  # deleted: no time at all
                continue
            when = item.get("start") or item["originalStartTime"]
            first = (
                datetime.fromisoformat(when["date"]).replace(tzinfo=UTC)
                if "date" in when
                else utc(when["dateTime"])
            )
            assert first < end  # overlap semantics: nothing starting after the window
            if first >= start:
                starting.append((item, first))
        truth = server.state.truth_events(gbox.address, start, end)
        assert [i["id"] for i, _ in starting] == [t["event_id"] for t in truth]
        for (item, first), row in zip(starting, truth, strict=True):
            assert first.isoformat() == row["start"]
            assert item["status"] == row["status"]
            if row["listed_as"] == "minimal":
                keys = {"kind", "etag", "id", "status", "recurringEventId", "originalStartTime"}
                assert set(item) == keys
                continue
            assert item["iCalUID"] == row["ical_uid"]
            assert item["summary"] == row["subject"]
            assert item["organizer"]["email"] == row["organizer"]
            assert item["organizer"].get("self", False) == row["organized_by_owner"]
            invitees = [a for a in item.get("attendees", []) if not a.get("organizer")]
            assert [(a["email"], GOOGLE_RESPONSES[a["responseStatus"]]) for a in invitees] == [
                (a["email"], a["response"]) for a in row["attendees"]
            ]
            assert ("date" in item["start"]) == row["all_day"]
            if row["recurring"]:
                assert item["recurringEventId"] and item["originalStartTime"]
    stats = server.state.mailbox_stats(gbox.address)
    assert stats["calls_by_method"]["calendar.events.list"] >= len(workload.days)


def test_google_show_deleted_single_events_and_masters(
    server: SandboxServer, workload: Workload, gbox: Mailbox
) -> None:
    service = calendar(server, gbox)
    lo, hi = span(workload)
    window = {"timeMin": lo.isoformat(), "timeMax": hi.isoformat()}
    expanded = google_items(service, singleEvents=True, **window)
    with_deleted = google_items(service, singleEvents=True, showDeleted=True, **window)
    assert all(i["status"] != "cancelled" for i in expanded)
    cancelled = [i for i in with_deleted if i["status"] == "cancelled"]
    assert cancelled and len(with_deleted) == len(expanded) + len(cancelled)

    masters = google_items(service, singleEvents=False, **window)
    series = [i for i in masters if "recurrence" in i]
    assert series and all(s["recurrence"][0].startswith("RRULE:") for s in series)
    minimal = [i for i in masters if i["status"] == "cancelled"]
    minimal_keys = {"kind", "etag", "id", "status", "recurringEventId", "originalStartTime"}
    assert minimal and all(set(i) == minimal_keys for i in minimal)
    assert all("_" not in s["id"] for s in series)
    exceptions = [i for i in masters if "recurringEventId" in i]
    assert {i["recurringEventId"] for i in exceptions} <= {s["id"] for s in series}
    instances = {i["id"]: i for i in with_deleted if "recurringEventId" in i}
    assert {i["id"] for i in exceptions} < set(instances)  # exceptions only, not every instance
    moved = [i for i in exceptions if i["status"] == "confirmed"]
    assert moved and all(i == instances[i["id"]] for i in moved)
    with pytest.raises(HttpError) as refused:
        service.events().list(calendarId="primary", orderBy="startTime").execute()
    assert refused.value.status_code == 400


def test_google_time_zones_all_day_and_multi_day(server: SandboxServer, gbox: Mailbox) -> None:
    client = SandboxClient(server.base_url)
    client.inject_event(
        gbox.address, {"subject": "Holiday", "all_day": True, "start": "2026-11-12"}
    )
    multi = client.inject_event(
        gbox.address, {"subject": "Fair", "all_day": True, "start": "2026-11-09", "days": 3}
    )
    kolkata = client.inject_event(
        gbox.address,
        {
            "subject": "Standup India",
            "start": "2026-11-12T04:30:00",
            "time_zone": "Asia/Kolkata",
            "duration_minutes": 30,
            "attendees": [{"email": "raj@contoso.example", "response": "accepted"}],
        },
    )
    day = lambda d: (datetime(2026, 11, d, tzinfo=UTC), datetime(2026, 11, d + 1, tzinfo=UTC))  # noqa: E731
    assert {t["subject"] for t in client.truth_events(gbox.address, *day(12))} >= {"Holiday"}
    assert "Standup India" in {t["subject"] for t in client.truth_events(gbox.address, *day(11))}
    assert "Fair" in {t["subject"] for t in client.truth_events(gbox.address, *day(9))}
    assert "Fair" not in {t["subject"] for t in client.truth_events(gbox.address, *day(10))}

    service = calendar(server, gbox)
    lo, hi = day(10)
    overlapping = google_items(
        service, timeMin=lo.isoformat(), timeMax=hi.isoformat(), singleEvents=True
    )
    fair = next(i for i in overlapping if i["id"] == multi["event_id"])
    assert fair["start"] == {"date": "2026-11-09"} and fair["end"] == {"date": "2026-11-12"}
    lo, hi = day(11)
    items = google_items(
        service,
        timeMin=lo.isoformat(),
        timeMax=hi.isoformat(),
        singleEvents=True,
        timeZone="Asia/Kolkata",
    )
    india = next(i for i in items if i["id"] == kolkata["event_id"])
    assert india["start"] == {"dateTime": "2026-11-12T04:30:00+05:30", "timeZone": "Asia/Kolkata"}
    default_zone = google_items(
        service, timeMin=lo.isoformat(), timeMax=hi.isoformat(), singleEvents=True
    )
    india = next(i for i in default_zone if i["id"] == kolkata["event_id"])
    assert utc(india["start"]["dateTime"]) == datetime(2026, 11, 11, 23, 0, tzinfo=UTC)
    assert [a.get("organizer", False) for a in india["attendees"]] == [True, False]


def test_google_calendar_quota_and_faults(server: SandboxServer, gbox: Mailbox) -> None:
    service = calendar(server, gbox)
    server.state.set_quota(True, calendar_requests_per_minute=3)
    for _ in range(3):
        service.calendarList().list().execute()
    with pytest.raises(HttpError) as limited:
        service.calendars().get(calendarId="primary").execute()
    assert limited.value.status_code == 429
    assert limited.value.error_details[0]["reason"] == "rateLimitExceeded"
    server.state.set_quota(False)
    server.state.set_fault(gbox.address, "insufficient_permissions")
    with pytest.raises(HttpError) as denied:
        service.events().list(calendarId="primary").execute()
    assert denied.value.status_code == 403
    server.state.clear_faults()
    with pytest.raises(HttpError) as elsewhere:
        service.events().list(calendarId="someone@else.example").execute()
    assert elsewhere.value.status_code == 404


# ---- Graph calendarView -------------------------------------------------------------------------


def test_calendar_view_equals_truth(
    server: SandboxServer, workload: Workload, mbox: Mailbox, http: requests.Session
) -> None:
    token = graph_token(server, mbox)
    lo, hi = span(workload)
    items = calendar_view(http, server, token, lo, hi)
    starting = [i for i in items if lo <= utc(i["start"]["dateTime"][:19] + "+00:00") < hi]
    truth = server.state.truth_events(mbox.address, lo, hi)
    by_id = {i["id"]: i for i in starting}
    assert sorted(by_id) == sorted(t["event_id"] for t in truth)
    late = next(t for t in truth if t["kind"] == "midnight")  # 23:30-00:30 UTC
    next_day = utc(late["start"]).replace(hour=0, minute=0) + timedelta(days=1)
    overlapping = calendar_view(http, server, token, next_day, next_day + timedelta(days=1))
    assert late["event_id"] in {i["id"] for i in overlapping}
    kinds = Counter()
    for row in truth:
        item = by_id[row["event_id"]]
        kinds[item["type"]] += 1
        assert "uid" not in item  # beta only: a v1.0 answer has no such property
        assert ical_uid_from_graph(item["iCalUId"]) == row["ical_uid"]
        assert item["isCancelled"] == (row["status"] == "cancelled")
        assert item["subject"] == row["subject"] and item["isAllDay"] == row["all_day"]
        assert item["organizer"]["emailAddress"]["address"] == row["organizer"]
        assert item["isOrganizer"] == row["organized_by_owner"]
        got = [
            (a["emailAddress"]["address"], GRAPH_RESPONSES[a["status"]["response"]])
            for a in item["attendees"]
        ]
        assert got == [(a["email"], a["response"]) for a in row["attendees"]]
        if row["all_day"]:
            assert item["start"]["dateTime"] == row["start"][:10] + "T00:00:00.0000000"
        else:
            assert item["start"] == {"dateTime": row["start"][:19] + ".0000000", "timeZone": "UTC"}
        if row["recurring"]:
            assert item["seriesMasterId"] and item["originalStart"]
            assert item["type"] == ("exception" if row["is_exception"] else "occurrence")
    assert {"singleInstance", "occurrence", "exception"} <= set(kinds)
    occurrences = [i for i in starting if i["type"] != "singleInstance"]
    series = {ical_uid_from_graph(i["iCalUId"]) for i in occurrences}
    assert len({i["iCalUId"] for i in occurrences}) > len(series)
    chosen = calendar_view(http, server, token, lo, hi, **{"$select": "iCalUId,subject"})
    assert all(set(i) == {"@odata.etag", "id", "iCalUId", "subject"} for i in chosen)
    assert [i["iCalUId"] for i in chosen] == [i["iCalUId"] for i in items]

    missing = http.get(
        f"{server.base_url}/v1.0/me/calendarView", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "ErrorInvalidParameter"


def test_calendar_view_dst_series_prefer_zone_and_updates(
    server: SandboxServer, mbox: Mailbox, http: requests.Session
) -> None:
    client = SandboxClient(server.base_url)
    created = client.inject_event(
        mbox.address,
        {
            "subject": "NY weekly",
            "start": "2026-10-19T09:00:00",
            "time_zone": "America/New_York",
            "duration_minutes": 60,
            "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=5",
            "attendees": [{"email": "pat@contoso.example", "response": "tentative"}],
            "exceptions": [
                {"original_start": "2026-10-26T09:00:00", "cancelled": True},
                {"original_start": "2026-11-09T09:00:00", "start": "2026-11-10T15:00:00"},
            ],
        },
    )
    token = graph_token(server, mbox)
    lo, hi = datetime(2026, 10, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)
    ours = [i for i in calendar_view(http, server, token, lo, hi) if i["subject"] == "NY weekly"]
    assert [(i["start"]["dateTime"][:16], i["type"], i["isCancelled"]) for i in ours] == [
        ("2026-10-19T13:00", "occurrence", False),
        ("2026-11-02T14:00", "occurrence", False),  # 10-26 was deleted: not listed
        ("2026-11-10T20:00", "exception", False),
        ("2026-11-16T14:00", "occurrence", False),
    ]
    assert {i["seriesMasterId"] for i in ours} == {created["event_id"]}
    assert all(i["originalStartTimeZone"] == "Eastern Standard Time" for i in ours)
    new_york = http.get(
        f"{server.base_url}/v1.0/me/calendarView",
        params={"startDateTime": "2026-11-02T00:00:00Z", "endDateTime": "2026-11-03T00:00:00Z"},
        headers={
            "Authorization": f"Bearer {token}",
            "Prefer": 'outlook.timezone="Eastern Standard Time"',
        },
    ).json()["value"]
    weekly = next(i for i in new_york if i["subject"] == "NY weekly")
    assert weekly["start"] == {
        "dateTime": "2026-11-02T09:00:00.0000000",
        "timeZone": "Eastern Standard Time",
    }

    uid = created["uid"]
    client.update_event(mbox.address, uid, start="2026-10-19T10:30:00")
    rows = [r for r in client.truth_events(mbox.address, lo, hi) if r["ical_uid"] == uid]
    assert rows[0]["start"] == "2026-10-19T14:30:00+00:00"
    client.update_event(mbox.address, uid, status="cancelled")
    rows = [r for r in client.truth_events(mbox.address, lo, hi) if r["ical_uid"] == uid]
    assert rows == []  # the organiser's cancelled series is gone from their calendar
    listed = calendar_view(http, server, token, lo, hi)
    assert [i for i in listed if i["subject"] == "NY weekly"] == []
    with pytest.raises(requests.HTTPError):
        client.update_event(mbox.address, "no-such-uid", subject="x")


def test_same_meeting_on_a_google_and_a_microsoft_calendar(
    server: SandboxServer, workload: Workload, gbox: Mailbox, mbox: Mailbox, http: requests.Session
) -> None:
    lo, hi = span(workload)
    google_rows = {
        (r["ical_uid"], r["start"]): r for r in server.state.truth_events(gbox.address, lo, hi)
    }
    graph_rows = {
        (r["ical_uid"], r["start"]): r for r in server.state.truth_events(mbox.address, lo, hi)
    }
    shared = set(google_rows) & set(graph_rows)
    assert len(shared) >= 3  # the stand-up occurrences at least
    key = sorted(shared)[0]
    assert google_rows[key]["event_id"] != graph_rows[key]["event_id"]

    token = graph_token(server, mbox)
    items = calendar_view(http, server, token, lo, hi)
    graph_keys = {(ical_uid_from_graph(i["iCalUId"]), i["start"]["dateTime"]) for i in items}
    service = calendar(server, gbox)
    window = {"timeMin": lo.isoformat(), "timeMax": hi.isoformat()}
    google = google_items(service, singleEvents=True, showDeleted=True, **window)
    google_keys = {
        (i["iCalUID"], utc(i["start"]["dateTime"]).strftime("%Y-%m-%dT%H:%M:%S.0000000"))
        for i in google
        if "dateTime" in i.get("start", {})
    }
    assert len(graph_keys & google_keys) >= 3


@pytest.mark.parametrize(
    ("select", "unknown"),
    [
        ("uid", "uid"),  # beta only
        ("iCalUId,subject,uid", "uid"),
        ("iCalUId,occurrenceId", "occurrenceId"),  # beta only
        ("subject,nonsense", "nonsense"),
    ],
)
def test_calendar_view_refuses_a_select_of_anything_but_v1_properties(
    server: SandboxServer, mbox: Mailbox, http: requests.Session, select: str, unknown: str
) -> None:
    token = graph_token(server, mbox)
    answer = http.get(
        f"{server.base_url}/v1.0/me/calendarView",
        params={
            "startDateTime": "2026-11-16T00:00:00Z",
            "endDateTime": "2026-11-21T00:00:00Z",
            "$select": select,
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "RequestBroker--ParseUri"
    assert answer.json()["error"]["message"] == (
        f"Could not find a property named '{unknown}' on type 'microsoft.graph.event'."
    )
