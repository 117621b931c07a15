"""How Microsoft Graph answers: its JSON content type, the error body and the answers to injected
faults and throttling, OData links (`@odata.context`, `@odata.nextLink`), and list items broken
the way the `malformed` fault asks.

Shared by the Graph handlers (`graph_api`, `graph_mail`, `graph_calendar`, `graph_batch`).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from sandbox.faults import Rejection
from sandbox.http import Request, Response
from sandbox.workload.model import Mailbox

GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
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
    return graph_json(status, body, [("request-id", request_id), *(headers or [])])


def graph_json(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, GRAPH_JSON, list(headers or []))


def throttled(request: Request | None, message: str, retry_after: int) -> Response:
    return graph_error(
        request, 429, "ApplicationThrottled", message, [("Retry-After", str(retry_after))]
    )


def rejection_response(request: Request, rejection: Rejection) -> Response:
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
        # Graph throttles with 429 only (a Google-style 403 fault still answers 429 here).
        retry = [("Retry-After", str(rejection.retry_after))] if rejection.retry_after else []
        return graph_error(request, 429, "TooManyRequests", "Too many requests.", retry)
    if rejection.kind == "quota":
        return throttled(
            request, "Application is over its MailboxRequestRate limit.", rejection.retry_after or 1
        )
    code, message = _SERVER_ERRORS.get(rejection.status, _SERVER_ERRORS[503])
    return graph_error(request, rejection.status, code, message)


def unauthenticated(request: Request, message: str) -> Response:
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


def not_found(request: Request) -> Response:
    return graph_error(
        request, 404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


def base_url(request: Request) -> str:
    return f"http://{request.headers.get('host', '127.0.0.1')}"


def context_url(request: Request, box: Mailbox, tail: str) -> str:
    return f"{base_url(request)}/v1.0/$metadata#users('{quote(box.address)}')/{tail}"


def next_link(request: Request, **overrides: str) -> str:
    params = {k: v[0] for k, v in request.query.items()}
    params.update(overrides)
    return f"{base_url(request)}{request.path}?{urlencode(params, quote_via=quote)}"


def query_options(request: Request) -> dict[str, str | None]:
    return {k: v[0] for k, v in request.query.items()}


def malform(item: dict[str, Any], variant: str) -> Any:
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
