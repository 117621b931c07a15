"""Graph's message delta for one mail folder (`/mailFolders/{id}/messages/delta`), as documented
in "Get incremental changes to messages in a folder" and the message-delta reference.

An initial round (no token) may carry only `$select`, a `receivedDateTime ge|gt` `$filter` and
`Prefer: odata.maxpagesize` (10 by default); it pages the folder's messages through
`@odata.nextLink` (`$skiptoken`) and ends with an `@odata.deltaLink` (`$deltatoken`) that encodes
every option. A later round with that token returns the messages added to or changed in the folder
since, in full (as selected), and `{"id", "@removed": {"reason": "deleted"}}` for those that left
it (moved out or deleted). A token the mailbox's history no longer covers, or one that cannot be
read, is answered 410 `SyncStateNotFound`: the client must start over.

Tokens are the sandbox's own opaque text (base64 JSON): the folder, the filter's lower bound,
the history id the round started at and, within a round, how many items were already sent.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode

from sandbox.http import Request, Response
from sandbox.microsoft.graph_mail import GraphMail
from sandbox.microsoft.graph_payload import MESSAGE_PROPERTIES, folder_of
from sandbox.microsoft.graph_query import QueryError, parse_list_query
from sandbox.microsoft.graph_responses import (
    base_url,
    context_url,
    graph_error,
    graph_json,
    not_found,
    query_options,
)
from sandbox.state import SandboxState
from sandbox.workload.model import Mailbox, SandboxMessage

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
_PREFER_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
_INITIAL_OPTIONS = {"$select", "$filter"}


def _encode(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def _decode(token: str) -> dict[str, Any] | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return state if isinstance(state, dict) else None


def _gone(request: Request) -> Response:
    return graph_error(request, 410, "SyncStateNotFound", "The sync state generation is not found.")


class GraphDelta:
    """The delta handler over the shared state, rendering messages as GraphMail lists them."""

    def __init__(self, state: SandboxState, mail: GraphMail) -> None:
        self.state = state
        self.mail = mail

    def messages_delta(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        folder = self.mail.folder_name(box, unquote(match["folder"]))
        if folder is None:
            return not_found(request)
        options = query_options(request)
        token = options.get("$deltatoken") or options.get("$skiptoken")
        if token is not None:
            if set(options) - {"$deltatoken", "$skiptoken"}:
                raise QueryError("BadRequest", "Query options go into the first delta request.")
            round_state = _decode(token)
            if round_state is None or round_state.get("folder") != folder:
                return _gone(request)
        else:
            round_state = self._initial_state(request, options, folder, box)
        page_size = self._page_size(request)
        if "$deltatoken" in options:
            # A new round: changes since the token's history id, up to now.
            round_state = {**round_state, "base": round_state["upto"], "sent": 0}
            round_state["upto"] = self.state.history_id(box.address)
        items = self._round_items(box, folder, round_state)
        if items is None:
            return _gone(request)
        sent = int(round_state.get("sent", 0))
        page = items[sent : sent + page_size]
        body: dict[str, Any] = {
            "@odata.context": context_url(request, box, "messages/delta"),
            "value": page,
        }
        link = f"{base_url(request)}{request.path}?"
        if sent + page_size < len(items):
            later = {**round_state, "sent": sent + page_size}
            body["@odata.nextLink"] = link + urlencode(
                {"$skiptoken": _encode(later)}, quote_via=quote
            )
        else:
            done = {k: v for k, v in round_state.items() if k not in ("sent", "initial")}
            body["@odata.deltaLink"] = link + urlencode(
                {"$deltatoken": _encode(done)}, quote_via=quote
            )
        return graph_json(200, body)

    # ---- rounds -------------------------------------------------------------------------------

    def _initial_state(
        self, request: Request, options: dict[str, str | None], folder: str, box: Mailbox
    ) -> dict[str, Any]:
        unsupported = set(options) - _INITIAL_OPTIONS
        if unsupported:
            # Message delta documents $select and a receivedDateTime $filter only.
            raise QueryError(
                "BadRequest", f"The query option '{sorted(unsupported)[0]}' is not supported."
            )
        query = parse_list_query(
            options, {"receivedDateTime": "datetime"}, set(), set(MESSAGE_PROPERTIES), "message"
        )
        since_ms = None
        for clause in query.clauses:
            if clause.op not in ("ge", "gt") or not isinstance(clause.value, datetime):
                raise QueryError(
                    "BadRequest", "Delta $filter supports only receivedDateTime ge or gt."
                )
            ms = int(clause.value.timestamp() * 1000) + (1 if clause.op == "gt" else 0)
            since_ms = ms if since_ms is None else max(since_ms, ms)
        return {
            "folder": folder,
            "since": since_ms,
            "select": query.select,
            "upto": self.state.history_id(box.address),
            "initial": True,
            "sent": 0,
        }

    def _page_size(self, request: Request) -> int:
        found = _PREFER_PAGE.search(request.headers.get("prefer", ""))
        return min(MAX_PAGE_SIZE, max(1, int(found[1]))) if found else DEFAULT_PAGE_SIZE

    def _round_items(
        self, box: Mailbox, folder: str, round_state: dict[str, Any]
    ) -> list[dict[str, Any]] | None:
        since = round_state.get("since")
        select = round_state.get("select")
        if round_state.get("initial"):
            messages = self.state.messages_between(box.address, since)
            return [
                self._item(box, m, select) for m in messages if folder_of(m.label_ids) == folder
            ]
        changes = self.state.changes_after(box.address, int(round_state["base"]))
        if changes is None:
            return None
        upto = int(round_state["upto"])
        first: dict[str, Any] = {}  # message id -> its first change of the round
        for change in changes:
            if change.history_id <= upto:
                first.setdefault(change.message_id, change)
        items = []
        for message_id, change in first.items():
            was_here = (
                change.labels_before is not None and folder_of(list(change.labels_before)) == folder
            )
            if since is not None and change.internal_date_ms < since:
                continue
            try:
                msg, _ = self.state.message(box.address, message_id)
            except KeyError:
                msg = None
            if msg is not None and folder_of(msg.label_ids) == folder:
                items.append(self._item(box, msg, select))
            elif was_here:
                items.append({"id": message_id, "@removed": {"reason": "deleted"}})
        return items

    def _item(self, box: Mailbox, msg: SandboxMessage, select: list[str] | None) -> Any:
        item = self.mail.message_item(box, msg, select)
        return (
            {"@odata.type": "#microsoft.graph.message", **item} if isinstance(item, dict) else item
        )
