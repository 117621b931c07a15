"""The sandbox's Gmail and Calendar answers checked against Google's discovery documents (the ones
google-api-python-client ships): every property name and type of every answer of the methods
the connectors use, through `sandbox.google.discovery.schema_problems`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.http import BatchHttpRequest

from sandbox.google.discovery import method, response_schema, schema_problems
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, Mailbox, Workload

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=17, now=NOW, days=3, messages_per_mailbox_per_day=15)


@pytest.fixture(scope="module")
def box(workload: Workload) -> Mailbox:
    return workload.mailboxes[0]


@pytest.fixture
def get(server: SandboxServer, box: Mailbox, http: requests.Session) -> Any:
    token = http.post(
        server.base_url + "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
            "refresh_token": box.refresh_token,
        },
    ).json()["access_token"]

    def call(path: str, **params: Any) -> Any:
        answer = http.get(
            server.base_url + path, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    return call


def assert_conforms(method_id: str, answer: Any) -> None:
    api = method_id.split(".", 1)[0]
    assert schema_problems(api, response_schema(method_id), answer) == []


# ---- the validator itself -------------------------------------------------------------------


def test_validator_finds_unknown_properties_and_wrong_types() -> None:
    schema = response_schema("gmail.users.messages.get")
    good = {"id": "1", "threadId": "1", "internalDate": "1700000000000", "sizeEstimate": 10}
    assert schema_problems("gmail", schema, good) == []
    bad = {
        **good,
        "internalDate": 1700000000000,  # int64 travels as a decimal string
        "sizeEstimate": "10",
        "labelIds": "INBOX",
        "payload": {"headers": [{"name": "From", "valu": "x"}]},
        "threadID": "1",
    }
    assert sorted(schema_problems("gmail", schema, bad)) == [
        "$.internalDate: 1700000000000 is not string (int64)",
        "$.labelIds: str, not an array",
        "$.payload.headers[0].valu: not a property of the schema",
        "$.sizeEstimate: '10' is not integer (int32)",
        "$.threadID: not a property of the schema",
    ]
    event = response_schema("calendar.events.get")
    assert schema_problems("calendar", event, {"start": {"dateTime": "2026-11-20T10:00:00"}}) == [
        "$.start.dateTime: '2026-11-20T10:00:00' is not string (date-time)"  # no offset
    ]
    assert schema_problems("calendar", event, {"extendedProperties": {"private": {"a": 1}}}) == [
        "$.extendedProperties.private.a: 1 is not string"  # additionalProperties
    ]


# ---- Gmail ----------------------------------------------------------------------------------


def test_gmail_answers_conform(
    server: SandboxServer, workload: Workload, box: Mailbox, get: Any
) -> None:
    listed = get("/gmail/v1/users/me/messages", maxResults=5, q="-in:drafts")
    assert listed["messages"] and listed["nextPageToken"]
    assert_conforms("gmail.users.messages.list", listed)
    assert_conforms("gmail.users.messages.list", get("/gmail/v1/users/me/messages", q="in:nowhere"))
    messages = workload.messages[box.address]
    for message in messages[:8]:
        for fmt in ("metadata", "minimal", "full", "raw"):
            answer = get(
                f"/gmail/v1/users/me/messages/{message.id}",
                format=fmt,
                metadataHeaders=["From", "To", "Subject", "Message-ID"],
            )
            assert_conforms("gmail.users.messages.get", answer)
    assert_conforms("gmail.users.getProfile", get("/gmail/v1/users/me/profile"))
    assert_conforms("gmail.users.labels.list", get("/gmail/v1/users/me/labels"))
    assert method("gmail.users.history.list")  # the mail-mirror work checks its own answers


def test_gmail_batch_answers_conform(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    """Each part of a multipart batch answer, as the real client hands it to its callback."""
    credentials = Credentials(
        token=None,
        refresh_token=box.refresh_token,
        token_uri=server.base_url + "/token",
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
    )
    service = build(
        "gmail",
        "v1",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": server.base_url + "/"},
    )
    answers: dict[str, Any] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: answers.__setitem__(rid, exc or resp),
        batch_uri=server.base_url + "/batch/gmail/v1",
    )
    for message in workload.messages[box.address][:20]:
        batch.add(
            service.users()
            .messages()
            .get(userId="me", id=message.id, format="metadata", metadataHeaders=["From", "Date"])
        )
    batch.execute()
    assert len(answers) == 20
    for answer in answers.values():
        assert_conforms("gmail.users.messages.get", answer)


# ---- Calendar -------------------------------------------------------------------------------


def test_calendar_answers_conform(server: SandboxServer, workload: Workload, get: Any) -> None:
    """events.list in the forms the connector and Google's own docs use (expanded with deleted
    ones, and series masters with their exceptions), events.get, the calendar and its list."""
    first = datetime.combine(workload.days[0], datetime.min.time(), UTC) - timedelta(weeks=2)
    window = {"timeMin": first.isoformat(), "timeMax": (first + timedelta(weeks=3)).isoformat()}
    path = "/calendar/v3/calendars/primary/events"
    expanded = get(path, singleEvents="true", showDeleted="true", orderBy="startTime", **window)
    forms = {frozenset(i) for i in expanded["items"]}
    assert frozenset({"kind", "etag", "id", "status"}) in forms  # a deleted meeting
    assert any("originalStartTime" in f and "start" not in f for f in forms)  # cancelled exception
    assert_conforms("calendar.events.list", expanded)
    masters = get(path, singleEvents="false", showDeleted="true", maxResults=7, **window)
    assert masters["nextPageToken"] and any("recurrence" in i for i in masters["items"])
    assert_conforms("calendar.events.list", masters)
    series = next(i for i in masters["items"] if "recurrence" in i)
    assert_conforms("calendar.events.get", get(f"{path}/{series['id']}"))
    assert_conforms("calendar.calendars.get", get("/calendar/v3/calendars/primary"))
    assert_conforms("calendar.calendarList.list", get("/calendar/v3/users/me/calendarList"))
