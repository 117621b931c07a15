"""Classification of Google failures into connection statuses, with safe explanations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httplib2
import pytest
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

from resources.google.errors import (
    EXPLANATIONS,
    classify,
    is_rate_limit,
    is_retryable,
    retry_after_seconds,
)
from vocabulary.status import ConnectionFailure, ConnectionStatus

SECRET_MARKER = "BODY-TEXT-ya29.secret-token-value"
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def http_error(
    status: int,
    reason: str | None = None,
    message: str = SECRET_MARKER,
    status_text: str | None = None,
    headers: dict[str, str] | None = None,
    raw_body: bytes | None = None,
) -> HttpError:
    """An HttpError shaped like Google's, carrying a marker that must never be echoed."""
    body: dict[str, Any] = {"error": {"code": status, "message": message}}
    if reason:
        body["error"]["errors"] = [{"reason": reason, "domain": "global", "message": message}]
    if status_text:
        body["error"]["status"] = status_text
    resp = httplib2.Response({"status": str(status), **(headers or {})})
    content = raw_body if raw_body is not None else json.dumps(body).encode()
    return HttpError(resp, content, uri="https://gmail.example/gmail/v1/users/me/messages")


def refresh_error(error: str, retryable: bool = False) -> auth_exceptions.RefreshError:
    """As google.oauth2._client raises it for a token endpoint error answer."""
    data = {"error": error, "error_description": SECRET_MARKER}
    return auth_exceptions.RefreshError(f"{error}: {SECRET_MARKER}", data, retryable=retryable)


CASES: list[tuple[str, BaseException, ConnectionStatus, str]] = [
    (
        "invalid_grant",
        refresh_error("invalid_grant"),
        ConnectionStatus.INVALID_CREDENTIALS,
        "invalid_grant",
    ),
    (
        "invalid_client",
        refresh_error("invalid_client"),
        ConnectionStatus.REQUEST_INVALID,
        "invalid_client",
    ),
    (
        "unauthorized_client",
        refresh_error("unauthorized_client"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "unauthorized_client",
    ),
    (
        "invalid_scope",
        refresh_error("invalid_scope"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "invalid_scope",
    ),
    (
        "token 503",
        refresh_error("temporarily_unavailable", retryable=True),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "temporarily_unavailable",
    ),
    (
        "token odd",
        auth_exceptions.RefreshError("weird " + SECRET_MARKER),
        ConnectionStatus.SYNC_ERROR,
        "token_refresh_failed",
    ),
    (
        "401",
        http_error(401, "authError", status_text="UNAUTHENTICATED"),
        ConnectionStatus.INVALID_CREDENTIALS,
        "unauthenticated",
    ),
    (
        "403 scopes",
        http_error(403, "insufficientPermissions"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "insufficient_permissions",
    ),
    (
        "403 scope v2",
        http_error(403, None, status_text="PERMISSION_DENIED"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "insufficient_permissions",
    ),
    (
        "403 domain",
        http_error(403, "domainPolicy"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "domain_policy",
    ),
    (
        "403 delegation",
        http_error(403, "forbidden"),
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        "insufficient_permissions",
    ),
    (
        "403 api off",
        http_error(403, "accessNotConfigured"),
        ConnectionStatus.REQUEST_INVALID,
        "api_not_enabled",
    ),
    (
        "suspended",
        http_error(400, "failedPrecondition", "Mail service not enabled", "FAILED_PRECONDITION"),
        ConnectionStatus.ACCOUNT_SUSPENDED,
        "mail_service_not_enabled",
    ),
    (
        "other precondition",
        http_error(400, "failedPrecondition", "Precondition check failed."),
        ConnectionStatus.REQUEST_INVALID,
        "bad_request_400",
    ),
    ("429", http_error(429, "rateLimitExceeded"), ConnectionStatus.THROTTLED, "rate_limited"),
    (
        "403 user rate",
        http_error(403, "userRateLimitExceeded"),
        ConnectionStatus.THROTTLED,
        "rate_limited",
    ),
    ("403 rate", http_error(403, "rateLimitExceeded"), ConnectionStatus.THROTTLED, "rate_limited"),
    (
        "500",
        http_error(500, "backendError"),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "server_error_500",
    ),
    (
        "503 html",
        http_error(503, raw_body=b"<html>" + SECRET_MARKER.encode() + b"</html>"),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "server_error_503",
    ),
    (
        "400",
        http_error(400, "invalidArgument"),
        ConnectionStatus.REQUEST_INVALID,
        "bad_request_400",
    ),
    ("404", http_error(404, "notFound"), ConnectionStatus.SYNC_ERROR, "http_404"),
    (
        "timeout",
        TimeoutError("timed out " + SECRET_MARKER),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "timeout",
    ),
    (
        "refused",
        ConnectionRefusedError(111, SECRET_MARKER),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "network_error",
    ),
    (
        "dns",
        httplib2.ServerNotFoundError(SECRET_MARKER),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "network_error",
    ),
    (
        "transport",
        auth_exceptions.TransportError(SECRET_MARKER),
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "network_error",
    ),
    ("anything", RuntimeError(SECRET_MARKER), ConnectionStatus.SYNC_ERROR, "unexpected_response"),
]


@pytest.mark.parametrize(
    ("exc", "status", "cause"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_classify(exc: BaseException, status: ConnectionStatus, cause: str) -> None:
    failure = classify(exc)
    assert isinstance(failure, ConnectionFailure)
    assert (failure.status, failure.cause_code) == (status, cause)
    for text in (str(failure), repr(failure), failure.explanation, failure.cause_code):
        assert "secret" not in text.lower()
        assert "BODY-TEXT" not in text


def test_invalid_grant_explanation_is_the_owners_plain_words() -> None:
    failure = classify(refresh_error("invalid_grant"))
    assert failure.explanation == (
        "Google no longer accepts Touchpoint's access to this mailbox: the password was changed "
        "or access was revoked. Reconnect the mailbox."
    )


def test_every_status_has_an_explanation_without_jargon() -> None:
    for status in ConnectionStatus:
        if status in (ConnectionStatus.ACTIVE, ConnectionStatus.STOPPED):
            continue
        text = EXPLANATIONS[status]
        assert text.endswith(".")
        for jargon in ("HTTP", "401", "403", "429", "OAuth", "token", "exception"):
            assert jargon not in text


def test_a_connection_failure_passes_through() -> None:
    original = ConnectionFailure(ConnectionStatus.STOPPED, "disconnected", "Stopped on purpose.")
    assert classify(original) is original


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (http_error(429, "rateLimitExceeded"), True),
        (http_error(403, "userRateLimitExceeded"), True),
        (http_error(403, "insufficientPermissions"), False),
        (http_error(500), True),
        (http_error(502), True),
        (http_error(503), True),
        (http_error(504), True),
        (http_error(501), False),
        (http_error(400, "failedPrecondition", "Mail service not enabled"), False),
        (http_error(401), False),
        (http_error(404), False),
        (refresh_error("invalid_grant"), False),
        (refresh_error("server_error", retryable=True), True),
        (TimeoutError(), True),
        (ConnectionResetError(), True),
        (httplib2.ServerNotFoundError("x"), True),
        (ValueError("ours"), False),
    ],
)
def test_is_retryable(exc: BaseException, retryable: bool) -> None:
    assert is_retryable(exc) is retryable


def test_is_rate_limit_only_for_throttling() -> None:
    assert is_rate_limit(http_error(429))
    assert is_rate_limit(http_error(403, "rateLimitExceeded"))
    assert not is_rate_limit(http_error(403, "domainPolicy"))
    assert not is_rate_limit(http_error(503))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"Retry-After": " 2 "}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"retry-after": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_from_headers(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(headers, now=NOW) == expected


def test_retry_after_from_an_http_error_header() -> None:
    exc = http_error(429, "rateLimitExceeded", headers={"retry-after": "3"})
    assert retry_after_seconds(exc, now=NOW) == 3.0


def test_retry_after_from_googles_message_when_no_header() -> None:
    exc = http_error(
        429, "rateLimitExceeded", "User-rate limit exceeded.  Retry after 2026-11-22T12:00:04.500Z"
    )
    assert retry_after_seconds(exc, now=NOW) == 4.5


def test_no_retry_after() -> None:
    assert retry_after_seconds(http_error(503), now=NOW) is None
    assert retry_after_seconds(None) is None
