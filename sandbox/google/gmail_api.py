"""The Gmail API (`/gmail/v1/users/{userId}/...`): messages.list (with the `q` language),
messages.get in every format, labels.list, getProfile and history.list, with Gmail's quota
costs and real shapes.

Errors carry Google's body (`sandbox.google.errors`); the batch endpoint that wraps these calls
is `sandbox.google.gmail_batch`, the token endpoint `sandbox.google.oauth`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from sandbox.google.errors import (
    google_authenticate,
    google_error,
    google_rejection,
    unknown_parameter,
)
from sandbox.google.gmail_batch import GmailBatch
from sandbox.google.gmail_history import HISTORY_TYPES, history_records
from sandbox.google.gmail_payload import PayloadCache, bad_headers, message_resource
from sandbox.google.gmail_query import QueryError, parse_query
from sandbox.http import JSON_TYPE, Request, Response, Router
from sandbox.state import SandboxState, UnknownMessage
from sandbox.workload.model import USER_LABELS

QUOTA_COSTS: dict[str, int] = {
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.history.list": 2,
    "gmail.users.labels.list": 1,
    "gmail.users.getProfile": 1,
}

SYSTEM_LABELS = (
    "CHAT",
    "SENT",
    "INBOX",
    "IMPORTANT",
    "TRASH",
    "DRAFT",
    "SPAM",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "STARRED",
    "UNREAD",
)
_USER = r"/gmail/v1/users/(?P<user>[^/]+)"
_GMAIL_ID = re.compile(r"[0-9a-fA-F]{1,20}")
_LABEL_IDS_BY_NAME = {
    **{label.lower(): label for label in SYSTEM_LABELS},
    **{name.lower(): lid for lid, name in USER_LABELS.items()},
    **{lid.lower(): lid for lid in USER_LABELS},
}


class GmailProvider:
    """Handlers for the Gmail API and its batch endpoint over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.cache = PayloadCache()
        self.api = Router()
        self.api.add(
            "GET", _USER + r"/messages", self._wrap("gmail.users.messages.list", self._list)
        )
        self.api.add(
            "GET",
            _USER + r"/messages/(?P<id>[^/]+)",
            self._wrap("gmail.users.messages.get", self._get),
        )
        self.api.add("GET", _USER + r"/labels", self._wrap("gmail.users.labels.list", self._labels))
        self.api.add(
            "GET", _USER + r"/profile", self._wrap("gmail.users.getProfile", self._profile)
        )
        self.api.add(
            "GET", _USER + r"/history", self._wrap("gmail.users.history.list", self._history)
        )
        self.batch = GmailBatch(state, self.api)
        self.router = Router()
        self.router.add("POST", r"/batch/gmail/v1", self.batch.handle)
        self.router.add("POST", r"/batch", self.batch.handle)
        self.router.extend(self.api)

    # ---- API call pipeline --------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | Response:
        return google_authenticate(self.state, request)

    def _wrap(
        self, method: str, run: Callable[[Request, re.Match[str], str], Response]
    ) -> Callable[[Request, re.Match[str]], Response]:
        cost = QUOTA_COSTS[method]

        def handle(request: Request, match: re.Match[str]) -> Response:
            mailbox = self._authenticate(request)
            if isinstance(mailbox, Response):
                return mailbox
            if not request.in_batch:
                self.state.count_http(mailbox)
                self.state.pause_if_slow(mailbox)
            user = unquote(match["user"]).lower()
            box = self.state.mailbox(mailbox)
            if user != "me" and user != box.address and user not in box.aliases:
                return google_error(403, f"Delegation denied for {box.address}", "forbidden")
            refused = unknown_parameter(request, method)
            if refused is not None:
                return refused
            rejection = self.state.admit_call(mailbox, method, cost)
            if rejection is not None:
                return google_rejection(rejection)
            return run(request, match, mailbox)

        return handle

    # ---- Gmail methods ------------------------------------------------------------------------

    def _list(self, request: Request, _: re.Match[str], mailbox: str) -> Response:
        try:
            max_results = int(request.param("maxResults") or 100)
        except ValueError:
            return google_error(400, "Invalid value for maxResults", "invalidArgument")
        if max_results < 1:
            return google_error(400, "Invalid maxResults: must be positive", "invalidArgument")
        max_results = min(max_results, 500)
        try:
            query = parse_query(request.param("q") or "", _LABEL_IDS_BY_NAME)
        except QueryError as exc:
            return google_error(400, str(exc), "invalidArgument")
        label_ids = [lid for value in request.params("labelIds") for lid in value.split(",") if lid]
        required = set(query.required) | set(label_ids)
        include_spam_trash = (request.param("includeSpamTrash") or "false").lower() == "true"
        hide_spam_trash = not (
            include_spam_trash or query.targets_spam_or_trash() or {"SPAM", "TRASH"} & required
        )
        cursor = _parse_page_token(request.param("pageToken"))
        if cursor is False:
            return google_error(400, "Invalid pageToken", "invalidArgument")
        matched = []
        for msg in self.state.messages_between(mailbox, query.after_ms, query.before_ms):
            labels = msg.label_ids
            if not query.matches(labels) or not required <= set(labels):
                continue
            if hide_spam_trash and ("SPAM" in labels or "TRASH" in labels):
                continue
            matched.append(msg)
        start = 0
        if cursor is not None:
            while (
                start < len(matched)
                and (matched[start].internal_date_ms, matched[start].id) >= cursor
            ):
                start += 1
        page = matched[start : start + max_results]
        body: dict[str, Any] = {}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if start + max_results < len(matched):
            last = page[-1]
            body["nextPageToken"] = f"{last.internal_date_ms:015d}{int(last.id, 16):020d}"
        body["resultSizeEstimate"] = len(matched)
        return Response.json(200, body)

    def _get(self, request: Request, match: re.Match[str], mailbox: str) -> Response:
        fmt = (request.param("format") or "full").lower()
        if fmt not in ("minimal", "metadata", "full", "raw"):
            return google_error(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
        message_id = unquote(match["id"])
        if not _GMAIL_ID.fullmatch(message_id):
            return google_error(400, "Invalid id value", "invalidArgument")
        try:
            msg, history_id = self.state.message(mailbox, message_id)
        except UnknownMessage:
            return google_error(404, "Requested entity was not found.", "notFound")
        resource = message_resource(
            msg, history_id, fmt, self.cache, request.params("metadataHeaders") or None
        )
        variant = self.state.malformed_variant(mailbox, message_id)
        if variant is None:
            return Response.json(200, resource)
        if variant == "invalid_json":
            text = json.dumps(resource, ensure_ascii=False).encode("utf-8")
            return Response(200, text[: max(1, len(text) // 2)], JSON_TYPE)
        if variant == "not_object":
            return Response.json(200, [resource["id"], resource["threadId"]])
        if variant == "missing_payload":
            resource.pop("payload", None)
            resource.pop("raw", None)
            return Response.json(200, resource)
        return Response.json(200, bad_headers(resource))

    def _labels(self, request: Request, _: re.Match[str], mailbox: str) -> Response:
        labels: list[dict[str, Any]] = [
            {
                "id": label,
                "name": label,
                "messageListVisibility": "hide" if label in ("SPAM", "TRASH") else "show",
                "labelListVisibility": "labelShow",
                "type": "system",
            }
            for label in SYSTEM_LABELS
        ]
        labels.extend(
            {
                "id": lid,
                "name": name,
                "messageListVisibility": "show",
                "labelListVisibility": "labelShow",
                "type": "user",
            }
            for lid, name in USER_LABELS.items()
        )
        return Response.json(200, {"labels": labels})

    def _profile(self, request: Request, _: re.Match[str], mailbox: str) -> Response:
        messages, threads = self.state.message_count(mailbox)
        return Response.json(
            200,
            {
                "emailAddress": mailbox,
                "messagesTotal": messages,
                "threadsTotal": threads,
                "historyId": str(self.state.history_id(mailbox)),
            },
        )

    def _history(self, request: Request, _: re.Match[str], mailbox: str) -> Response:
        """users.history.list: the mailbox's changes after startHistoryId, oldest first, one
        History record per change, paged; 404 when startHistoryId is older than what is kept."""
        try:
            start = int(request.param("startHistoryId") or "")
            max_results = int(request.param("maxResults") or 100)
        except ValueError:
            return google_error(400, "Invalid startHistoryId or maxResults", "invalidArgument")
        if max_results < 1:
            return google_error(400, "Invalid maxResults: must be positive", "invalidArgument")
        types = {t for value in request.params("historyTypes") for t in value.split(",") if t}
        if types - set(HISTORY_TYPES):
            return google_error(400, "Invalid value for historyTypes", "invalidArgument")
        changes = self.state.changes_after(mailbox, start)
        if changes is None:
            return google_error(404, "Requested entity was not found.", "notFound")
        records = history_records(changes, types or set(HISTORY_TYPES), request.param("labelId"))
        offset = 0
        token = request.param("pageToken")
        if token:
            if not token.isdigit():
                return google_error(400, "Invalid pageToken", "invalidArgument")
            offset = int(token)
        page = records[offset : offset + min(max_results, 500)]
        body: dict[str, Any] = {"historyId": str(self.state.history_id(mailbox))}
        if page:
            body["history"] = page
        if offset + len(page) < len(records):
            body["nextPageToken"] = str(offset + len(page))
        return Response.json(200, body)


def _parse_page_token(token: str | None) -> tuple[int, str] | None | bool:
    """(internalDate, id) of the last message already returned; False when unreadable."""
    if not token:
        return None
    if not token.isdigit() or len(token) != 35:
        return False
    return int(token[:15]), f"{int(token[15:]):016x}"
