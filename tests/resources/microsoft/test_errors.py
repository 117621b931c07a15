"""Entra ID (msal error dicts) and Graph failures -> connection statuses, with safe text."""

from __future__ import annotations

import json

import pytest
import requests

from resources.microsoft.errors import (
    aadsts_codes,
    classify_exception,
    classify_graph_error,
    classify_token_error,
    graph_error,
    is_retryable_status,
    is_retryable_token_error,
)
from vocabulary.status import CREDENTIAL_STATUSES, ConnectionFailure, ConnectionStatus

SECRET = "0.AXsbx-secret-refresh-token-value"


def entra(error: str, code: int | None, text: str = "") -> dict:
    """An msal error dict as Entra's token endpoint shapes it."""
    description = f"AADSTS{code}: {text} Trace ID: 1f0c Timestamp: 2026-11-20" if code else text
    result = {"error": error, "error_description": description, "correlation_id": "c0ffee"}
    if code:
        result["error_codes"] = [code]
    return result


@pytest.mark.parametrize(
    ("result", "status", "cause"),
    [
        (entra("invalid_grant", 50173), ConnectionStatus.INVALID_CREDENTIALS, "grant_revoked"),
        (
            entra("invalid_grant", 700082),
            ConnectionStatus.INVALID_CREDENTIALS,
            "refresh_token_expired",
        ),
        (entra("invalid_grant", 70008), ConnectionStatus.INVALID_CREDENTIALS, "grant_expired"),
        (entra("invalid_grant", 12345), ConnectionStatus.INVALID_CREDENTIALS, "invalid_grant"),
        (entra("invalid_grant", None), ConnectionStatus.INVALID_CREDENTIALS, "invalid_grant"),
        (
            entra("invalid_grant", 65001),
            ConnectionStatus.INSUFFICIENT_PERMISSIONS,
            "consent_required",
        ),
        (
            entra("interaction_required", 65001),
            ConnectionStatus.INSUFFICIENT_PERMISSIONS,
            "consent_required",
        ),
        (entra("invalid_grant", 50076), ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
        (
            entra("interaction_required", 50079),
            ConnectionStatus.INVALID_CREDENTIALS,
            "mfa_required",
        ),
        (entra("invalid_grant", 50057), ConnectionStatus.ACCOUNT_SUSPENDED, "account_disabled"),
        (
            entra("invalid_grant", 53003),
            ConnectionStatus.INSUFFICIENT_PERMISSIONS,
            "conditional_access_blocked",
        ),
        (entra("invalid_client", 7000215), ConnectionStatus.REQUEST_INVALID, "invalid_client"),
        (entra("invalid_client", None), ConnectionStatus.REQUEST_INVALID, "invalid_client"),
        (entra("invalid_request", 900144), ConnectionStatus.REQUEST_INVALID, "invalid_request"),
        (
            entra("temporarily_unavailable", None),
            ConnectionStatus.NO_SERVICE_CONNECTION,
            "token_endpoint_unavailable",
        ),
        ({"error": "something_new"}, ConnectionStatus.SYNC_ERROR, "token_acquisition_failed"),
        ({}, ConnectionStatus.SYNC_ERROR, "token_acquisition_failed"),
    ],
)
def test_token_errors_are_classified(result: dict, status: ConnectionStatus, cause: str) -> None:
    failure = classify_token_error(result)
    assert (failure.status, failure.cause_code) == (status, cause)
    assert failure.explanation
    assert "AADSTS" not in str(failure)


def test_aadsts_number_is_read_from_the_description_when_codes_are_missing() -> None:
    result = {"error": "invalid_grant", "error_description": "AADSTS700082: The refresh token"}
    assert aadsts_codes(result) == [700082]
    failure = classify_token_error(result)
    assert failure.cause_code == "refresh_token_expired"
    assert aadsts_codes({"error_codes": ["50173", True, None]}) == [50173]


def test_mfa_and_consent_explanations_say_what_to_do() -> None:
    mfa = classify_token_error(entra("invalid_grant", 50076))
    assert mfa.status in CREDENTIAL_STATUSES
    assert "multi-factor" in mfa.explanation and "Reconnect" in mfa.explanation
    consent = classify_token_error(entra("invalid_grant", 65001))
    assert "administrator" in consent.explanation
    revoked = classify_token_error(entra("invalid_grant", 50173))
    assert "Reconnect the mailbox" in revoked.explanation
    disabled = classify_token_error(entra("invalid_grant", 50057))
    assert "administrator" in disabled.explanation


def test_only_outages_at_the_token_endpoint_are_retryable() -> None:
    assert is_retryable_token_error(entra("temporarily_unavailable", None))
    assert is_retryable_token_error({"error": "server_error"})
    assert not is_retryable_token_error(entra("invalid_grant", 50173))
    assert not is_retryable_token_error(entra("server_error", 50057))
    assert not is_retryable_token_error(entra("invalid_client", None))


def test_token_error_text_never_carries_provider_text() -> None:
    result = entra("invalid_grant", 50173, f"grant for {SECRET} revoked")
    failure = classify_token_error(result)
    assert SECRET not in str(failure) and SECRET not in repr(failure)
    assert "grant for" not in failure.explanation and "Trace ID" not in str(failure)


def graph_body(code: str, message: str = "") -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "body", "expected", "cause"),
    [
        (401, graph_body("InvalidAuthenticationToken"), "invalid_credentials", "unauthenticated"),
        (403, graph_body("ErrorAccessDenied"), "insufficient_permissions", "access_denied"),
        (403, graph_body("Authorization_RequestDenied"), "insufficient_permissions", None),
        (
            404,
            graph_body("MailboxNotEnabledForRESTAPI", "The mailbox is inactive"),
            "account_suspended",
            "mailbox_not_enabled",
        ),
        (403, graph_body("ErrorAccountDisabled"), "account_suspended", "mailbox_not_enabled"),
        (
            403,
            graph_body("ErrorItemNotFound", "The mailbox is either inactive or soft-deleted"),
            "account_suspended",
            "mailbox_inactive",
        ),
        (429, graph_body("TooManyRequests"), "throttled", "rate_limited"),
        (503, graph_body("ServiceNotAvailable"), "no_service_connection", "server_error_503"),
        (504, b"<html>gateway</html>", "no_service_connection", "server_error_504"),
        (500, None, "no_service_connection", "server_error_500"),
        (400, graph_body("BadRequest", "Invalid filter clause"), "request_invalid", None),
        (404, graph_body("ErrorItemNotFound"), "sync_error", "http_404"),
        (409, graph_body("Conflict"), "sync_error", "http_409"),
    ],
)
def test_graph_errors_are_classified(
    status: int, body: bytes | None, expected: str, cause: str | None
) -> None:
    failure = classify_graph_error(status, body)
    assert failure.status.value == expected
    if cause is not None:
        assert failure.cause_code == cause


def test_graph_error_body_forms() -> None:
    assert graph_error(b'{"error": {"code": "X", "message": "m"}}') == ("X", "m")
    assert graph_error({"error": {"code": "Y"}}) == ("Y", "")
    assert graph_error("not json") == (None, "")
    assert graph_error(b'["error"]') == (None, "")
    assert graph_error(None) == (None, "")


def test_graph_error_text_never_carries_the_body() -> None:
    failure = classify_graph_error(400, graph_body("BadRequest", f"token {SECRET} bad"))
    assert SECRET not in str(failure) and "BadRequest" not in str(failure)


def test_retryable_statuses() -> None:
    assert all(is_retryable_status(s) for s in (429, 500, 502, 503, 504))
    assert not any(is_retryable_status(s) for s in (400, 401, 403, 404))


def test_exceptions_become_no_service_connection_without_their_text() -> None:
    timeout = classify_exception(requests.ReadTimeout(f"read timed out {SECRET}"))
    assert (timeout.status, timeout.cause_code) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "timeout",
    )
    refused = classify_exception(requests.ConnectionError(f"refused {SECRET}"))
    assert (refused.status, refused.cause_code) == (
        ConnectionStatus.NO_SERVICE_CONNECTION,
        "network_error",
    )
    assert SECRET not in str(timeout) + str(refused)
    odd = classify_exception(KeyError("x"))
    assert odd.status is ConnectionStatus.SYNC_ERROR
    same = ConnectionFailure(ConnectionStatus.THROTTLED, "rate_limited", "x")
    assert classify_exception(same) is same
