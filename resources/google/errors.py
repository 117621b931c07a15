"""Google failures sorted into connection statuses, explained in words a mailbox owner can act on.

Classification may *read* a provider's error body (reason codes, status names) but never copies
it: the explanation and cause code come only from the fixed vocabulary below, so no token,
address or provider message can leak into logs, alerts or the status history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

from vocabulary.status import TOKEN_OWNER_MISMATCH, ConnectionFailure, ConnectionStatus

EXPLANATIONS: dict[ConnectionStatus, str] = {
    ConnectionStatus.INVALID_CREDENTIALS: (
        "Google no longer accepts Touchpoint's access to this mailbox: the password was changed "
        "or access was revoked. Reconnect the mailbox."
    ),
    ConnectionStatus.INSUFFICIENT_PERMISSIONS: (
        "Google refused Touchpoint permission to read this mailbox: a permission it needs was "
        "not granted, was removed, or is blocked by your Google Workspace administrator. "
        "Reconnect the mailbox and allow all requested access, or ask your administrator to "
        "allow Touchpoint."
    ),
    ConnectionStatus.ACCOUNT_SUSPENDED: (
        "Google says Gmail is not enabled for this account: the account may be suspended or "
        "deleted, or have no Gmail service. Ask your Google Workspace administrator to restore "
        "it, then reconnect the mailbox."
    ),
    ConnectionStatus.THROTTLED: (
        "Google is limiting how fast Touchpoint may read this mailbox. Touchpoint will try "
        "again later; nothing is needed from you."
    ),
    ConnectionStatus.NO_SERVICE_CONNECTION: (
        "Touchpoint could not reach Google's mail service: it was down or unreachable. "
        "Touchpoint will try again later; nothing is needed from you."
    ),
    ConnectionStatus.REQUEST_INVALID: (
        "Google rejected a request Touchpoint made for this mailbox. This is a problem on "
        "Touchpoint's side and the team has been told; nothing is needed from you."
    ),
    ConnectionStatus.SYNC_ERROR: (
        "Something unexpected went wrong while reading this mailbox from Google. Touchpoint "
        "will try again; nothing is needed from you."
    ),
}
OWNER_MISMATCH_EXPLANATION = (
    "The Google account that granted Touchpoint access is not this mailbox's owner, so Touchpoint "
    "will not read it. Reconnect the mailbox while signed in as its owner."
)
_INVALID_CLIENT_EXPLANATION = (
    "Google did not accept Touchpoint's own application setup. This is a configuration "
    "problem on Touchpoint's side; nothing is needed from you."
)

RATE_LIMIT_REASONS = frozenset(
    {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}
)
CONFIGURATION_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})
"""403s caused by Touchpoint's own Google project (API not enabled), not by the mailbox."""
_OAUTH_CODES: dict[str, ConnectionStatus] = {
    "invalid_grant": ConnectionStatus.INVALID_CREDENTIALS,
    "invalid_client": ConnectionStatus.REQUEST_INVALID,
    "unauthorized_client": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "invalid_scope": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "access_denied": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "admin_policy_enforced": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "org_internal": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "invalid_request": ConnectionStatus.REQUEST_INVALID,
    "unsupported_grant_type": ConnectionStatus.REQUEST_INVALID,
    "server_error": ConnectionStatus.NO_SERVICE_CONNECTION,
    "temporarily_unavailable": ConnectionStatus.NO_SERVICE_CONNECTION,
    "internal_failure": ConnectionStatus.NO_SERVICE_CONNECTION,
}
_RETRY_AFTER_IN_MESSAGE = re.compile(r"Retry after (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)")

NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    httplib2.HttpLib2Error,
    auth_exceptions.TransportError,
    ConnectionError,
    OSError,
)
"""Transport failures: the request may never have reached Google."""


def failure(
    status: ConnectionStatus, cause_code: str, explanation: str | None = None
) -> ConnectionFailure:
    """A ConnectionFailure with the standard explanation for `status`."""
    return ConnectionFailure(status, cause_code, explanation or EXPLANATIONS[status])


def _error_body(exc: HttpError) -> dict[str, Any]:
    try:
        data = json.loads(exc.content.decode("utf-8", "replace"))
    except (ValueError, AttributeError):
        return {}
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def error_reasons(exc: HttpError) -> set[str]:
    """Google's machine-readable reasons in an error body (`errors[].reason`, `status`, details)."""
    body = _error_body(exc)
    reasons: set[str] = set()
    for key in ("errors", "details"):
        for item in body.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("reason"), str):
                reasons.add(item["reason"])
    if isinstance(body.get("status"), str):
        reasons.add(body["status"])
    return reasons


def _mail_service_disabled(exc: HttpError) -> bool:
    body = _error_body(exc)
    reasons = error_reasons(exc)
    if not {"failedPrecondition", "FAILED_PRECONDITION"} & reasons:
        return False
    return "not enabled" in str(body.get("message", "")).lower()


def _delegation_denied(exc: HttpError) -> bool:
    """Gmail's answer to a userId that is not the token's own account (403 `forbidden`,
    "Delegation denied for ...")."""
    body = _error_body(exc)
    message = str(body.get("message", ""))
    return "forbidden" in error_reasons(exc) and message.startswith("Delegation denied")


def owner_mismatch() -> ConnectionFailure:
    """The token belongs to another account than the mailbox's owner: a credential failure of
    this connection only, until its owner reconnects."""
    return failure(
        ConnectionStatus.INVALID_CREDENTIALS, TOKEN_OWNER_MISMATCH, OWNER_MISMATCH_EXPLANATION
    )


def _oauth_error_code(exc: auth_exceptions.RefreshError) -> str | None:
    for arg in exc.args[1:]:
        if isinstance(arg, Mapping) and isinstance(arg.get("error"), str):
            return arg["error"]
    if exc.args and isinstance(exc.args[0], str):
        head = exc.args[0].split(":", 1)[0].strip()
        if head in _OAUTH_CODES:
            return head
    return None


def is_rate_limit(exc: BaseException) -> bool:
    """429, or Google's 403 flavours of "slow down"."""
    if not isinstance(exc, HttpError):
        return False
    return exc.status_code == 429 or (
        exc.status_code == 403 and bool(RATE_LIMIT_REASONS & error_reasons(exc))
    )


def is_retryable(exc: BaseException) -> bool:
    """Whether the same request may succeed if sent again later."""
    if isinstance(exc, HttpError):
        return is_rate_limit(exc) or exc.status_code in (408, 500, 502, 503, 504)
    if isinstance(exc, auth_exceptions.RefreshError):
        return exc.retryable or _OAUTH_CODES.get(_oauth_error_code(exc) or "") == (
            ConnectionStatus.NO_SERVICE_CONNECTION
        )
    return isinstance(exc, NETWORK_ERRORS)


def retry_after_seconds(
    source: HttpError | Mapping[str, str] | None, now: datetime | None = None
) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), if the answer has one.

    Takes an HttpError (its response headers, then Google's "Retry after <time>" message) or a
    header mapping. Never negative.
    """
    if source is None:
        return None
    headers = source.resp if isinstance(source, HttpError) else source
    now = now or datetime.now(UTC)
    value = None
    for name, header_value in headers.items():
        if str(name).lower() == "retry-after":
            value = str(header_value).strip()
            break
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - now).total_seconds())
    if isinstance(source, HttpError):
        match = _RETRY_AFTER_IN_MESSAGE.search(str(_error_body(source).get("message", "")))
        if match:
            when = datetime.fromisoformat(match[1].replace("Z", "+00:00"))
            return max(0.0, (when - now).total_seconds())
    return None


def classify_http_error(exc: HttpError) -> ConnectionFailure:
    """An API error answer (after any retries) as a connection failure."""
    status = exc.status_code
    reasons = error_reasons(exc)
    if status == 401:
        return failure(ConnectionStatus.INVALID_CREDENTIALS, "unauthenticated")
    if is_rate_limit(exc):
        return failure(ConnectionStatus.THROTTLED, "rate_limited")
    if status == 403:
        if CONFIGURATION_REASONS & reasons:
            return failure(
                ConnectionStatus.REQUEST_INVALID, "api_not_enabled", _INVALID_CLIENT_EXPLANATION
            )
        if _delegation_denied(exc):
            return owner_mismatch()
        if "domainPolicy" in reasons:
            return failure(ConnectionStatus.INSUFFICIENT_PERMISSIONS, "domain_policy")
        return failure(ConnectionStatus.INSUFFICIENT_PERMISSIONS, "insufficient_permissions")
    if status == 400 and _mail_service_disabled(exc):
        return failure(ConnectionStatus.ACCOUNT_SUSPENDED, "mail_service_not_enabled")
    if status >= 500:
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, f"server_error_{status}")
    if status in (400, 411, 413, 414):
        return failure(ConnectionStatus.REQUEST_INVALID, f"bad_request_{status}")
    return failure(ConnectionStatus.SYNC_ERROR, f"http_{status}")


def classify_refresh_error(exc: auth_exceptions.RefreshError) -> ConnectionFailure:
    """A token endpoint refusal as a connection failure."""
    code = _oauth_error_code(exc)
    status = _OAUTH_CODES.get(code or "")
    if status is None:
        if exc.retryable:
            return failure(ConnectionStatus.NO_SERVICE_CONNECTION, "token_endpoint_unavailable")
        return failure(ConnectionStatus.SYNC_ERROR, "token_refresh_failed")
    explanation = _INVALID_CLIENT_EXPLANATION if code == "invalid_client" else None
    return failure(status, code or "token_refresh_failed", explanation)


def classify(exc: BaseException) -> ConnectionFailure:
    """Any failure met while talking to Google, as a ConnectionFailure safe to show and store."""
    if isinstance(exc, ConnectionFailure):
        return exc
    if isinstance(exc, HttpError):
        return classify_http_error(exc)
    if isinstance(exc, auth_exceptions.RefreshError):
        return classify_refresh_error(exc)
    if isinstance(exc, TimeoutError):
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, "timeout")
    if isinstance(exc, NETWORK_ERRORS):
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, "network_error")
    return failure(ConnectionStatus.SYNC_ERROR, "unexpected_response")
