"""The Google sandbox over real HTTP on 127.0.0.1: plain requests and the real Google client."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from paths import ROOT
from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from sandbox.workload import rfc822
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GOOGLE_CLIENT_ID,
    GOOGLE_CLIENT_SECRET,
    GOOGLE_SCOPES,
    Mailbox,
    Workload,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=7, now=NOW, days=5)


@pytest.fixture(scope="module")
def box(workload: Workload) -> Mailbox:
    return workload.mailboxes[0]  # has a message at exactly 00:00:00.000 UTC every full day


@pytest.fixture(scope="module")
def other(workload: Workload) -> Mailbox:
    return workload.mailboxes[1]


def token_for(server: SandboxServer, mailbox: Mailbox, http: requests.Session) -> str:
    r = http.post(
        server.base_url + "/token",
        data={
            "grant_type": "refresh_token",
            "client_id": GOOGLE_CLIENT_ID,
            "client_secret": GOOGLE_CLIENT_SECRET,
            "refresh_token": mailbox.refresh_token,
        },
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def gmail(server: SandboxServer, mailbox: Mailbox) -> tuple[Any, Credentials]:
    creds = Credentials(
        token=None,
        refresh_token=mailbox.refresh_token,
        token_uri=server.base_url + "/token",
        client_id=GOOGLE_CLIENT_ID,
        client_secret=GOOGLE_CLIENT_SECRET,
        scopes=mailbox.scopes,
    )
    service = build(
        "gmail",
        "v1",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": server.base_url + "/"},
    )
    return service, creds


def day_window(workload: Workload, index: int = -2) -> tuple[datetime, datetime]:
    day = workload.days[index]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def list_all(service: Any, **kwargs: Any) -> list[str]:
    ids: list[str] = []
    request = service.users().messages().list(userId="me", **kwargs)
    while request is not None:
        page = request.execute()
        ids.extend(m["id"] for m in page.get("messages", []))
        request = service.users().messages().list_next(request, page)
    return ids


def error_of(response: requests.Response) -> dict[str, Any]:
    return response.json()["error"]


# ---- OAuth ----------------------------------------------------------------------------------


def test_token_endpoint_shapes_and_errors(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    base = server.base_url
    form = {
        "grant_type": "refresh_token",
        "client_id": GOOGLE_CLIENT_ID,
        "client_secret": GOOGLE_CLIENT_SECRET,
        "refresh_token": box.refresh_token,
    }
    ok = http.post(base + "/token", data=form)
    body = ok.json()
    assert ok.status_code == 200
    assert body["access_token"].startswith("ya29.sbx-")
    assert body["expires_in"] == 3599 and body["token_type"] == "Bearer"
    assert body["scope"] == " ".join(GOOGLE_SCOPES)
    assert GOOGLE_SCOPES[0] == "https://www.googleapis.com/auth/gmail.readonly"
    bad_grant = http.post(base + "/token", data={**form, "refresh_token": "1//sbx-nope"})
    assert bad_grant.status_code == 400
    assert bad_grant.json() == {
        "error": "invalid_grant",
        "error_description": "Token has been expired or revoked.",
    }
    bad_client = http.post(base + "/token", data={**form, "client_secret": "wrong"})
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"

    api = base + "/gmail/v1/users/me/profile"
    profile = http.get(api, headers={"Authorization": "Bearer " + body["access_token"]})
    assert profile.status_code == 200 and profile.json()["emailAddress"] == box.address
    for headers, reason in (
        ({}, "required"),
        ({"Authorization": "Bearer ya29.bogus"}, "authError"),
    ):
        denied = http.get(api, headers=headers)
        assert denied.status_code == 401
        assert error_of(denied)["status"] == "UNAUTHENTICATED"
        assert error_of(denied)["errors"][0]["reason"] == reason
    assert server.state.mailbox_stats(box.address)["token_refreshes"] == 1


def test_google_client_refreshes_and_lists_a_window_with_paging(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    service, creds = gmail(server, box)
    start, end = day_window(workload)
    q = f"after:{int(start.timestamp())} before:{int(end.timestamp())}"
    ids = list_all(service, q=q, maxResults=7)
    truth = server.state.truth(box.address, start, end, include_skipped=True)
    expected = [t["id"] for t in reversed(truth) if not {"SPAM", "TRASH"} & set(t["labels"])]
    assert ids == expected  # newest first, drafts included, spam and trash not
    assert len(ids) > 7  # so paging really happened
    assert creds.token and creds.token.startswith("ya29.sbx-")
    # The message at exactly 00:00:00.000 belongs to its own day, not the day before.
    midnight = [t for t in truth if t["internal_date_ms"] == int(start.timestamp() * 1000)]
    assert midnight and midnight[0]["id"] in ids
    before = list_all(service, q=f"before:{int(start.timestamp())}", maxResults=500)
    assert midnight[0]["id"] not in before
    stats = server.state.mailbox_stats(box.address)
    assert stats["token_refreshes"] == 1
    assert stats["calls_by_method"]["gmail.users.messages.list"] == -(-len(ids) // 7) + 1

    # An expired access token is refreshed transparently by google-auth on the 401.
    assert server.state.expire_access_tokens(box.address) >= 1
    assert list_all(service, q=q, maxResults=500) == expected
    assert server.state.mailbox_stats(box.address)["token_refreshes"] == 2


def test_label_filters_drafts_spam_and_trash(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    service, _ = gmail(server, box)
    everything = {m.id: m for m in workload.messages[box.address]}

    def labels_of(ids: list[str]) -> set[str]:
        return {label for i in ids for label in everything[i].label_ids}

    default = list_all(service, maxResults=500)
    assert "DRAFT" in labels_of(default)
    assert not {"SPAM", "TRASH"} & labels_of(default)
    no_drafts = list_all(service, q="-in:drafts", maxResults=500)
    assert "DRAFT" not in labels_of(no_drafts)
    assert len(no_drafts) < len(default)
    with_all = list_all(service, includeSpamTrash=True, maxResults=500)
    assert len(with_all) == len(everything)
    spam = list_all(service, q="in:spam", maxResults=500)
    assert spam and all("SPAM" in everything[i].label_ids for i in spam)
    sent = list_all(service, labelIds=["SENT"], maxResults=500)
    assert sent and all("SENT" in everything[i].label_ids for i in sent)
    customers = list_all(service, q="label:customers", maxResults=500)
    assert customers and all("Label_1" in everything[i].label_ids for i in customers)
    empty = service.users().messages().list(userId="me", q="label:no-such-label").execute()
    assert empty == {"resultSizeEstimate": 0}
    labels = service.users().labels().list(userId="me").execute()["labels"]
    assert {"INBOX", "SPAM", "Label_1"} <= {label["id"] for label in labels}


def test_get_in_each_format_serves_raw_header_values(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    service, _ = gmail(server, box)
    msgs = workload.messages[box.address]
    target = next(
        m
        for m in msgs
        if b"=?" in rfc822.split_head(m.raw)[0]
        and b"\r\n " in rfc822.split_head(m.raw)[0]
        and m.raw.count(b"Content-Type: multipart/") == 1
    )
    get = service.users().messages().get
    minimal = get(userId="me", id=target.id, format="minimal").execute()
    assert "payload" not in minimal and "raw" not in minimal
    assert minimal["internalDate"] == str(target.internal_date_ms)
    assert minimal["threadId"] == target.thread_id and minimal["labelIds"] == target.label_ids

    full = get(userId="me", id=target.id).execute()
    headers = full["payload"]["headers"]
    assert [(h["name"], h["value"]) for h in headers] == rfc822.raw_headers(target.raw)
    assert all("\n" not in h["value"] for h in headers)
    assert any("=?" in h["value"] for h in headers)  # encoded words left encoded
    assert full["payload"]["mimeType"].startswith("multipart/")
    assert full["payload"]["parts"][0]["partId"] == "0"
    text = base64.urlsafe_b64decode(full["payload"]["parts"][0]["body"]["data"]).decode()
    assert text.split()[0] in full["snippet"].replace("&#39;", "'")

    meta = get(
        userId="me", id=target.id, format="metadata", metadataHeaders=["from", "SUBJECT"]
    ).execute()
    assert {h["name"] for h in meta["payload"]["headers"]} == {"From", "Subject"}
    assert "parts" not in meta["payload"]

    raw = get(userId="me", id=target.id, format="raw").execute()
    assert base64.urlsafe_b64decode(raw["raw"]) == target.raw
    assert raw["sizeEstimate"] == len(target.raw)

    with pytest.raises(HttpError) as missing:
        get(userId="me", id="0000000000000000").execute()
    assert missing.value.status_code == 404
    assert missing.value.error_details[0]["reason"] == "notFound"


# ---- batch ----------------------------------------------------------------------------------


def test_batch_of_fifty_round_trips_through_the_google_client(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    service, _ = gmail(server, box)
    ids = [m.id for m in workload.messages[box.address]][:50]
    answers: dict[str, Any] = {}

    def callback(request_id: str, response: Any, exception: Exception | None) -> None:
        answers[request_id] = exception or response

    batch = BatchHttpRequest(callback=callback, batch_uri=server.base_url + "/batch/gmail/v1")
    for message_id in ids:
        batch.add(
            service.users().messages().get(userId="me", id=message_id, format="metadata"),
            request_id=message_id,
        )
    batch.execute()
    assert set(answers) == set(ids)
    assert all(isinstance(a, dict) and a["id"] == i for i, a in answers.items())
    stats = server.state.mailbox_stats(box.address)
    assert stats["batch_requests"] == 1 and stats["largest_batch"] == 50
    assert stats["calls_by_method"]["gmail.users.messages.get"] == 50
    assert stats["quota_units"] == 250

    too_big = BatchHttpRequest(callback=callback, batch_uri=server.base_url + "/batch/gmail/v1")
    for n in range(101):
        too_big.add(service.users().messages().get(userId="me", id=ids[0]), request_id=str(n))
    with pytest.raises(HttpError) as refused:
        too_big.execute()
    assert refused.value.status_code == 400


def test_batch_inner_parts_fall_back_to_the_outer_authorization(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    token = token_for(server, box, http)
    ids = [m.id for m in workload.messages[box.address]][:3]
    parts = []
    for n, message_id in enumerate([*ids, "0000000000000000"]):
        parts.append(
            f"--XYZ\r\nContent-Type: application/http\r\nContent-ID: <item{n}>\r\n\r\n"
            f"GET /gmail/v1/users/me/messages/{message_id}?format=minimal HTTP/1.1\r\n\r\n"
        )
    body = "".join(parts) + "--XYZ--\r\n"
    r = http.post(
        server.base_url + "/batch/gmail/v1",
        data=body,
        headers={
            "Content-Type": "multipart/mixed; boundary=XYZ",
            "Authorization": f"Bearer {token}",
        },
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    for n in range(4):
        assert f"Content-ID: <response-item{n}>" in r.text
    assert r.text.count("HTTP/1.1 200 OK") == 3 and r.text.count("HTTP/1.1 404 Not Found") == 1


# ---- faults ---------------------------------------------------------------------------------


def test_invalid_grant_revokes_tokens_and_refresh(
    server: SandboxServer, box: Mailbox, other: Mailbox, http: requests.Session
) -> None:
    service, _ = gmail(server, box)
    service.users().getProfile(userId="me").execute()
    other_service, _ = gmail(server, other)
    server.state.set_fault(box.address, "invalid_grant")
    with pytest.raises(RefreshError) as refused:
        service.users().getProfile(userId="me").execute()
    assert refused.value.args[1]["error"] == "invalid_grant"
    assert other_service.users().getProfile(userId="me").execute()["emailAddress"] == other.address
    server.state.clear_faults(box.address)
    fresh, _ = gmail(server, box)
    assert fresh.users().getProfile(userId="me").execute()["emailAddress"] == box.address
    assert server.state.mailbox_stats(box.address)["token_failures"] >= 1


@pytest.mark.parametrize(
    ("kind", "status", "reason", "status_text", "message"),
    [
        (
            "insufficient_permissions",
            403,
            "insufficientPermissions",
            "PERMISSION_DENIED",
            "Request had insufficient authentication scopes.",
        ),
        (
            "account_suspended",
            400,
            "failedPrecondition",
            "FAILED_PRECONDITION",
            "Mail service not enabled",
        ),
    ],
)
def test_credential_faults_answer_like_gmail(
    server: SandboxServer,
    box: Mailbox,
    other: Mailbox,
    kind: str,
    status: int,
    reason: str,
    status_text: str,
    message: str,
    http: requests.Session,
) -> None:
    service, _ = gmail(server, box)
    server.state.set_fault(box.address, kind)
    with pytest.raises(HttpError) as failed:
        service.users().messages().list(userId="me").execute()
    assert failed.value.status_code == status
    body = json.loads(failed.value.content)["error"]
    assert body["status"] == status_text and body["message"] == message
    assert body["errors"][0]["reason"] == reason
    other_token = token_for(server, other, http)
    fine = http.get(
        server.base_url + "/gmail/v1/users/me/messages",
        headers={"Authorization": f"Bearer {other_token}"},
    )
    assert fine.status_code == 200


def test_rate_limit_and_server_error_faults_by_count_and_duration(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    url = server.base_url + "/gmail/v1/users/me/labels"
    headers = {"Authorization": f"Bearer {token_for(server, box, http)}"}
    server.state.set_fault(box.address, "rate_limit", count=2, retry_after=3)
    first, second, third = (http.get(url, headers=headers) for _ in range(3))
    for limited in (first, second):
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        assert error_of(limited)["status"] == "RESOURCE_EXHAUSTED"
        assert error_of(limited)["errors"][0]["reason"] == "rateLimitExceeded"
    assert third.status_code == 200

    server.state.set_fault(box.address, "server_error", count=1)
    down = http.get(url, headers=headers)
    assert down.status_code == 503 and error_of(down)["errors"][0]["reason"] == "backendError"
    assert http.get(url, headers=headers).status_code == 200

    server.state.set_fault(box.address, "server_error", status=500, duration=0.3)
    assert http.get(url, headers=headers).status_code == 500
    assert http.get(url, headers=headers).status_code == 500
    time.sleep(0.35)
    assert http.get(url, headers=headers).status_code == 200
    assert server.state.mailbox_stats(box.address)["faults_injected"] == 5


def test_rate_limit_counts_batch_parts_one_each(
    server: SandboxServer, workload: Workload, box: Mailbox
) -> None:
    service, _ = gmail(server, box)
    service.users().getProfile(userId="me").execute()
    server.state.set_fault(box.address, "rate_limit", count=3)
    results: dict[str, Any] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, exc or resp),
        batch_uri=server.base_url + "/batch/gmail/v1",
    )
    for m in workload.messages[box.address][:10]:
        batch.add(service.users().messages().get(userId="me", id=m.id, format="minimal"))
    batch.execute()
    limited = [r for r in results.values() if isinstance(r, HttpError)]
    assert len(limited) == 3 and all(r.status_code == 429 for r in limited)
    assert sum(isinstance(r, dict) for r in results.values()) == 7


def test_slow_fault_delays_each_request(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    headers = {"Authorization": f"Bearer {token_for(server, box, http)}"}
    server.state.set_fault(box.address, "slow", seconds=0.3)
    started = time.perf_counter()
    assert http.get(server.base_url + "/gmail/v1/users/me/labels", headers=headers).ok
    assert time.perf_counter() - started >= 0.3


def test_malformed_variants(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    headers = {"Authorization": f"Bearer {token_for(server, box, http)}"}
    ids = [m.id for m in workload.messages[box.address]]
    broken, healthy = ids[0], ids[1]

    def get(message_id: str, fmt: str = "full") -> requests.Response:
        return http.get(
            f"{server.base_url}/gmail/v1/users/me/messages/{message_id}",
            params={"format": fmt},
            headers=headers,
        )

    for variant in ("invalid_json", "not_object", "missing_payload", "bad_headers"):
        server.state.set_fault(box.address, "malformed", ids=[broken], variant=variant)
        answer = get(broken)
        assert answer.status_code == 200
        assert "payload" in get(healthy).json()
        if variant == "invalid_json":
            with pytest.raises(ValueError):
                json.loads(answer.content)
        elif variant == "not_object":
            assert isinstance(answer.json(), list)
        elif variant == "missing_payload":
            assert answer.json()["id"] == broken and "payload" not in answer.json()
        else:
            got = {h["name"]: h["value"] for h in answer.json()["payload"]["headers"]}
            assert got["From"] == "<<>>@@" and got["Date"] == "not a date"
            assert "Message-ID" not in got and "=?x-unknown-charset?" in got["Subject"]
            raw = base64.urlsafe_b64decode(get(broken, "raw").json()["raw"])
            assert b"From: <<>>@@" in raw and b"Message-ID" not in rfc822.split_head(raw)[0]

    server.state.set_fault(box.address, "malformed", fraction=0.5, variant="not_object")
    picks = [isinstance(get(i, "minimal").json(), list) for i in ids[:40]]
    assert 5 < sum(picks) < 35
    assert picks == [isinstance(get(i, "minimal").json(), list) for i in ids[:40]]


def test_faults_over_the_control_api(server: SandboxServer, box: Mailbox) -> None:
    client = SandboxClient(server.base_url)
    assert client.health()
    client.set_fault(box.address, "rate_limit", count=5, retry_after=2)
    client.set_fault(box.address, "slow", seconds=0.01)
    listed = {f["kind"]: f for f in client.faults()}
    assert listed["rate_limit"]["remaining_calls"] == 5
    assert listed["rate_limit"]["params"]["retry_after"] == 2
    with pytest.raises(requests.HTTPError):
        client.set_fault(box.address, "no_such_fault")
    client.clear_faults(box.address)
    assert client.faults() == []


# ---- quota and stats ------------------------------------------------------------------------


def test_quota_enforcement_keeps_every_second_under_the_limit(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    client = SandboxClient(server.base_url)
    assert client.set_quota(True, units_per_second=100) == {
        "enabled": True,
        "units_per_second": 100,
        "calendar_requests_per_minute": 600,
    }
    headers = {"Authorization": f"Bearer {token_for(server, box, http)}"}
    message_id = workload.messages[box.address][0].id
    url = f"{server.base_url}/gmail/v1/users/me/messages/{message_id}"
    statuses = []
    rejected: requests.Response | None = None
    deadline = time.monotonic() + 1.3
    while time.monotonic() < deadline:
        r = http.get(url, params={"format": "minimal"}, headers=headers)
        statuses.append(r.status_code)
        if r.status_code == 429:
            rejected = r
    assert rejected is not None and statuses.count(200) >= 20
    assert rejected.headers["Retry-After"] == "1"
    assert error_of(rejected)["errors"][0]["reason"] == "rateLimitExceeded"
    stats = client.stats()["mailboxes"][box.address]
    assert stats["max_units_in_any_1s_window"] <= 100
    assert stats["rejected_for_quota"] == statuses.count(429)
    assert stats["quota_units"] == 5 * statuses.count(200)
    assert stats["http_requests"] == len(statuses)

    time.sleep(1.05)
    service, _ = gmail(server, box)
    results: dict[str, Any] = {}
    batch = BatchHttpRequest(
        callback=lambda rid, resp, exc: results.__setitem__(rid, exc or resp),
        batch_uri=server.base_url + "/batch/gmail/v1",
    )
    for m in workload.messages[box.address][:30]:
        batch.add(service.users().messages().get(userId="me", id=m.id, format="minimal"))
    batch.execute()
    codes = sorted(getattr(r, "status_code", 200) for r in results.values())
    assert codes.count(200) == 20 and codes.count(429) == 10
    client.reset_stats()
    assert client.stats()["mailboxes"] == {}


def test_concurrent_clients_are_counted_exactly(
    server: SandboxServer, workload: Workload, box: Mailbox, other: Mailbox
) -> None:
    def worker(mailbox: Mailbox) -> None:
        session = requests.Session()
        session.trust_env = False
        headers = {"Authorization": f"Bearer {token_for(server, mailbox, session)}"}
        for m in workload.messages[mailbox.address][:25]:
            url = f"{server.base_url}/gmail/v1/users/me/messages/{m.id}"
            assert session.get(url, headers=headers, params={"format": "metadata"}).ok

    threads = [threading.Thread(target=worker, args=(b,)) for b in (box, other) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = server.state.stats()["mailboxes"]
    for mailbox in (box, other):
        assert stats[mailbox.address]["api_calls"] == 100
        assert stats[mailbox.address]["token_refreshes"] == 4


# ---- injection and truth --------------------------------------------------------------------


def test_injection_threading_labels_and_truth(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    client = SandboxClient(server.base_url)
    when = NOW - timedelta(hours=2)
    msg = EmailMessage()
    msg["From"] = '"Weiß, Annette" <A.Weiss@Mueller-Soehne.example>'
    msg["To"] = box.address
    msg["Cc"] = "Ivy <ivy@contoso.example>"
    msg["Subject"] = "Grüße – injected"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = "<injected-1@mueller-soehne.example>"
    msg.set_content("hello")
    created = client.inject_raw(box.address, msg.as_bytes(), labels=["INBOX", "UNREAD"])
    window = (when - timedelta(minutes=1), when + timedelta(minutes=1))
    truth = client.truth(box.address, *window)
    row = next(t for t in truth if t["id"] == created["id"])
    assert row["subject"] == "Grüße – injected"
    assert row["from"] == "a.weiss@mueller-soehne.example"
    assert row["cc"] == ["ivy@contoso.example"]
    assert row["internal_date"] == when.isoformat()
    assert row["internet_message_id"] == "<injected-1@mueller-soehne.example>"

    reply = EmailMessage()
    reply["From"] = box.address
    reply["To"] = "a.weiss@mueller-soehne.example"
    reply["Subject"] = "Re: injected"
    reply["In-Reply-To"] = "<injected-1@mueller-soehne.example>"
    reply.set_content("thanks")
    later = int((when + timedelta(seconds=30)).timestamp() * 1000)
    threaded = client.inject_raw(box.address, reply.as_bytes(), ["SENT"], internal_date_ms=later)
    assert threaded["threadId"] == created["threadId"] != threaded["id"]

    service, _ = gmail(server, box)
    q = f"after:{int(window[0].timestamp())} before:{int(window[1].timestamp())}"
    assert created["id"] in list_all(service, q=q)
    client.set_labels(box.address, created["id"], ["TRASH"])
    assert created["id"] not in list_all(service, q=q)
    assert created["id"] not in {t["id"] for t in client.truth(box.address, *window)}
    assert created["id"] in {
        t["id"] for t in client.truth(box.address, *window, include_skipped=True)
    }
    client.delete_message(box.address, threaded["id"])
    with pytest.raises(HttpError) as gone:
        service.users().messages().get(userId="me", id=threaded["id"]).execute()
    assert gone.value.status_code == 404


def test_workload_endpoint_hands_out_the_consent(server: SandboxServer, workload: Workload) -> None:
    served = SandboxClient(server.base_url).workload()
    assert served["google_client"]["client_id"] == GOOGLE_CLIENT_ID
    assert {m["address"]: m["refresh_token"] for m in served["mailboxes"]} == {
        m.address: m.refresh_token for m in workload.mailboxes
    }
    assert all(m["provider"] == "google" for m in served["mailboxes"])
    assert served["tenants"][0]["contacts"][0]["email"]


def test_command_line_serves_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--days", "1", "--tenants", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        assert SandboxClient(base).health()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_closes_keep_alive_connections() -> None:
    small = generate_workload(seed=3, now=NOW, tenants=1, mailboxes_per_tenant=1, days=1)
    session = requests.Session()
    session.trust_env = False
    with SandboxServer(small) as sandbox:
        base = sandbox.base_url
        token = token_for(sandbox, small.mailboxes[0], session)
        headers = {"Authorization": f"Bearer {token}"}
        assert session.get(base + "/gmail/v1/users/me/profile", headers=headers).ok
        bad_id = session.get(base + "/gmail/v1/users/me/messages/not-an-id!", headers=headers)
        assert bad_id.status_code == 400
    with pytest.raises(requests.ConnectionError):
        session.get(base + "/gmail/v1/users/me/profile", headers=headers, timeout=2)
