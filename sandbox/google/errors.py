"""How Google's APIs answer when they refuse: the standard JSON error body, the answers to
injected faults and quota refusals, and the bearer-token check that ends in a 401.

Shared by Gmail (`sandbox.google.gmail_api`, its batch) and Calendar (`sandbox.google.gcal_api`),
which answer errors identically.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sandbox.faults import Rejection
from sandbox.google.discovery import unknown_parameters
from sandbox.http import Request, Response
from sandbox.state import SandboxState

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


def unknown_parameter(request: Request, method_id: str) -> Response | None:
    """Google's 400 for a query parameter `method_id` does not take (per its discovery
    document), or None when every parameter is known."""
    unknown = unknown_parameters(method_id, set(request.query))
    if not unknown:
        return None
    message = (
        f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot bind query '
        f"parameter. Field '{unknown[0]}' could not be found in request message."
    )
    response = google_error(400, message, "invalid")
    body = json.loads(response.body)
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"description": message}],
        }
    ]
    return Response.json(400, body)


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
        return _rate_limited(rejection)
    if rejection.status == 500:
        return google_error(500, "Internal error encountered.", "backendError")
    return google_error(rejection.status, "The service is currently unavailable.", "backendError")


def _rate_limited(rejection: Rejection) -> Response:
    """Gmail's "slow down": 429 or 403 with `rateLimitExceeded` / `userRateLimitExceeded`, with
    a Retry-After header and a "Retry after <time>" message, or (as Gmail often answers) neither."""
    reason = rejection.reason or "rateLimitExceeded"
    retry = rejection.retry_after if rejection.kind == "rate_limit" else rejection.retry_after or 1
    if retry is None:
        user = reason == "userRateLimitExceeded"
        message = "User Rate Limit Exceeded" if user else "Rate Limit Exceeded"
        return google_error(rejection.status, message, reason, domain="usageLimits")
    when = datetime.now(UTC) + timedelta(seconds=retry)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    message = f"User-rate limit exceeded.  Retry after {stamp}"
    if rejection.kind == "quota":
        message = (
            "Quota exceeded for quota metric 'Queries' and limit 'Queries per second per "
            f"user'. Retry after {stamp}"
        )
    return google_error(
        rejection.status,
        message,
        reason,
        domain="usageLimits",
        headers=[("Retry-After", str(retry))],
    )


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
