"""The sandbox answers where providers' documented behaviour once differed from it (issue 7,
item 3): Gmail's 403 rate limits, unknown Google parameters, Graph's `$select=id` and nested
mail folders. Plain HTTP on 127.0.0.1, so nothing on the client's side hides an answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    Mailbox,
    Workload,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=13, now=NOW, days=2, providers=("google", "microsoft"))


@pytest.fixture(scope="module")
def gbox(workload: Workload) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == "google")


@pytest.fixture(scope="module")
def mbox(workload: Workload) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == "microsoft")


def google_token(server: SandboxServer, box: Mailbox, http: requests.Session) -> dict[str, str]:
    answer = http.post(
        server.base_url + "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
            "refresh_token": box.refresh_token,
        },
    )
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


def graph_token(server: SandboxServer, box: Mailbox, http: requests.Session) -> dict[str, str]:
    answer = http.post(
        f"{server.base_url}/{box.entra_tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "client_id": MICROSOFT_CLIENT_ID,
            "client_secret": MICROSOFT_CLIENT_SECRET,
            "refresh_token": box.refresh_token,
            "scope": "https://graph.microsoft.com/Mail.Read offline_access",
        },
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": "Bearer " + answer.json()["access_token"]}


# ---- Google ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "userRateLimitExceeded"), (403, "rateLimitExceeded"), (429, "rateLimitExceeded")],
)
def test_gmail_rate_limits_as_403_or_429_without_retry_after(
    server: SandboxServer, gbox: Mailbox, http: requests.Session, status: int, reason: str
) -> None:
    url = server.base_url + "/gmail/v1/users/me/labels"
    headers = google_token(server, gbox, http)
    fault = {"status": status, "reason": reason, "retry_after": None, "count": 1}
    server.state.set_fault(gbox.address, "rate_limit", **fault)
    limited = http.get(url, headers=headers)
    assert limited.status_code == status
    assert "Retry-After" not in limited.headers
    error = limited.json()["error"]
    assert error["errors"][0] == {
        "message": error["message"],
        "domain": "usageLimits",
        "reason": reason,
    }
    assert "Retry after" not in error["message"]
    assert http.get(url, headers=headers).status_code == 200


def test_rate_limit_fault_refuses_what_google_never_says(server: SandboxServer, gbox: Mailbox):
    with pytest.raises(ValueError, match="403 or 429"):
        server.state.set_fault(gbox.address, "rate_limit", status=401)
    with pytest.raises(ValueError, match="reason"):
        server.state.set_fault(gbox.address, "rate_limit", reason="insufficientPermissions")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/gmail/v1/users/me/messages", {"q": "in:inbox", "maxResult": "5"}),
        ("/gmail/v1/users/me/messages", {"format": "metadata"}),
        ("/gmail/v1/users/me/profile", {"verbose": "true"}),
        ("/calendar/v3/calendars/primary/events", {"singleEvents": "true", "showCancelled": "1"}),
        ("/calendar/v3/users/me/calendarList", {"timeMin": "2026-11-20T00:00:00Z"}),
    ],
)
def test_unknown_google_parameters_are_a_400(
    server: SandboxServer,
    gbox: Mailbox,
    http: requests.Session,
    path: str,
    params: dict[str, str],
) -> None:
    """What each method takes comes from its discovery document: `format` belongs to
    messages.get, not messages.list; `timeMin` to events.list, not calendarList.list."""
    answer = http.get(
        server.base_url + path, params=params, headers=google_token(server, gbox, http)
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and error["errors"][0]["reason"] == "invalid"
    unknown = next(iter(set(params) - {"q", "singleEvents"}))
    assert f'Unknown name "{unknown}"' in error["message"]
    standard = {"alt": "json", "prettyPrint": "false", "quotaUser": "x", "fields": "*"}
    known = http.get(
        server.base_url + path.replace("/messages", "/labels"),
        params=standard,
        headers=google_token(server, gbox, http),
    )
    assert known.status_code == 200


# ---- Graph mail -----------------------------------------------------------------------------


def test_select_id_alone_is_valid_on_messages(
    server: SandboxServer, mbox: Mailbox, http: requests.Session
) -> None:
    headers = graph_token(server, mbox, http)
    listed = http.get(
        server.base_url + "/v1.0/me/messages",
        params={"$select": "id", "$top": "5"},
        headers=headers,
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["value"]
    assert items and all(set(i) == {"@odata.etag", "id"} for i in items)
    one = http.get(
        f"{server.base_url}/v1.0/me/messages/{items[0]['id']}",
        params={"$select": "id"},
        headers=headers,
    )
    assert one.status_code == 200 and one.json()["id"] == items[0]["id"]
    unknown = http.get(
        server.base_url + "/v1.0/me/messages", params={"$select": "id,uid"}, headers=headers
    )
    assert unknown.status_code == 400


def _raw(subject: str, box: Mailbox) -> bytes:
    return (
        f"From: Ann <ann@contoso.example>\r\nTo: {box.address}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject}@contoso.example>\r\n"
        "Date: Thu, 19 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    ).encode()


def test_user_folders_nest_under_well_known_ones(
    server: SandboxServer, mbox: Mailbox, http: requests.Session
) -> None:
    """`FOLDER:` labels put messages in user folders: childFolderCount, /childFolders,
    parentFolderId and folder listings hold exactly what Graph would show."""
    placed = {
        "inbox/Projects": ["INBOX", "FOLDER:Projects"],
        "inbox/Projects/2026": ["INBOX", "FOLDER:Projects/2026"],
        "junkemail/Suspicious": ["SPAM", "FOLDER:Suspicious"],
        "deleteditems/Old/2025": ["TRASH", "FOLDER:Old/2025"],
    }
    ids = {
        path: server.state.inject_raw(mbox.address, _raw(path.replace("/", "-"), mbox), labels)[
            "id"
        ]
        for path, labels in placed.items()
    }
    headers = graph_token(server, mbox, http)
    base = server.base_url + "/v1.0/me/mailFolders"

    def get(url: str, **params: Any) -> Any:
        answer = http.get(url, params=params or None, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    try:
        top = get(base)["value"]
        assert "Projects" not in {f["displayName"] for f in top}  # top level: well-known only
        inbox, deleted = get(base + "/inbox"), get(base + "/deleteditems")
        assert inbox["childFolderCount"] == 1 and deleted["childFolderCount"] == 1
        (projects,) = get(f"{base}/{inbox['id']}/childFolders")["value"]
        assert projects["displayName"] == "Projects" and projects["parentFolderId"] == inbox["id"]
        assert projects["childFolderCount"] == 1 and projects["totalItemCount"] == 1
        (year,) = get(f"{base}/{projects['id']}/childFolders", **{"$select": "id"})["value"]
        assert set(year) == {"id"}
        (old,) = get(f"{base}/deleteditems/childFolders")["value"]
        (old_year,) = get(f"{base}/{old['id']}/childFolders")["value"]
        assert old["totalItemCount"] == 0 and old_year["displayName"] == "2025"

        message = get(f"{server.base_url}/v1.0/me/messages/{ids['inbox/Projects/2026']}")
        assert message["parentFolderId"] == year["id"]
        in_year = get(f"{base}/{year['id']}/messages")["value"]
        assert [m["id"] for m in in_year] == [ids["inbox/Projects/2026"]]
        in_projects = get(f"{base}/{projects['id']}/messages")["value"]
        assert [m["id"] for m in in_projects] == [ids["inbox/Projects"]]  # not the children's
        assert http.get(f"{base}/nope/childFolders", headers=headers).status_code == 404
    finally:
        for message_id in ids.values():
            server.state.delete_message(mbox.address, message_id)


# ---- calendars ------------------------------------------------------------------------------


def google_events(
    server: SandboxServer, box: Mailbox, http: requests.Session, **params: str
) -> list[dict[str, Any]]:
    answer = http.get(
        server.base_url + "/calendar/v3/calendars/primary/events",
        params={"singleEvents": "true", "showDeleted": "true", **params},
        headers=google_token(server, box, http),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_google_all_day_events_span_the_calendars_own_midnights(
    server: SandboxServer, gbox: Mailbox, http: requests.Session
) -> None:
    """acme-corp's calendars are in America/Los_Angeles: an all-day event on Nov 12 lasts from
    08:00Z on the 12th to 08:00Z on the 13th, so a range early on the 13th (UTC) still meets it
    and a range late on the 12th before 08:00Z does not."""
    created = server.state.inject_event(
        gbox.address, {"subject": "Offsite", "all_day": True, "start": "2026-11-12"}
    )

    def listed(time_min: str, time_max: str) -> bool:
        items = google_events(server, gbox, http, timeMin=time_min, timeMax=time_max)
        return created["event_id"] in {i["id"] for i in items}

    assert listed("2026-11-13T00:00:00Z", "2026-11-13T07:00:00Z")
    assert not listed("2026-11-12T00:00:00Z", "2026-11-12T07:59:00Z")
    assert listed("2026-11-12T07:00:00Z", "2026-11-12T08:30:00Z")
    assert not listed("2026-11-13T08:00:00Z", "2026-11-14T00:00:00Z")
    (truth,) = [
        r for r in server.state.truth_events(gbox.address) if r["event_id"] == created["event_id"]
    ]
    assert truth["start"] == "2026-11-12T00:00:00+00:00"  # still filed under its own date


def test_google_cancelled_exceptions_and_deleted_events_in_googles_forms(
    server: SandboxServer, gbox: Mailbox, http: requests.Session
) -> None:
    series = server.state.inject_event(
        gbox.address,
        {
            "uid": "fidelity-series",
            "subject": "Daily",
            "start": "2026-11-16T10:00:00",
            "duration_minutes": 15,
            "rrule": "FREQ=DAILY;COUNT=3",
            "exceptions": [{"original_start": "2026-11-17T10:00:00", "cancelled": True}],
        },
    )
    single = server.state.inject_event(
        gbox.address, {"uid": "fidelity-single", "subject": "Gone", "start": "2026-11-17T12:00"}
    )
    server.state.update_event(gbox.address, "fidelity-single", status="cancelled")
    window = {"timeMin": "2026-11-17T00:00:00Z", "timeMax": "2026-11-18T00:00:00Z"}
    items = {i["id"]: i for i in google_events(server, gbox, http, **window)}
    stub = items[f"{series['event_id']}_20261117T100000Z"]
    assert stub == {
        "kind": "calendar#event",
        "etag": stub["etag"],
        "id": stub["id"],
        "status": "cancelled",
        "recurringEventId": series["event_id"],
        "originalStartTime": stub["originalStartTime"],
    }
    assert stub["originalStartTime"]["dateTime"] == "2026-11-17T02:00:00-08:00"  # acme: LA time
    deleted = items[single["event_id"]]
    assert set(deleted) == {"kind", "etag", "id", "status"} and deleted["status"] == "cancelled"
    without = google_events(server, gbox, http, showDeleted="false", **window)
    assert {stub["id"], deleted["id"]}.isdisjoint(i["id"] for i in without)
    truth = {r["event_id"]: r for r in server.state.truth_events(gbox.address)}
    assert truth[stub["id"]]["listed_as"] == "minimal" and deleted["id"] not in truth


def test_graph_leaves_deleted_occurrences_out_and_flags_attendee_copies(
    server: SandboxServer, workload: Workload, http: requests.Session
) -> None:
    """The same meeting on the organiser's and an attendee's Outlook calendar: a deleted
    occurrence is on neither; a cancelled meeting is gone from the organiser's and stays on the
    attendee's with `isCancelled: true`."""
    organiser, attendee = [m for m in workload.mailboxes if m.provider == "microsoft"][:2]
    base = {
        "subject": "Review",
        "organizer": organiser.address,
        "attendees": [{"email": attendee.address, "response": "accepted"}],
    }
    series = {
        **base,
        "uid": "fidelity-weekly",
        "start": "2026-11-16T15:00:00",
        "rrule": "FREQ=DAILY;COUNT=3",
        "exceptions": [{"original_start": "2026-11-17T15:00:00", "cancelled": True}],
    }
    meeting = {**base, "uid": "fidelity-meeting", "start": "2026-11-17T18:00:00"}
    for box in (organiser, attendee):
        server.state.inject_event(box.address, series)
        server.state.inject_event(box.address, meeting)
        server.state.update_event(box.address, "fidelity-meeting", status="cancelled")

    def listed(box: Mailbox) -> dict[str, bool]:
        answer = http.get(
            server.base_url + "/v1.0/me/calendarView",
            params={
                "startDateTime": "2026-11-16T00:00:00Z",
                "endDateTime": "2026-11-19T00:00:00Z",
                "$select": "subject,start,isCancelled",
                "$top": "100",
            },
            headers={**graph_token(server, box, http), "Prefer": 'outlook.timezone="UTC"'},
        )
        assert answer.status_code == 200, answer.text
        return {
            i["start"]["dateTime"][:13]: i["isCancelled"]
            for i in answer.json()["value"]
            if i["subject"] == "Review"
        }

    assert listed(organiser) == {"2026-11-16T15": False, "2026-11-18T15": False}
    assert listed(attendee) == {
        "2026-11-16T15": False,
        "2026-11-17T18": True,
        "2026-11-18T15": False,
    }
