"""The sandbox's change feeds behave as documented: Gmail users.history.list (shapes checked
against the discovery document shipped in google-api-python-client) and Graph message delta
per folder (rounds, @removed, 410 for a forgotten token)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
import requests

from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import Mailbox, Workload

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
pytestmark = pytest.mark.usefixtures("clean_sandbox")
DISCOVERY = json.loads(
    (Path(googleapiclient.__file__).parent / "discovery_cache/documents/gmail.v1.json").read_text()
)


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=5, now=NOW, days=3, providers=("google", "microsoft"))


def _box(workload: Workload, provider: str) -> Mailbox:
    return next(m for m in workload.mailboxes if m.provider == provider)


def _get(server: SandboxServer, http: requests.Session, box: Mailbox, url: str, **kw: Any):
    token, _, _ = server.state.exchange_refresh_token(box.refresh_token)
    full = url if url.startswith("http") else server.base_url + url
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return http.get(full, headers=headers, **kw)


def _check_schema(value: Any, schema: dict[str, Any]) -> None:
    """`value` uses only the properties the discovery schema names, with their JSON types."""
    if "$ref" in schema:
        schema = DISCOVERY["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        assert isinstance(value, dict)
        props = schema.get("properties", {})
        assert set(value) <= set(props), set(value) - set(props)
        for key, item in value.items():
            _check_schema(item, props[key])
    elif kind == "array":
        assert isinstance(value, list)
        for item in value:
            _check_schema(item, schema["items"])
    elif kind == "string":
        assert isinstance(value, str)
        if schema.get("format") == "uint64":
            assert value.isdigit()


def test_gmail_history_reports_each_change_in_order_then_expires(server, http, workload):
    box = _box(workload, "google")
    state = server.state
    base = "/gmail/v1/users/me"
    start = _get(server, http, box, base + "/profile").json()["historyId"]
    trashed, deleted, relabelled = (m["id"] for m in state.truth(box.address)[:3])
    state.set_labels(box.address, trashed, ["TRASH"])
    state.delete_message(box.address, deleted)
    state.set_labels(box.address, relabelled, ["INBOX", "STARRED"])
    state.set_labels(box.address, trashed, ["INBOX"])
    answer = _get(server, http, box, base + "/history", params={"startHistoryId": start})
    assert answer.status_code == 200
    body = answer.json()
    _check_schema(body, {"$ref": "ListHistoryResponse"})
    records = body["history"]
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(ids) and int(body["historyId"]) >= ids[-1] > int(start)
    kinds = [
        (next(k for k in r if k not in ("id", "messages")), r["messages"][0]["id"]) for r in records
    ]
    assert kinds[0] == ("labelsAdded", trashed) and ("labelsRemoved", trashed) in kinds
    assert ("messagesDeleted", deleted) in kinds
    assert records[0]["labelsAdded"][0]["labelIds"] == ["TRASH"]
    # historyTypes filters, maxResults pages.
    only = _get(
        server,
        http,
        box,
        base + "/history",
        params={"startHistoryId": start, "historyTypes": "messageDeleted"},
    ).json()
    assert [r["messagesDeleted"][0]["message"]["id"] for r in only["history"]] == [deleted]
    first = _get(
        server, http, box, base + "/history", params={"startHistoryId": start, "maxResults": 1}
    ).json()
    assert len(first["history"]) == 1 and first["nextPageToken"]
    # Gmail forgets old history: the stored id now answers 404, a fresh one works.
    state.expire_history(box.address)
    gone = _get(server, http, box, base + "/history", params={"startHistoryId": start})
    assert gone.status_code == 404
    fresh = _get(server, http, box, base + "/profile").json()["historyId"]
    again = _get(server, http, box, base + "/history", params={"startHistoryId": fresh})
    assert again.status_code == 200 and "history" not in again.json()


def test_graph_delta_rounds_report_moves_out_and_back_and_forget_with_410(server, http, workload):
    box = _box(workload, "microsoft")
    state = server.state
    url = "/v1.0/me/mailFolders/inbox/messages/delta"
    since = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    params = {"$select": "subject,receivedDateTime", "$filter": f"receivedDateTime ge {since}"}
    refused = _get(server, http, box, url, params={**params, "$top": "5"})
    assert refused.status_code == 400
    answer = _get(server, http, box, url, params=params, headers={"Prefer": "odata.maxpagesize=5"})
    seen, pages = [], 0
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        seen += [item["id"] for item in body["value"]]
        assert all(
            set(i) <= {"@odata.type", "@odata.etag", "id", "subject", "receivedDateTime"}
            for i in body["value"]
        )
        if "@odata.deltaLink" in body:
            delta_link = body["@odata.deltaLink"]
            break
        answer = _get(server, http, box, body["@odata.nextLink"])
    start = datetime(2026, 11, 19, 15, 0, tzinfo=UTC)
    inbox = [m["id"] for m in state.truth(box.address, start) if not {"SENT"} & set(m["labels"])]
    assert sorted(seen) == sorted(inbox) and pages > 1
    moved = inbox[0]
    state.set_labels(box.address, moved, ["TRASH"])
    body = _get(server, http, box, delta_link).json()
    assert body["value"] == [{"id": moved, "@removed": {"reason": "deleted"}}]
    state.set_labels(box.address, moved, ["INBOX"])
    body = _get(server, http, box, body["@odata.deltaLink"]).json()
    assert [i["id"] for i in body["value"]] == [moved] and "subject" in body["value"][0]
    quiet = _get(server, http, box, body["@odata.deltaLink"]).json()
    assert quiet["value"] == []
    state.expire_history(box.address)
    expired = _get(server, http, box, quiet["@odata.deltaLink"])
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "SyncStateNotFound"
    garbled = _get(server, http, box, url, params={"$deltatoken": "not-a-token"})
    assert garbled.status_code == 410
