"""Google's OAuth token endpoint, the Gmail API and its batch endpoint, with real shapes.

Routes (relative to the sandbox base URL): POST /token, GET /gmail/v1/users/{userId}/...,
POST /batch/gmail/v1 (and /batch, the discovery document's batchPath). Errors carry Google's
body `{"error": {"code", "message", "status", "errors": [{"reason", "domain", "message"}]}}`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from base64 import b64decode
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import compat32
from http.client import responses as REASONS
from typing import Any
from urllib.parse import parse_qs, unquote

from sandbox.faults import Rejection
from sandbox.google.gmail_payload import PayloadCache, bad_headers, message_resource
from sandbox.google.gmail_query import QueryError, parse_query
from sandbox.http import JSON_TYPE, Request, Response, Router
from sandbox.state import SandboxState, TokenError, UnknownMessage
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, USER_LABELS

MAX_BATCH_PARTS = 100

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

_STATUS_TEXT = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_USER = r"/gmail/v1/users/(?P<user>[^/]+)"
_GMAIL_ID = re.compile(r"[0-9a-fA-F]{1,20}")
_LABEL_IDS_BY_NAME = {
    **{label.lower(): label for label in SYSTEM_LABELS},
    **{name.lower(): lid for lid, name in USER_LABELS.items()},
    **{lid.lower(): lid for lid in USER_LABELS},
}


def google_error(
    status: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    status_text: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    extra: dict[str, str] | None = None,
) -> Response:
    """A Google API error response with the standard JSON error body."""
    item = {"message": message, "domain": domain, "reason": reason, **(extra or {})}
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [item],
            "status": status_text or _STATUS_TEXT.get(status, "UNKNOWN"),
        }
    }
    return Response.json(status, body, headers)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response.json(status, {"error": error, "error_description": description})


def google_rejection(rejection: Rejection) -> Response:
    if rejection.kind == "insufficient_permissions":
        return google_error(
            403,
            "Request had insufficient authentication scopes.",
            "insufficientPermissions",
            headers=[
                (
                    "WWW-Authenticate",
                    'Bearer realm="https://accounts.google.com/", error="insufficient_scope"',
                )
            ],
        )
    if rejection.kind == "account_suspended":
        return google_error(
            400, "Mail service not enabled", "failedPrecondition", status_text="FAILED_PRECONDITION"
        )
    if rejection.kind in ("rate_limit", "quota"):
        retry = rejection.retry_after or 1
        when = datetime.now(UTC) + timedelta(seconds=retry)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        message = f"User-rate limit exceeded.  Retry after {stamp}"
        if rejection.kind == "quota":
            message = (
                "Quota exceeded for quota metric 'Queries' and limit 'Queries per second per "
                f"user'. Retry after {stamp}"
            )
        return google_error(
            429,
            message,
            "rateLimitExceeded",
            domain="usageLimits",
            headers=[("Retry-After", str(retry))],
        )
    if rejection.status == 500:
        return google_error(500, "Internal error encountered.", "backendError")
    return google_error(rejection.status, "The service is currently unavailable.", "backendError")


def google_unauthenticated(missing: bool) -> Response:
    if missing:
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        reason, item_message = "required", "Login Required."
    else:
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project."
        )
        reason, item_message = "authError", "Invalid Credentials"
    response = google_error(
        401,
        message,
        reason,
        headers=[
            (
                "WWW-Authenticate",
                'Bearer realm="https://accounts.google.com/", error="invalid_token"',
            )
        ],
        extra={"location": "Authorization", "locationType": "header"},
    )
    body = json.loads(response.body)
    body["error"]["errors"][0]["message"] = item_message
    return Response.json(401, body, response.headers)


def google_authenticate(state: SandboxState, request: Request) -> str | Response:
    """The Google mailbox a request's bearer token belongs to, or the 401 to answer."""
    token = request.bearer_token()
    if token is None:
        return google_unauthenticated(missing=True)
    mailbox = state.mailbox_for_access_token(token)
    if mailbox is None or state.mailbox(mailbox).provider != "google":
        return google_unauthenticated(missing=False)
    return mailbox


class GoogleProvider:
    """Handlers for Google's endpoints over a shared SandboxState."""

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
        self.router = Router()
        self.router.add("POST", r"/token", self._token)
        self.router.add("POST", r"/batch/gmail/v1", self._batch)
        self.router.add("POST", r"/batch", self._batch)
        self.router.extend(self.api)

    # ---- OAuth --------------------------------------------------------------------------------

    def _token(self, request: Request, _: re.Match[str]) -> Response:
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = b64decode(basic[6:].strip()).decode("utf-8")
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = None
        if client_id != GOOGLE_CLIENT_ID or client_secret != GOOGLE_CLIENT_SECRET:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        grant = form.get("grant_type")
        if grant != "refresh_token":
            return _oauth_error(
                400, "unsupported_grant_type", f"Invalid grant_type: {grant or ''}".strip()
            )
        refresh_token = form.get("refresh_token")
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "Missing required parameter: refresh_token")
        owner = self.state.refresh_token_owner(refresh_token)
        if owner is None or self.state.mailbox(owner).provider != "google":
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        try:
            token, expires_in, mailbox = self.state.exchange_refresh_token(refresh_token)
        except TokenError:
            return _oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        return Response.json(
            200,
            {
                "access_token": token,
                "expires_in": expires_in,
                "scope": " ".join(mailbox.scopes),
                "token_type": "Bearer",
            },
            [
                ("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
                ("Pragma", "no-cache"),
            ],
        )

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
                self._maybe_sleep(mailbox)
            user = unquote(match["user"]).lower()
            box = self.state.mailbox(mailbox)
            if user != "me" and user != box.address and user not in box.aliases:
                return google_error(403, f"Delegation denied for {box.address}", "forbidden")
            rejection = self.state.admit_call(mailbox, method, cost)
            if rejection is not None:
                return google_rejection(rejection)
            return run(request, match, mailbox)

        return handle

    def _maybe_sleep(self, mailbox: str) -> None:
        delay = self.state.slow_seconds(mailbox)
        if delay > 0:
            time.sleep(delay)

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
        """Only `messagesAdded`-style records (every change since startHistoryId counts as one)."""
        try:
            start = int(request.param("startHistoryId") or "")
        except ValueError:
            return google_error(400, "Missing or invalid startHistoryId", "invalidArgument")
        changed = []
        for msg in self.state.messages_between(mailbox):
            _, history_id = self.state.message(mailbox, msg.id)
            if history_id > start:
                changed.append((history_id, msg))
        changed.sort(key=lambda item: item[0])
        body: dict[str, Any] = {"historyId": str(self.state.history_id(mailbox))}
        if changed:
            body["history"] = [
                {
                    "id": str(hid),
                    "messages": [{"id": m.id, "threadId": m.thread_id}],
                    "messagesAdded": [
                        {"message": {"id": m.id, "threadId": m.thread_id, "labelIds": m.label_ids}}
                    ],
                }
                for hid, m in changed
            ]
        return Response.json(200, body)

    # ---- batch --------------------------------------------------------------------------------

    def _batch(self, request: Request, _: re.Match[str]) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/mixed"):
            return google_error(400, "Batch requests must be multipart/mixed", "badContent")
        envelope = BytesParser(policy=compat32).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        parts = envelope.get_payload() if envelope.is_multipart() else []
        if not parts:
            return google_error(400, "Batch request contains no parts", "badContent")
        if len(parts) > MAX_BATCH_PARTS:
            return google_error(
                400,
                f"Batch request contains too many parts; max {MAX_BATCH_PARTS} is allowed.",
                "batchSizeTooLarge",
            )
        inner = [(part.get("Content-ID"), _inner_request(part, request)) for part in parts]
        owner = self._batch_owner(request, [r for _, r in inner if r is not None])
        if owner is not None:
            self.state.count_http(owner, batch_size=len(parts))
            self._maybe_sleep(owner)
        boundary = f"batch_{uuid.uuid4().hex}"
        chunks: list[bytes] = []
        for content_id, inner_request in inner:
            if inner_request is None:
                answer = google_error(400, "Malformed batch part", "badContent")
            elif not inner_request.path.startswith("/gmail/v1/"):
                answer = google_error(404, f"No such method: {inner_request.path}", "notFound")
            else:
                answer = self.api.dispatch(inner_request)
            chunks.append(_serialize_part(boundary, content_id, answer))
        body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
        return Response(200, body, f"multipart/mixed; boundary={boundary}")

    def _batch_owner(self, request: Request, inner: list[Request]) -> str | None:
        for candidate in [request, *inner]:
            token = candidate.bearer_token()
            if token:
                mailbox = self.state.mailbox_for_access_token(token)
                if mailbox:
                    return mailbox
        return None


def _parse_page_token(token: str | None) -> tuple[int, str] | None | bool:
    """(internalDate, id) of the last message already returned; False when unreadable."""
    if not token:
        return None
    if not token.isdigit() or len(token) != 35:
        return False
    return int(token[:15]), f"{int(token[15:]):016x}"


def _inner_request(part: Any, outer: Request) -> Request | None:
    """An `application/http` batch part as a Request; inherits the outer Authorization."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return None
    text = payload if isinstance(payload, str) else str(payload)
    lines = re.split(r"\r?\n", text)
    first = lines[0].split()
    if len(first) < 2:
        return None
    headers: dict[str, str] = {}
    index = 1
    while index < len(lines) and lines[index].strip():
        name, _, value = lines[index].partition(":")
        headers[name.strip().lower()] = value.strip()
        index += 1
    body = "\n".join(lines[index + 1 :]).strip().encode("utf-8")
    if "authorization" not in headers and "authorization" in outer.headers:
        headers["authorization"] = outer.headers["authorization"]
    return Request.build(first[0], first[1], headers, body, in_batch=True)


def _serialize_part(boundary: str, content_id: str | None, response: Response) -> bytes:
    head = [f"--{boundary}", "Content-Type: application/http"]
    if content_id:
        inner_id = re.sub(r"\r?\n", "", content_id).strip()
        if inner_id.startswith("<") and inner_id.endswith(">"):
            inner_id = inner_id[1:-1]
        head.append(f"Content-ID: <response-{inner_id}>")
    reason = REASONS.get(response.status, "Unknown")
    inner = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        "Vary: Origin",
        "Vary: X-Origin",
        "Vary: Referer",
        *(f"{name}: {value}" for name, value in response.headers),
        f"Content-Length: {len(response.body)}",
    ]
    return (
        "\r\n".join(head).encode()
        + b"\r\n\r\n"
        + "\r\n".join(inner).encode()
        + b"\r\n\r\n"
        + response.body
        + b"\r\n"
    )
