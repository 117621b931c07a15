"""Graph mail for the sandbox's Microsoft mailboxes: /messages (with `$filter`, `$orderby`,
`$select`, `$top`, `$skip`, `$count`), /messages/{id}, /mailFolders and their messages.

Messages come from the shared state; a Microsoft mailbox shows Gmail-style labels as folders
(`graph_payload.folder_of`). `GraphProvider` authenticates, meters and routes to these handlers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sandbox.http import Request, Response
from sandbox.microsoft.graph_payload import (
    FOLDER_PROPERTIES,
    MESSAGE_PROPERTIES,
    MessageRenderer,
    folder_of,
    folder_resources,
)
from sandbox.microsoft.graph_query import ListQuery, parse_datetime, parse_list_query, project
from sandbox.microsoft.graph_responses import (
    GRAPH_JSON,
    context_url,
    graph_error,
    graph_json,
    malform,
    next_link,
    not_found,
    query_options,
)
from sandbox.state import SandboxState, UnknownMessage
from sandbox.workload import msids
from sandbox.workload.model import Mailbox, SandboxMessage

_ID = re.compile(r"[A-Za-z0-9_\-+/]+=*")
_FILTERABLE = {
    "receivedDateTime": "datetime",
    "sentDateTime": "datetime",
    "createdDateTime": "datetime",
    "lastModifiedDateTime": "datetime",
    "isDraft": "bool",
    "isRead": "bool",
    "hasAttachments": "bool",
    "parentFolderId": "string",
    "internetMessageId": "string",
    "conversationId": "string",
    "subject": "string",
}
_ORDERABLE = {"receivedDateTime", "sentDateTime", "createdDateTime", "lastModifiedDateTime"}
_CHEAP = {"receivedDateTime", "createdDateTime", "lastModifiedDateTime", "isDraft", "isRead"}
_CHEAP |= {"parentFolderId", "internetMessageId", "conversationId"}
_MIN = datetime(1, 1, 1, tzinfo=UTC)


class GraphMail:
    """Mail handlers `(request, match, mailbox) -> Response` over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.renderer = MessageRenderer()

    def list_messages(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        query = parse_list_query(
            query_options(request), _FILTERABLE, _ORDERABLE, set(MESSAGE_PROPERTIES), "message"
        )
        folder = None
        if "folder" in match.groupdict() and match["folder"]:
            folder = self._folder_name(box, unquote(match["folder"]))
            if folder is None:
                return not_found(request)
        matched = self._matching_messages(box, query, folder)
        page = matched[query.skip : query.skip + query.top]
        body: dict[str, Any] = {"@odata.context": context_url(request, box, "messages")}
        if query.count:
            body["@odata.count"] = len(matched)
        body["value"] = [self._message_item(box, m, query.select) for m in page]
        if query.skip + query.top < len(matched):
            body["@odata.nextLink"] = next_link(request, **{"$skip": str(query.skip + query.top)})
        return graph_json(200, body)

    def get_message(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        message_id = unquote(match["id"])
        if not _ID.fullmatch(message_id):
            return graph_error(request, 400, "ErrorInvalidIdMalformed", "Id is malformed.")
        options = query_options(request)
        query = parse_list_query(
            {"$select": options.get("$select")}, {}, set(), set(MESSAGE_PROPERTIES), "message"
        )
        try:
            msg, _ = self.state.message(box.address, message_id)
        except UnknownMessage:
            return not_found(request)
        resource = self.renderer.resource(box, msg)
        if query.select is None:
            resource = {
                k: v
                for k, v in resource.items()
                if k not in ("internetMessageHeaders", "uniqueBody")
            }
        item = {"@odata.context": context_url(request, box, "messages/$entity")}
        item.update(project(resource, query.select))
        variant = self.state.malformed_variant(box.address, msg.id)
        if variant == "invalid_json":
            text = json.dumps(item).encode()
            return Response(200, text[: max(1, len(text) // 2)], GRAPH_JSON)
        return graph_json(200, item if variant is None else malform(item, variant))

    def folders(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        """The top-level folders (the well-known ones); user folders are their childFolders."""
        folders = folder_resources(box, self._folder_counts(box))
        value = [r for path, r in folders.items() if "/" not in path]
        return self._folder_list(request, box, "mailFolders", value)

    def folder(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        folders = folder_resources(box, self._folder_counts(box))
        path = self._folder_name(box, unquote(match["folder"]), folders)
        if path is None:
            return not_found(request)
        resource = project(folders[path], self._folder_select(request))
        return graph_json(
            200, {"@odata.context": context_url(request, box, "mailFolders/$entity"), **resource}
        )

    def child_folders(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        """`/mailFolders/{id}/childFolders`: the folder's direct children."""
        folders = folder_resources(box, self._folder_counts(box))
        path = self._folder_name(box, unquote(match["folder"]), folders)
        if path is None:
            return not_found(request)
        value = [r for child, r in folders.items() if child.rpartition("/")[0] == path]
        return self._folder_list(request, box, f"mailFolders('{path}')/childFolders", value)

    def _folder_list(
        self, request: Request, box: Mailbox, what: str, value: list[dict[str, Any]]
    ) -> Response:
        options = query_options(request)
        query = parse_list_query(
            {"$select": options.get("$select"), "$top": options.get("$top")},
            {},
            set(),
            set(FOLDER_PROPERTIES),
            "mailFolder",
        )
        skip = int(options.get("$skip") or 0)
        page = [project(r, query.select) for r in value[skip : skip + query.top]]
        body: dict[str, Any] = {"@odata.context": context_url(request, box, what), "value": page}
        if skip + query.top < len(value):
            body["@odata.nextLink"] = next_link(request, **{"$skip": str(skip + query.top)})
        return graph_json(200, body)

    @staticmethod
    def _folder_select(request: Request) -> list[str] | None:
        options = {"$select": query_options(request).get("$select")}
        return parse_list_query(options, {}, set(), set(FOLDER_PROPERTIES), "mailFolder").select

    def message_item(self, box: Mailbox, msg: SandboxMessage, select: list[str] | None) -> Any:
        """One message as listings show it (projected to `select`, malformed when asked)."""
        return self._message_item(box, msg, select)

    def _message_item(self, box: Mailbox, msg: SandboxMessage, select: list[str] | None) -> Any:
        resource = self.renderer.resource(box, msg)
        if select is None:
            resource = {
                k: v
                for k, v in resource.items()
                if k not in ("internetMessageHeaders", "uniqueBody")
            }
        item = project(resource, select)
        variant = self.state.malformed_variant(box.address, msg.id)
        return item if variant is None else malform(item, variant)

    def _matching_messages(
        self, box: Mailbox, query: ListQuery, folder: str | None
    ) -> list[SandboxMessage]:
        after_ms, before_ms = _received_bounds(query)
        candidates = self.state.messages_between(box.address, after_ms, before_ms)
        props_needed = {c.prop for c in query.clauses} | {p for p, _ in query.order_by}
        matched = []
        for msg in candidates:
            if folder is not None and folder_of(msg.label_ids) != folder:
                continue
            if query.clauses and not query.matches(self._filter_props(box, msg, props_needed)):
                continue
            matched.append(msg)
        for prop, descending in reversed(query.order_by or [("receivedDateTime", True)]):
            if prop == "receivedDateTime":
                matched.sort(key=lambda m: (m.internal_date_ms, m.id), reverse=descending)
            else:
                matched.sort(
                    key=lambda m, p=prop: self._filter_props(box, m, {p})[p] or _MIN,
                    reverse=descending,
                )
        return matched

    def _filter_props(self, box: Mailbox, msg: SandboxMessage, needed: set[str]) -> dict[str, Any]:
        received = datetime.fromtimestamp(msg.internal_date_ms / 1000, tz=UTC)
        props: dict[str, Any] = {
            "receivedDateTime": received,
            "createdDateTime": received,
            "lastModifiedDateTime": received,
            "isDraft": "DRAFT" in msg.label_ids,
            "isRead": "UNREAD" not in msg.label_ids,
            "internetMessageId": msg.internet_message_id,
            "conversationId": msg.thread_id,
            "parentFolderId": msids.folder_id(box.user_id or box.address, folder_of(msg.label_ids)),
        }
        if not needed <= _CHEAP:
            resource = self.renderer.resource(box, msg)
            props["hasAttachments"] = resource["hasAttachments"]
            props["subject"] = resource["subject"]
            sent = resource["sentDateTime"]
            props["sentDateTime"] = parse_datetime(sent) if sent else None
        return props

    def _folder_counts(self, box: Mailbox) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for msg in self.state.messages_between(box.address):
            name = folder_of(msg.label_ids)
            total, unread = counts.get(name, (0, 0))
            counts[name] = (total + 1, unread + ("UNREAD" in msg.label_ids))
        return counts

    def folder_name(self, box: Mailbox, wanted: str) -> str | None:
        """The path of the folder given by id or well-known name, or None."""
        return self._folder_name(box, wanted)

    def _folder_name(
        self,
        box: Mailbox,
        wanted: str,
        folders: dict[str, dict[str, Any]] | None = None,
    ) -> str | None:
        """The path of the folder `wanted` names: a well-known name or any folder's id."""
        if folders is None:
            folders = folder_resources(box, self._folder_counts(box))
        if wanted.lower() in folders and "/" not in wanted:
            return wanted.lower()
        return next((path for path, r in folders.items() if r["id"] == wanted), None)


def _received_bounds(query: ListQuery) -> tuple[int | None, int | None]:
    """Index bounds (ms) implied by receivedDateTime clauses; the clauses still run after."""
    after_ms = before_ms = None
    for clause in query.clauses:
        if clause.prop != "receivedDateTime" or not isinstance(clause.value, datetime):
            continue
        ms = int(clause.value.timestamp() * 1000)
        if clause.op in ("ge", "gt", "eq"):
            after_ms = ms if after_ms is None else max(after_ms, ms)
        if clause.op in ("lt", "le", "eq"):
            bound = ms if clause.op == "lt" else ms + 1
            before_ms = bound if before_ms is None else min(before_ms, bound)
    return after_ms, before_ms
