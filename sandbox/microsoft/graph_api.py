"""Microsoft Graph v1.0 mail and calendar for the sandbox's Microsoft mailboxes, with real shapes.

Routes (relative to the sandbox base URL, standing in for https://graph.microsoft.com):
/v1.0/me and /v1.0/users/{address or object id} with /messages, /messages/{id}, /mailFolders,
/mailFolders/{id or well-known name}, /mailFolders/{...}/messages, /calendarView (also
/calendar/calendarView), and POST /v1.0/$batch. Errors are `{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}`. Throttling follows Outlook's
per-mailbox limits when enabled (`SandboxState.set_graph_limits`): concurrent requests and
requests per window, both answered 429 `ApplicationThrottled` with Retry-After.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from sandbox.faults import Rejection
from sandbox.http import Request, Response, Router
from sandbox.microsoft.graph_payload import (
    EVENT_PROPERTIES,
    MESSAGE_PROPERTIES,
    WELL_KNOWN_FOLDERS,
    MessageRenderer,
    event_resource,
    folder_of,
    folder_resources,
    zone_named,
)
from sandbox.microsoft.graph_query import (
    ListQuery,
    QueryError,
    parse_datetime,
    parse_list_query,
    project,
)
from sandbox.state import SandboxState, UnknownMessage
from sandbox.workload import msids
from sandbox.workload.calendar_model import occurrences
from sandbox.workload.model import GRAPH_CALENDARS_SCOPE, GRAPH_MAIL_SCOPE, Mailbox, SandboxMessage

GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
MAX_BATCH_REQUESTS = 20
BATCH_PARALLELISM = 4
"""Graph hands at most four parts of a batch to Outlook at once (parts with dependsOn: one)."""

_USER = r"/v1\.0/(?:me|users/(?P<user>[^/]+))"
_ID = re.compile(r"[A-Za-z0-9_\-+/]+=*")
_PREFER_ZONE = re.compile(r'outlook\.timezone\s*=\s*"?(?P<zone>[^";,]+)"?', re.IGNORECASE)
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
_SERVER_ERRORS = {
    500: ("InternalServerError", "An internal server error occurred. Please retry the request."),
    502: ("BadGateway", "Bad Gateway"),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry."),
    504: ("GatewayTimeout", "The gateway did not receive a response in time."),
}


def graph_error(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    request_id = str(uuid.uuid4())
    client_id = (request.headers.get("client-request-id") if request else None) or request_id
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_id,
            },
        }
    }
    return _json(status, body, [("request-id", request_id), *(headers or [])])


def _json(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, GRAPH_JSON, list(headers or []))


def _throttled(request: Request | None, message: str, retry_after: int) -> Response:
    return graph_error(
        request, 429, "ApplicationThrottled", message, [("Retry-After", str(retry_after))]
    )


def _rejection(request: Request, rejection: Rejection) -> Response:
    if rejection.kind == "insufficient_permissions":
        return graph_error(
            request, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
        )
    if rejection.kind == "account_suspended":
        return graph_error(
            request,
            404,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        )
    if rejection.kind == "rate_limit":
        return graph_error(
            request,
            429,
            "TooManyRequests",
            "Too many requests.",
            [("Retry-After", str(rejection.retry_after or 1))],
        )
    if rejection.kind == "quota":
        return _throttled(
            request, "Application is over its MailboxRequestRate limit.", rejection.retry_after or 1
        )
    code, message = _SERVER_ERRORS.get(rejection.status, _SERVER_ERRORS[503])
    return graph_error(request, rejection.status, code, message)


def _unauthenticated(request: Request, message: str) -> Response:
    return graph_error(
        request,
        401,
        "InvalidAuthenticationToken",
        message,
        [
            (
                "WWW-Authenticate",
                'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
                'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"',
            )
        ],
    )


class GraphProvider:
    """Handlers for Graph over a shared SandboxState."""

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.renderer = MessageRenderer()
        self.api = Router()
        add = self.api.add
        add("GET", _USER, self._wrap("graph.users.get", None, self._user))
        add(
            "GET",
            _USER + r"/messages",
            self._wrap("graph.messages.list", GRAPH_MAIL_SCOPE, self._list),
        )
        add(
            "GET",
            _USER + r"/messages/(?P<id>[^/]+)",
            self._wrap("graph.messages.get", GRAPH_MAIL_SCOPE, self._get),
        )
        add(
            "GET",
            _USER + r"/mailFolders",
            self._wrap("graph.mailFolders.list", GRAPH_MAIL_SCOPE, self._folders),
        )
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)",
            self._wrap("graph.mailFolders.get", GRAPH_MAIL_SCOPE, self._folder),
        )
        add(
            "GET",
            _USER + r"/mailFolders/(?P<folder>[^/]+)/messages",
            self._wrap("graph.mailFolders.messages.list", GRAPH_MAIL_SCOPE, self._list),
        )
        add(
            "GET",
            _USER + r"/(?:calendar/)?calendarView",
            self._wrap("graph.calendarView.list", GRAPH_CALENDARS_SCOPE, self._calendar_view),
        )
        self.router = Router()
        self.router.add("POST", r"/v1\.0/\$batch", self._batch)
        self.router.extend(self.api)

    # ---- pipeline -----------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | Response:
        token = request.bearer_token()
        if token is None:
            return _unauthenticated(request, "Access token is empty.")
        mailbox = self.state.mailbox_for_access_token(token)
        if mailbox is None or self.state.mailbox(mailbox).provider != "microsoft":
            if token.count(".") == 2:
                return _unauthenticated(
                    request, "Lifetime validation failed, the token is expired."
                )
            return _unauthenticated(
                request,
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be "
                "in JWS or JWE Compact Serialization Format. (JWS): "
                "'EncodedHeader.EndcodedPayload.EncodedSignature'. (JWE): "
                "'EncodedProtectedHeader.EncodedEncryptedKey.EncodedInitializationVector."
                "EncodedCiphertext.EncodedAuthenticationTag'.",
            )
        return mailbox

    def _resolve_user(
        self, request: Request, match: re.Match[str], box: Mailbox
    ) -> Response | None:
        user = match["user"]
        if user is None:
            return None
        wanted = unquote(user).strip("'").lower()
        if wanted in (box.address, (box.user_id or "").lower()):
            return None
        for other in self.state.mailboxes:
            if wanted in (other.address, (other.user_id or "").lower()):
                return graph_error(
                    request,
                    403,
                    "ErrorAccessDenied",
                    "Access is denied. Check credentials and try again.",
                )
        return graph_error(
            request, 404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
        )

    def _wrap(
        self,
        method: str,
        scope: str | None,
        run: Callable[[Request, re.Match[str], Mailbox], Response],
    ) -> Callable[[Request, re.Match[str]], Response]:
        def handle(request: Request, match: re.Match[str]) -> Response:
            mailbox = self._authenticate(request)
            if isinstance(mailbox, Response):
                return mailbox
            box = self.state.mailbox(mailbox)
            if request.in_batch:
                return self._call(request, match, box, method, scope, run)
            self.state.count_http(mailbox)
            if self.state.enter_request(mailbox) == 0:
                return _throttled(request, "Application is over its MailboxConcurrency limit.", 1)
            try:
                delay = self.state.slow_seconds(mailbox)
                if delay > 0:
                    time.sleep(delay)
                return self._call(request, match, box, method, scope, run)
            finally:
                self.state.leave_request(mailbox)

        return handle

    def _call(
        self,
        request: Request,
        match: re.Match[str],
        box: Mailbox,
        method: str,
        scope: str | None,
        run: Callable[[Request, re.Match[str], Mailbox], Response],
    ) -> Response:
        denied = self._resolve_user(request, match, box)
        if denied is not None:
            return denied
        rejection = self.state.admit_call(box.address, method, 1, meter="graph")
        if rejection is not None:
            return _rejection(request, rejection)
        if scope is not None and scope not in box.scopes:
            return graph_error(
                request,
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            )
        try:
            return run(request, match, box)
        except QueryError as exc:
            return graph_error(request, 400, exc.code, str(exc))

    # ---- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _base(request: Request) -> str:
        return f"http://{request.headers.get('host', '127.0.0.1')}"

    def _context(self, request: Request, box: Mailbox, tail: str) -> str:
        return f"{self._base(request)}/v1.0/$metadata#users('{quote(box.address)}')/{tail}"

    def _next_link(self, request: Request, **overrides: str) -> str:
        params = {k: v[0] for k, v in request.query.items()}
        params.update(overrides)
        return f"{self._base(request)}{request.path}?{urlencode(params, quote_via=quote)}"

    @staticmethod
    def _options(request: Request) -> dict[str, str | None]:
        return {k: v[0] for k, v in request.query.items()}

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
        return item if variant is None else _malform(item, variant)

    # ---- mail ---------------------------------------------------------------------------------

    def _user(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        given, _sep, family = box.display_name.partition(" ")
        return _json(
            200,
            {
                "@odata.context": f"{self._base(request)}/v1.0/$metadata#users/$entity",
                "businessPhones": [],
                "displayName": box.display_name,
                "givenName": given,
                "jobTitle": None,
                "mail": box.address,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
                "surname": family or None,
                "userPrincipalName": box.address,
                "id": box.user_id,
            },
        )

    def _list(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        query = parse_list_query(
            self._options(request), _FILTERABLE, _ORDERABLE, set(MESSAGE_PROPERTIES), "message"
        )
        folder = None
        if "folder" in match.groupdict() and match["folder"]:
            folder = self._folder_name(box, unquote(match["folder"]))
            if folder is None:
                return _not_found(request)
        matched = self._matching_messages(box, query, folder)
        page = matched[query.skip : query.skip + query.top]
        body: dict[str, Any] = {"@odata.context": self._context(request, box, "messages")}
        if query.count:
            body["@odata.count"] = len(matched)
        body["value"] = [self._message_item(box, m, query.select) for m in page]
        if query.skip + query.top < len(matched):
            body["@odata.nextLink"] = self._next_link(
                request, **{"$skip": str(query.skip + query.top)}
            )
        return _json(200, body)

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

    def _get(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        message_id = unquote(match["id"])
        if not _ID.fullmatch(message_id):
            return graph_error(request, 400, "ErrorInvalidIdMalformed", "Id is malformed.")
        options = self._options(request)
        query = parse_list_query(
            {"$select": options.get("$select")}, {}, set(), set(MESSAGE_PROPERTIES), "message"
        )
        try:
            msg, _ = self.state.message(box.address, message_id)
        except UnknownMessage:
            return _not_found(request)
        resource = self.renderer.resource(box, msg)
        if query.select is None:
            resource = {
                k: v
                for k, v in resource.items()
                if k not in ("internetMessageHeaders", "uniqueBody")
            }
        item = {"@odata.context": self._context(request, box, "messages/$entity")}
        item.update(project(resource, query.select))
        variant = self.state.malformed_variant(box.address, msg.id)
        if variant == "invalid_json":
            text = json.dumps(item).encode()
            return Response(200, text[: max(1, len(text) // 2)], GRAPH_JSON)
        return _json(200, item if variant is None else _malform(item, variant))

    def _folder_counts(self, box: Mailbox) -> dict[str, tuple[int, int]]:
        counts: dict[str, tuple[int, int]] = {}
        for msg in self.state.messages_between(box.address):
            name = folder_of(msg.label_ids)
            total, unread = counts.get(name, (0, 0))
            counts[name] = (total + 1, unread + ("UNREAD" in msg.label_ids))
        return counts

    def _folder_name(self, box: Mailbox, wanted: str) -> str | None:
        folders = folder_resources(box, {})
        for (name, _), resource in zip(WELL_KNOWN_FOLDERS, folders, strict=True):
            if wanted.lower() == name or wanted == resource["id"]:
                return name
        return None

    def _folders(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        value = folder_resources(box, self._folder_counts(box))
        return _json(
            200, {"@odata.context": self._context(request, box, "mailFolders"), "value": value}
        )

    def _folder(self, request: Request, match: re.Match[str], box: Mailbox) -> Response:
        name = self._folder_name(box, unquote(match["folder"]))
        if name is None:
            return _not_found(request)
        folders = folder_resources(box, self._folder_counts(box))
        resource = folders[[n for n, _ in WELL_KNOWN_FOLDERS].index(name)]
        return _json(
            200, {"@odata.context": self._context(request, box, "mailFolders/$entity"), **resource}
        )

    # ---- calendar -----------------------------------------------------------------------------

    def _calendar_view(self, request: Request, _: re.Match[str], box: Mailbox) -> Response:
        options = self._options(request)
        raw_start, raw_end = options.get("startDateTime"), options.get("endDateTime")
        if not raw_start or not raw_end:
            return graph_error(
                request,
                400,
                "ErrorInvalidParameter",
                "This request requires a time window specified by the query string parameters "
                "StartDateTime and EndDateTime.",
            )
        try:
            start, end = parse_datetime(raw_start), parse_datetime(raw_end)
        except QueryError:
            return graph_error(
                request,
                400,
                "ErrorInvalidParameter",
                "The value of StartDateTime or EndDateTime is invalid.",
            )
        if options.get("$filter"):
            return graph_error(
                request,
                400,
                "ErrorInvalidUrlQueryFilter",
                "The sandbox's calendarView takes no $filter.",
            )
        order = (options.get("$orderby") or "").replace(" ", "").lower()
        if order not in ("", "start/datetime", "start/datetimeasc", "start/datetimedesc"):
            return graph_error(
                request, 400, "BadRequest", f"Invalid $orderby: {options['$orderby']}"
            )
        query = parse_list_query(
            {"$select": options.get("$select"), "$top": options.get("$top")},
            {},
            set(),
            set(EVENT_PROPERTIES),
            "event",
        )
        skip = _skip_from_token(options.get("$skiptoken"))
        if skip is None:
            return graph_error(request, 400, "BadRequest", "Invalid $skiptoken.")
        label = "UTC"
        zone: ZoneInfo = ZoneInfo("UTC")
        headers: list[tuple[str, str]] = []
        prefer = _PREFER_ZONE.search(request.headers.get("prefer", ""))
        if prefer:
            named = zone_named(prefer["zone"].strip())
            if named is not None:
                zone, label = named, prefer["zone"].strip()
            headers.append(("Preference-Applied", f'outlook.timezone="{label}"'))
        found = [o for e in self.state.events(box.address) for o in occurrences(e, start, end)]
        found.sort(key=lambda o: (o.start, o.event.uid, o.original_key or ""))
        if order.endswith("desc"):
            found.reverse()
        page = found[skip : skip + query.top]
        items = []
        for occ in page:
            resource = event_resource(box, occ, zone, label)
            item = project(resource, query.select)
            variant = self.state.malformed_variant(box.address, resource["id"])
            items.append(item if variant is None else _malform(item, variant))
        body: dict[str, Any] = {
            "@odata.context": self._context(request, box, "calendarView"),
            "value": items,
        }
        if skip + query.top < len(found):
            token = base64.urlsafe_b64encode(f"skip:{skip + query.top}".encode()).decode()
            body["@odata.nextLink"] = self._next_link(request, **{"$skiptoken": token})
        return _json(200, body, headers)

    # ---- $batch -------------------------------------------------------------------------------

    def _batch(self, request: Request, _: re.Match[str]) -> Response:
        owner = self._authenticate(request)
        if isinstance(owner, Response):
            return owner
        try:
            payload = request.json()
            parts = payload["requests"]
            if not isinstance(parts, list) or not parts:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return graph_error(request, 400, "BadRequest", "Invalid batch payload format.")
        if len(parts) > MAX_BATCH_REQUESTS:
            return graph_error(
                request,
                400,
                "BadRequest",
                f"The number of requests in the batch exceeds the maximum of {MAX_BATCH_REQUESTS}.",
            )
        problem = _check_parts(parts)
        if problem:
            return graph_error(request, 400, "BadRequest", problem)
        self.state.count_http(owner, batch_size=len(parts))
        delay = self.state.slow_seconds(owner)
        if delay > 0:
            time.sleep(delay)
        answers: dict[str, dict[str, Any]] = {}
        for wave in _waves(parts):
            granted = self.state.enter_request(owner, len(wave))
            try:
                for number, part in enumerate(wave):
                    answers[str(part["id"])] = self._run_part(
                        request, part, answers, number < granted
                    )
            finally:
                self.state.leave_request(owner, granted)
        return _json(200, {"responses": [answers[str(p["id"])] for p in parts]})

    def _run_part(
        self, outer: Request, part: dict[str, Any], answers: dict[str, dict[str, Any]], slot: bool
    ) -> dict[str, Any]:
        part_id = str(part["id"])
        failed = [d for d in part.get("dependsOn") or [] if answers[str(d)]["status"] >= 400]
        if failed:
            response = graph_error(outer, 424, "FailedDependency", "Failed dependency.")
        elif not slot:
            response = _throttled(outer, "Application is over its MailboxConcurrency limit.", 1)
        else:
            url = str(part["url"])
            url = re.sub(r"^https?://[^/]+", "", url)
            url = url if url.startswith("/") else "/" + url
            url = url if url.startswith("/v1.0/") else "/v1.0" + url
            headers = {str(k): str(v) for k, v in (part.get("headers") or {}).items()}
            for name in ("authorization", "host"):
                if name in outer.headers:
                    headers.setdefault(name, outer.headers[name])
            inner = Request.build(str(part["method"]), url, headers, b"", in_batch=True)
            found = self.api.match(inner)
            if isinstance(found, int):
                response = graph_error(outer, 400, "BadRequest", f"Invalid request URL: {url}")
            else:
                handler, matched = found
                response = handler(inner, matched)
        part_headers = {"Content-Type": response.content_type}
        part_headers.update({k: v for k, v in response.headers if k.lower() == "retry-after"})
        try:
            body = json.loads(response.body) if response.body else None
        except ValueError:
            body = base64.b64encode(response.body).decode("ascii")
        return {"id": part_id, "status": response.status, "headers": part_headers, "body": body}


_MIN = datetime(1, 1, 1, tzinfo=UTC)


def _not_found(request: Request) -> Response:
    return graph_error(
        request, 404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


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


def _skip_from_token(token: str | None) -> int | None:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        if text.startswith("skip:"):
            return int(text[5:])
    except (ValueError, UnicodeDecodeError):
        return None
    return None


def _check_parts(parts: list[Any]) -> str | None:
    seen: set[str] = set()
    for part in parts:
        if not isinstance(part, dict):
            return "Invalid batch payload format."
        for name in ("id", "method", "url"):
            if not part.get(name):
                return f"Invalid request: the '{name}' property is required."
        part_id = str(part["id"])
        if part_id in seen:
            return "Batch request contains duplicated ids."
        for dependency in part.get("dependsOn") or []:
            if str(dependency) not in seen:
                return f"Request '{part_id}' depends on '{dependency}', which is not before it."
        seen.add(part_id)
    return None


def _waves(parts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Parts as Graph dispatches them: up to four at once, a part with dependsOn on its own."""
    waves: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for part in parts:
        if part.get("dependsOn"):
            if current:
                waves.append(current)
                current = []
            waves.append([part])
            continue
        current.append(part)
        if len(current) == BATCH_PARALLELISM:
            waves.append(current)
            current = []
    if current:
        waves.append(current)
    return waves


def _malform(item: dict[str, Any], variant: str) -> Any:
    """One listed item made unusable the way the `malformed` fault asks."""
    if variant == "invalid_json":
        text = json.dumps(item, ensure_ascii=False)
        return text[: max(1, len(text) // 2)]
    if variant == "not_object":
        return [item.get("id")]
    if variant == "missing_payload":
        return {k: v for k, v in item.items() if k in ("@odata.etag", "id")}
    broken = dict(item)
    if "from" in broken or "sender" in broken:
        broken["from"] = broken["sender"] = {"emailAddress": {"name": "", "address": "<<>>@@"}}
    if "sentDateTime" in broken:
        broken["sentDateTime"] = "not a date"
    if "internetMessageId" in broken:
        broken["internetMessageId"] = None
    if broken.get("internetMessageHeaders"):
        broken["internetMessageHeaders"] = [
            {"name": "From", "value": "<<>>@@"},
            {"name": "Date", "value": "not a date"},
            {"name": "Subject", "value": "=?UTF-8?B?////?= =?x-unknown-charset?Q?caf=E9?="},
        ]
    for name in ("start", "end"):
        if isinstance(broken.get(name), dict):
            broken[name] = {"dateTime": "not a date", "timeZone": "Nowhere/Never"}
    return broken
