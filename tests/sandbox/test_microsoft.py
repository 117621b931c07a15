"""The Microsoft sandbox over real HTTP on 127.0.0.1: real msal for Entra, plain HTTP for Graph."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import pytest
import requests

from sandbox.client import SandboxClient
from sandbox.server import SandboxServer
from sandbox.workload import rfc822
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import (
    GRAPH_CALENDARS_SCOPE,
    GRAPH_MAIL_SCOPE,
    MICROSOFT_CLIENT_ID,
    MICROSOFT_CLIENT_SECRET,
    Mailbox,
    Workload,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
LOGIN = "https://login.microsoftonline.com"
SCOPES = [GRAPH_MAIL_SCOPE, GRAPH_CALENDARS_SCOPE]


class RewritingClient:
    """msal's `http_client`: sends https://login.microsoftonline.com/... to the sandbox."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.urls: list[str] = []

    def _url(self, url: str) -> str:
        rewritten = self.base_url + url[len(LOGIN) :] if url.startswith(LOGIN) else url
        self.urls.append(rewritten)
        return rewritten

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self._url(url), **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self._url(url), **kwargs)

    def close(self) -> None:
        self.session.close()


pytestmark = pytest.mark.usefixtures("clean_sandbox")


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=11, now=NOW, days=3, providers=("google", "microsoft"))


@pytest.fixture(scope="module")
def box(workload: Workload) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == "microsoft")


@pytest.fixture(scope="module")
def other(workload: Workload, box: Mailbox) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == "microsoft" and m != box)


def app_for(
    server: SandboxServer, mailbox: Mailbox, secret: str = MICROSOFT_CLIENT_SECRET
) -> tuple[msal.ConfidentialClientApplication, RewritingClient]:
    client = RewritingClient(server.base_url)
    app = msal.ConfidentialClientApplication(
        MICROSOFT_CLIENT_ID,
        client_credential=secret,
        authority=f"{LOGIN}/{mailbox.entra_tenant_id}",
        instance_discovery=False,
        http_client=client,
    )
    return app, client


def token_for(server: SandboxServer, mailbox: Mailbox) -> str:
    app, _ = app_for(server, mailbox)
    result = app.acquire_token_by_refresh_token(mailbox.refresh_token, scopes=SCOPES)
    assert "access_token" in result, result
    return result["access_token"]


def graph(http: requests.Session, server: SandboxServer, token: str, path: str, **params: Any):
    url = path if path.startswith("http") else f"{server.base_url}/v1.0{path}"
    return http.get(url, params=params or None, headers={"Authorization": f"Bearer {token}"})


def day_window(workload: Workload, index: int = -2) -> tuple[datetime, datetime]:
    day = workload.days[index]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- identity platform --------------------------------------------------------------------------


def test_msal_refresh_token_then_silent_from_the_cache(server: SandboxServer, box: Mailbox) -> None:
    app, client = app_for(server, box)
    result = app.acquire_token_by_refresh_token(box.refresh_token, scopes=SCOPES)
    assert result.get("token_type") == "Bearer", result
    assert result["access_token"].count(".") == 2
    assert result["id_token_claims"]["tid"] == box.entra_tenant_id
    assert result["id_token_claims"]["oid"] == box.user_id
    assert result["refresh_token"] != box.refresh_token  # rotated
    assert set(result["scope"].split()) >= set(SCOPES)
    assert any(".well-known/openid-configuration" in u for u in client.urls)
    assert all(u.startswith(server.base_url) for u in client.urls)

    accounts = app.get_accounts()
    assert [a["username"] for a in accounts] == [box.address]
    assert accounts[0]["home_account_id"] == f"{box.user_id}.{box.entra_tenant_id}"
    silent = app.acquire_token_silent(SCOPES, account=accounts[0])
    assert silent and silent["access_token"] == result["access_token"]
    assert server.state.mailbox_stats(box.address)["token_refreshes"] == 1

    # A forced refresh goes through the cached (rotated) refresh token; the old one still works.
    forced = app.acquire_token_silent(SCOPES, account=accounts[0], force_refresh=True)
    assert forced and forced["access_token"] != result["access_token"]
    again, _ = app_for(server, box)
    assert "access_token" in again.acquire_token_by_refresh_token(box.refresh_token, SCOPES)
    assert server.state.mailbox_stats(box.address)["token_refreshes"] == 3


def test_openid_configuration_is_https_under_the_real_host(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    config = http.get(
        f"{server.base_url}/{box.entra_tenant_id}/v2.0/.well-known/openid-configuration"
    )
    assert config.status_code == 200
    body = config.json()
    assert body["token_endpoint"] == f"{LOGIN}/{box.entra_tenant_id}/oauth2/v2.0/token"
    assert body["issuer"] == f"{LOGIN}/{box.entra_tenant_id}/v2.0"
    assert body["authorization_endpoint"].startswith(LOGIN + "/")
    common = http.get(f"{server.base_url}/common/v2.0/.well-known/openid-configuration").json()
    assert common["issuer"] == f"{LOGIN}/{{tenantid}}/v2.0"
    unknown = http.get(
        f"{server.base_url}/00000000-1111-2222-3333-444444444444/v2.0/.well-known/openid-configuration"
    )
    assert unknown.status_code == 400 and unknown.json()["error_codes"] == [90002]


@pytest.mark.parametrize(
    ("kind", "code", "suberror"),
    [
        ("invalid_grant", 50173, None),
        ("token_expired", 700082, None),
        ("consent_required", 65001, "consent_required"),
        ("mfa_required", 50076, "basic_action"),
        ("account_disabled", 50057, None),
    ],
)
def test_each_grant_fault_answers_its_aadsts_code_through_msal(
    server: SandboxServer, box: Mailbox, other: Mailbox, kind: str, code: int, suberror: str | None
) -> None:
    token = token_for(server, box)
    server.state.set_fault(box.address, kind)
    app, client = app_for(server, box)
    result = app.acquire_token_by_refresh_token(box.refresh_token, scopes=SCOPES)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [code]
    assert result["error_description"].startswith(f"AADSTS{code}: ")
    assert "Trace ID: " in result["error_description"] and result["correlation_id"]
    assert result.get("suberror") == suberror
    assert box.refresh_token not in str(result)
    # The live access token died with the grant: Graph says 401 and the client must refresh.
    session = client.session
    assert graph(session, server, token, "/me/messages").status_code == 401
    assert "access_token" in app_for(server, other)[0].acquire_token_by_refresh_token(
        other.refresh_token, SCOPES
    )
    server.state.clear_faults(box.address)
    fresh, _ = app_for(server, box)
    assert "access_token" in fresh.acquire_token_by_refresh_token(box.refresh_token, SCOPES)
    assert server.state.mailbox_stats(box.address)["token_failures"] == 1


def test_client_scope_and_token_errors(server: SandboxServer, box: Mailbox) -> None:
    wrong, _ = app_for(server, box, secret="not-the-secret")
    bad_client = wrong.acquire_token_by_refresh_token(box.refresh_token, SCOPES)
    assert bad_client["error"] == "invalid_client" and bad_client["error_codes"] == [7000215]
    app, _ = app_for(server, box)
    unconsented = app.acquire_token_by_refresh_token(
        box.refresh_token, ["https://graph.microsoft.com/Mail.Send"]
    )
    assert unconsented["error_codes"] == [65001]
    assert unconsented["suberror"] == "consent_required"
    unknown = app_for(server, box)[0].acquire_token_by_refresh_token("0.AXsbx-nope", SCOPES)
    assert unknown["error"] == "invalid_grant" and unknown["error_codes"] == [9002313]
    default = app_for(server, box)[0].acquire_token_by_refresh_token(
        box.refresh_token, ["https://graph.microsoft.com/.default"]
    )
    assert set(default["scope"].split()) >= set(SCOPES)


@pytest.mark.filterwarnings("ignore:Change your acquire_token_by_authorization_code")
def test_authorization_code_grant_is_one_time(server: SandboxServer, box: Mailbox) -> None:
    code = SandboxClient(server.base_url).issue_authorization_code(box.address)
    app, _ = app_for(server, box)
    result = app.acquire_token_by_authorization_code(
        code, scopes=SCOPES, redirect_uri="http://localhost/callback"
    )
    assert "access_token" in result and result["refresh_token"]
    assert app.get_accounts()[0]["username"] == box.address
    again = app_for(server, box)[0].acquire_token_by_authorization_code(
        code, scopes=SCOPES, redirect_uri="http://localhost/callback"
    )
    assert again["error"] == "invalid_grant" and again["error_codes"] == [70000]


def test_authorize_redirects_with_a_code(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    answer = http.get(
        f"{server.base_url}/organizations/oauth2/v2.0/authorize",
        params={
            "client_id": MICROSOFT_CLIENT_ID,
            "redirect_uri": "http://localhost/cb",
            "login_hint": box.address,
            "state": "xyz",
            "response_type": "code",
            "scope": " ".join(SCOPES),
        },
        allow_redirects=False,
    )
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith("http://localhost/cb?code=") and "state=xyz" in location


# ---- Graph mail ---------------------------------------------------------------------------------


def list_all(
    http: requests.Session, server: SandboxServer, token: str, path: str, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    response = graph(http, server, token, path, **params)
    pages = 1
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["value"])
        if "@odata.nextLink" not in body:
            return items, pages
        assert body["@odata.nextLink"].startswith(server.base_url + "/v1.0/")
        response = graph(http, server, token, body["@odata.nextLink"])
        pages += 1


def test_messages_window_select_and_paging_equal_the_truth(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    token = token_for(server, box)
    start, end = day_window(workload)
    items, pages = list_all(
        http,
        server,
        token,
        f"/users/{box.address}/messages",
        **{
            "$filter": f"receivedDateTime ge {iso(start)} and receivedDateTime lt {iso(end)}",
            "$select": "internetMessageId,parentFolderId,receivedDateTime,isDraft,subject",
            "$orderby": "receivedDateTime desc",
            "$top": "7",
        },
    )
    truth = server.state.truth(box.address, start, end, include_skipped=True)
    assert [i["id"] for i in items] == [t["id"] for t in reversed(truth)]
    assert pages == -(-len(items) // 7) and pages > 1
    selected = {"internetMessageId", "parentFolderId", "receivedDateTime", "isDraft", "subject"}
    assert all(set(i) == {"@odata.etag", "id", *selected} for i in items)
    assert [i["internetMessageId"] for i in items] == [
        t["internet_message_id"] for t in reversed(truth)
    ]

    folders = graph(http, server, token, "/me/mailFolders").json()["value"]
    by_name = {f["displayName"]: f["id"] for f in folders}
    assert {"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk Email", "Archive"} <= set(
        by_name
    )
    skipped = {by_name["Drafts"], by_name["Junk Email"], by_name["Deleted Items"]}
    kept = [i["id"] for i in items if i["parentFolderId"] not in skipped]
    expected = [t["id"] for t in reversed(server.state.truth(box.address, start, end))]
    assert kept == expected and len(kept) < len(items)
    labels = {t["id"]: t["labels"] for t in truth}
    for item in items:
        folder = {v: k for k, v in by_name.items()}[item["parentFolderId"]]
        assert item["isDraft"] == ("DRAFT" in labels[item["id"]])
        if "SPAM" in labels[item["id"]]:
            assert folder == "Junk Email"
    junk = graph(http, server, token, "/me/mailFolders/junkemail").json()
    assert junk["id"] == by_name["Junk Email"] and junk["totalItemCount"] > 0
    drafts, _ = list_all(
        http, server, token, f"/me/mailFolders/{by_name['Drafts']}/messages", **{"$top": "50"}
    )
    all_drafts = [m.id for m in reversed(workload.messages[box.address]) if "DRAFT" in m.label_ids]
    assert [d["id"] for d in drafts] == all_drafts and all(d["isDraft"] for d in drafts)

    # Filters compare the exact instant, though receivedDateTime shows whole seconds.
    oldest = truth[0]
    exact = datetime.fromtimestamp(oldest["internal_date_ms"] / 1000, tz=UTC)
    stamp = exact.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    for op, present in (("ge", True), ("gt", False)):
        found, _ = list_all(
            http,
            server,
            token,
            "/me/messages",
            **{"$filter": f"receivedDateTime {op} {stamp} and receivedDateTime lt {iso(end)}"},
        )
        assert (oldest["id"] in {i["id"] for i in found}) is present


def test_message_resources_headers_and_errors(
    server: SandboxServer, workload: Workload, box: Mailbox, other: Mailbox, http: requests.Session
) -> None:
    token = token_for(server, box)
    target = next(m for m in workload.messages[box.address] if "INBOX" in m.label_ids)
    full = graph(http, server, token, f"/me/messages/{target.id}").json()
    assert full["id"] == target.id and full["internetMessageId"] == target.internet_message_id
    assert full["subject"] == target.subject
    assert full["from"]["emailAddress"]["address"].lower() == target.from_address
    assert [
        r["emailAddress"]["address"].lower() for r in full["toRecipients"]
    ] == target.to_addresses
    assert full["conversationId"] == target.thread_id
    assert full["receivedDateTime"] == datetime.fromtimestamp(
        target.internal_date_ms // 1000, tz=UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "body" in full and "internetMessageHeaders" not in full
    path = f"/users/{box.user_id}/messages/{target.id}"
    headers = graph(http, server, token, path, **{"$select": "internetMessageHeaders"}).json()
    assert [(h["name"], h["value"]) for h in headers["internetMessageHeaders"]] == (
        rfc822.raw_headers(target.raw)
    )
    missing = graph(http, server, token, f"/me/messages/{target.id[:-8]}AAAAAAA=")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    assert missing.json()["error"]["innerError"]["request-id"]
    for params, code in (
        ({"$top": "1001"}, "ErrorInvalidArgument"),
        ({"$select": "nonsense"}, "RequestBroker--ParseUri"),
        (
            {
                "$filter": "isDraft eq false and receivedDateTime ge 2026-11-19T00:00:00Z",
                "$orderby": "receivedDateTime desc",
            },
            "InefficientFilter",
        ),
        ({"$filter": "receivedDateTime gee 2026-11-19"}, "BadRequest"),
    ):
        refused = graph(http, server, token, "/me/messages", **params)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code, params
    assert graph(http, server, token, "/me/messages", **{"$top": "1000"}).status_code == 200
    foreign = graph(http, server, token, f"/users/{other.address}/messages")
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "ErrorAccessDenied"
    for bad in ("", "nonsense-token"):
        denied = http.get(
            f"{server.base_url}/v1.0/me/messages", headers={"Authorization": f"Bearer {bad}"}
        )
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_graph_faults(server: SandboxServer, box: Mailbox, http: requests.Session) -> None:
    token = token_for(server, box)
    for kind, status, code in (
        ("insufficient_permissions", 403, "ErrorAccessDenied"),
        ("account_suspended", 404, "MailboxNotEnabledForRESTAPI"),
    ):
        server.state.set_fault(box.address, kind)
        refused = graph(http, server, token, "/me/messages")
        assert refused.status_code == status and refused.json()["error"]["code"] == code
        server.state.clear_faults(box.address)
    server.state.set_fault(box.address, "rate_limit", count=1, retry_after=3)
    limited = graph(http, server, token, "/me/mailFolders")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    server.state.set_fault(box.address, "server_error", count=1)
    down = graph(http, server, token, "/me/mailFolders")
    assert down.status_code == 503 and down.json()["error"]["code"] == "ServiceUnavailable"
    assert graph(http, server, token, "/me/mailFolders").status_code == 200
    assert server.state.mailbox_stats(box.address)["faults_injected"] == 4

    listed = graph(http, server, token, "/me/messages", **{"$top": "5"}).json()["value"]
    broken = listed[1]["id"]
    for variant in ("invalid_json", "not_object", "missing_payload", "bad_headers"):
        server.state.set_fault(box.address, "malformed", ids=[broken], variant=variant)
        page = graph(http, server, token, "/me/messages", **{"$top": "5"}).json()["value"]
        assert page[0] == listed[0] and page[2:] == listed[2:]
        single = graph(http, server, token, f"/me/messages/{broken}")
        if variant == "invalid_json":
            assert isinstance(page[1], str)
            with pytest.raises(ValueError):
                single.json()
        elif variant == "not_object":
            assert page[1] == [broken]
        elif variant == "missing_payload":
            assert set(page[1]) == {"@odata.etag", "id"}
        else:
            assert page[1]["from"]["emailAddress"]["address"] == "<<>>@@"
            assert page[1]["internetMessageId"] is None


def test_injected_mail_gets_graph_ids_and_lands_in_its_folder(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    raw = (
        b"From: Ann <ann@contoso.example>\r\nTo: " + box.address.encode() + b"\r\n"
        b"Subject: injected\r\nMessage-ID: <inj-ms-1@contoso.example>\r\n"
        b"Date: Thu, 19 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    )
    created = server.state.inject_raw(box.address, raw, labels=["SPAM"])
    assert created["id"].startswith("AAMkA")
    token = token_for(server, box)
    item = graph(http, server, token, f"/me/messages/{created['id']}").json()
    junk = graph(http, server, token, "/me/mailFolders/junkemail").json()
    assert item["parentFolderId"] == junk["id"] and item["subject"] == "injected"
    server.state.delete_message(box.address, created["id"])


def test_recipients_are_rendered_as_exchange_stores_them(
    server: SandboxServer, box: Mailbox, http: requests.Session
) -> None:
    """Every To header merged, an empty group gives none, a mailbox without `@` stays; the raw
    headers (both To lines) only when selected."""
    raw = (
        b"From: johndoe\r\nTo: undisclosed-recipients:;\r\n"
        b"To: " + box.address.encode() + b", janedoe\r\nTo: =?UTF-8?B?w4lsaXNl?= <e@x.example>\r\n"
        b"Subject: odd\r\nMessage-ID: <odd-ms-1@contoso.example>\r\n"
        b"Date: Thu, 19 Nov 2026 10:00:00 +0000\r\n\r\nhello\r\n"
    )
    created = server.state.inject_raw(box.address, raw)
    token = token_for(server, box)
    fields = "from,toRecipients,internetMessageHeaders"
    item = graph(http, server, token, f"/me/messages/{created['id']}", **{"$select": fields})
    body = item.json()
    assert body["from"] == {"emailAddress": {"name": "johndoe", "address": "johndoe"}}
    assert [r["emailAddress"] for r in body["toRecipients"]] == [
        {"name": box.address, "address": box.address},
        {"name": "janedoe", "address": "janedoe"},
        {"name": "Élise", "address": "e@x.example"},
    ]
    assert [h["name"] for h in body["internetMessageHeaders"]].count("To") == 3
    server.state.delete_message(box.address, created["id"])


# ---- $batch -------------------------------------------------------------------------------------


def batch(
    http: requests.Session, server: SandboxServer, token: str, parts: list[dict[str, Any]]
) -> requests.Response:
    return http.post(
        f"{server.base_url}/v1.0/$batch",
        json={"requests": parts},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_batch_of_twenty_and_the_limit(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    token = token_for(server, box)
    ids = [m.id for m in workload.messages[box.address][:20]]
    parts = [
        {"id": str(n), "method": "GET", "url": f"/me/messages/{i}?$select=internetMessageId"}
        for n, i in enumerate(ids)
    ]
    answer = batch(http, server, token, parts)
    assert answer.status_code == 200
    responses = answer.json()["responses"]
    assert [r["id"] for r in responses] == [str(n) for n in range(20)]
    assert all(r["status"] == 200 for r in responses)
    assert [r["body"]["id"] for r in responses] == ids
    stats = server.state.mailbox_stats(box.address)
    assert stats["http_requests"] == 1 and stats["largest_batch"] == 20
    assert stats["calls_by_method"]["graph.messages.get"] == 20

    too_many = batch(http, server, token, [*parts, {**parts[0], "id": "20"}])
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "BadRequest"

    server.state.set_fault(box.address, "rate_limit", count=3, retry_after=2)
    throttled = batch(http, server, token, parts[:6]).json()["responses"]
    assert [r["status"] for r in throttled] == [429, 429, 429, 200, 200, 200]
    assert throttled[0]["headers"]["Retry-After"] == "2"

    chained = [
        {"id": "a", "method": "GET", "url": "/me/messages/AAMkAnope="},
        {"id": "b", "method": "GET", "url": f"/me/messages/{ids[0]}", "dependsOn": ["a"]},
        {"id": "c", "method": "GET", "url": "/me/mailFolders/inbox"},
        {"id": "d", "method": "GET", "url": "/me/nonsense"},
    ]
    statuses = {
        r["id"]: r["status"] for r in batch(http, server, token, chained).json()["responses"]
    }
    assert statuses == {"a": 404, "b": 424, "c": 200, "d": 400}


# ---- throttling ---------------------------------------------------------------------------------


def test_four_concurrent_requests_per_mailbox(
    server: SandboxServer, box: Mailbox, other: Mailbox, http: requests.Session
) -> None:
    token, other_token = token_for(server, box), token_for(server, other)
    server.state.set_graph_limits(True)
    server.state.set_fault(box.address, "slow", seconds=0.6)
    barrier = threading.Barrier(6)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def call(access: str) -> None:
        session = requests.Session()
        session.trust_env = False
        barrier.wait()
        response = graph(session, server, access, "/me/mailFolders")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=call, args=(token,)) for _ in range(5)]
    threads.append(threading.Thread(target=call, args=(other_token,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 200, 200, 429]
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in refused.json()["error"]["message"]
    assert refused.headers["Retry-After"] == "1"
    stats = server.state.stats()["mailboxes"]
    assert stats[box.address]["max_concurrent_seen"] == 4
    assert stats[box.address]["rejected_for_concurrency"] == 1
    assert stats[other.address]["rejected_for_concurrency"] == 0


def test_requests_per_window_with_a_small_configured_limit(
    server: SandboxServer, workload: Workload, box: Mailbox, http: requests.Session
) -> None:
    token = token_for(server, box)
    limits = SandboxClient(server.base_url).set_graph_limits(
        True, requests_per_window=5, window_seconds=1.5
    )
    assert limits["requests_per_window"] == 5 and limits["max_concurrent"] == 4
    codes = [graph(http, server, token, "/me/mailFolders").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = graph(http, server, token, "/me/mailFolders")
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    time.sleep(1.6)
    ids = [m.id for m in workload.messages[box.address][:6]]
    parts = [{"id": str(n), "method": "GET", "url": f"/me/messages/{i}"} for n, i in enumerate(ids)]
    statuses = [r["status"] for r in batch(http, server, token, parts).json()["responses"]]
    assert statuses == [200] * 5 + [429]
    assert server.state.mailbox_stats(box.address)["rejected_for_quota"] == 3
