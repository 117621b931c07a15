"""Microsoft identity (Entra ID) and Graph failures sorted into connection statuses, explained in
words a mailbox owner can act on.

Classification *reads* msal's error dicts (`error`, `error_codes`, the AADSTS number in
`error_description`) and Graph's error bodies (`error.code`) but never copies them: cause codes
and explanations come only from the fixed vocabulary below, so no token, address or provider
message can reach logs, alerts or the status history.

AADSTS50076 (multi-factor sign-in now required) is reported as INVALID_CREDENTIALS with its own
cause code `mfa_required`: the owner's fix is the same as for a revoked grant (sign in again,
interactively, and reconnect), so it belongs with the credential failures that alert at once,
while the cause code lets the alert say *why* the sign-in is needed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import requests

from vocabulary.status import TOKEN_OWNER_MISMATCH, ConnectionFailure, ConnectionStatus

EXPLANATIONS: dict[ConnectionStatus, str] = {
    ConnectionStatus.INVALID_CREDENTIALS: (
        "Microsoft 365 no longer accepts Touchpoint's access to this mailbox: the password was "
        "changed, access was revoked, or the sign-in expired after a long time unused. "
        "Reconnect the mailbox."
    ),
    ConnectionStatus.INSUFFICIENT_PERMISSIONS: (
        "Microsoft 365 refused Touchpoint permission to read this mailbox: a permission it needs "
        "was not granted or was removed, or your Microsoft 365 administrator has not approved "
        "Touchpoint. Reconnect the mailbox and accept all requested access, or ask your "
        "administrator to approve Touchpoint."
    ),
    ConnectionStatus.ACCOUNT_SUSPENDED: (
        "Microsoft 365 says this account or its mailbox is disabled, deleted or inactive. Ask "
        "your Microsoft 365 administrator to restore it, then reconnect the mailbox."
    ),
    ConnectionStatus.THROTTLED: (
        "Microsoft 365 is limiting how fast Touchpoint may read this mailbox. Touchpoint will "
        "try again later; nothing is needed from you."
    ),
    ConnectionStatus.NO_SERVICE_CONNECTION: (
        "Touchpoint could not reach Microsoft 365: it was down or unreachable. Touchpoint will "
        "try again later; nothing is needed from you."
    ),
    ConnectionStatus.REQUEST_INVALID: (
        "Microsoft 365 rejected a request Touchpoint made for this mailbox. This is a problem on "
        "Touchpoint's side and the team has been told; nothing is needed from you."
    ),
    ConnectionStatus.SYNC_ERROR: (
        "Something unexpected went wrong while reading this mailbox from Microsoft 365. "
        "Touchpoint will try again; nothing is needed from you."
    ),
}
SPECIFIC_EXPLANATIONS: dict[str, str] = {
    TOKEN_OWNER_MISMATCH: (
        "The Microsoft 365 account that granted Touchpoint access is not this mailbox's owner, "
        "so Touchpoint will not read it. Reconnect the mailbox while signed in as its owner."
    ),
    "mfa_required": (
        "Your organisation now requires multi-factor sign-in for Touchpoint's access to this "
        "mailbox. Reconnect the mailbox and complete the sign-in, including the extra "
        "verification step."
    ),
    "consent_required": (
        "Touchpoint's access to this mailbox has not been approved: you or your Microsoft 365 "
        "administrator must consent to the permissions Touchpoint asks for. Reconnect the "
        "mailbox and accept the requested access, or ask your administrator to approve "
        "Touchpoint for your organisation."
    ),
    "conditional_access_blocked": (
        "A sign-in policy of your organisation blocks Touchpoint's access to this mailbox. Ask "
        "your Microsoft 365 administrator to allow Touchpoint, then reconnect the mailbox."
    ),
    "invalid_client": (
        "Microsoft did not accept Touchpoint's own application setup. This is a configuration "
        "problem on Touchpoint's side; nothing is needed from you."
    ),
}

AADSTS_CODES: dict[int, tuple[ConnectionStatus, str]] = {
    50173: (ConnectionStatus.INVALID_CREDENTIALS, "grant_revoked"),
    700082: (ConnectionStatus.INVALID_CREDENTIALS, "refresh_token_expired"),
    70008: (ConnectionStatus.INVALID_CREDENTIALS, "grant_expired"),
    70043: (ConnectionStatus.INVALID_CREDENTIALS, "grant_expired_by_policy"),
    700084: (ConnectionStatus.INVALID_CREDENTIALS, "refresh_token_expired"),
    50089: (ConnectionStatus.INVALID_CREDENTIALS, "flow_token_expired"),
    50132: (ConnectionStatus.INVALID_CREDENTIALS, "session_revoked"),
    50133: (ConnectionStatus.INVALID_CREDENTIALS, "session_revoked"),
    54005: (ConnectionStatus.INVALID_CREDENTIALS, "grant_already_redeemed"),
    50076: (ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
    50079: (ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
    50074: (ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
    50158: (ConnectionStatus.INVALID_CREDENTIALS, "mfa_required"),
    65001: (ConnectionStatus.INSUFFICIENT_PERMISSIONS, "consent_required"),
    65004: (ConnectionStatus.INSUFFICIENT_PERMISSIONS, "consent_declined"),
    90094: (ConnectionStatus.INSUFFICIENT_PERMISSIONS, "admin_consent_required"),
    53003: (ConnectionStatus.INSUFFICIENT_PERMISSIONS, "conditional_access_blocked"),
    50105: (ConnectionStatus.INSUFFICIENT_PERMISSIONS, "user_not_assigned"),
    50057: (ConnectionStatus.ACCOUNT_SUSPENDED, "account_disabled"),
    50053: (ConnectionStatus.ACCOUNT_SUSPENDED, "account_locked"),
    50034: (ConnectionStatus.ACCOUNT_SUSPENDED, "account_not_found"),
    7000215: (ConnectionStatus.REQUEST_INVALID, "invalid_client"),
    7000222: (ConnectionStatus.REQUEST_INVALID, "invalid_client"),
    700016: (ConnectionStatus.REQUEST_INVALID, "invalid_client"),
    90002: (ConnectionStatus.REQUEST_INVALID, "tenant_not_found"),
}
"""Entra's AADSTS numbers that say more than the OAuth `error` they come with."""

OAUTH_ERRORS: dict[str, ConnectionStatus] = {
    "invalid_grant": ConnectionStatus.INVALID_CREDENTIALS,
    "interaction_required": ConnectionStatus.INVALID_CREDENTIALS,
    "login_required": ConnectionStatus.INVALID_CREDENTIALS,
    "consent_required": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "unauthorized_client": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "access_denied": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "invalid_scope": ConnectionStatus.INSUFFICIENT_PERMISSIONS,
    "invalid_client": ConnectionStatus.REQUEST_INVALID,
    "invalid_request": ConnectionStatus.REQUEST_INVALID,
    "unsupported_grant_type": ConnectionStatus.REQUEST_INVALID,
    "server_error": ConnectionStatus.NO_SERVICE_CONNECTION,
    "temporarily_unavailable": ConnectionStatus.NO_SERVICE_CONNECTION,
}
"""RFC 6749 / OpenID error codes at the token endpoint, when no AADSTS number says more."""

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Graph answers that may succeed when sent again later (429 and 503 carry Retry-After)."""

SUSPENDED_GRAPH_CODES = frozenset(
    code.lower()
    for code in (
        "MailboxNotEnabledForRESTAPI",
        "ErrorMailboxNotEnabledForRESTAPI",
        "MailboxNotFound",
        "ErrorMailboxNotFound",
        "ErrorInactiveMailbox",
        "ErrorAccountDisabled",
        "ErrorInvalidUser",
        "ErrorNonExistentMailbox",
        "ErrorMailboxStoreUnavailable",
    )
)
"""Graph error codes meaning the mailbox itself is gone, disabled or inactive."""
DENIED_GRAPH_CODES = frozenset(
    code.lower()
    for code in (
        "ErrorAccessDenied",
        "AccessDenied",
        "Authorization_RequestDenied",
        "ErrorInsufficientPermissionsInAccessToken",
    )
)
_INACTIVE = re.compile(r"\b(inactive|soft-deleted|disabled)\b", re.IGNORECASE)
_AADSTS = re.compile(r"AADSTS(\d+)")

NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.RequestException,
    ConnectionError,
    OSError,
)
"""Transport failures (refused, reset, timed out, broken answer): the request may never have
reached Microsoft, or its answer never reached us."""


def failure(
    status: ConnectionStatus, cause_code: str, explanation: str | None = None
) -> ConnectionFailure:
    """A ConnectionFailure with the explanation for `cause_code`, else the one for `status`."""
    return ConnectionFailure(
        status,
        cause_code,
        explanation or SPECIFIC_EXPLANATIONS.get(cause_code) or EXPLANATIONS[status],
    )


# ---- identity platform (msal error dicts) -----------------------------------------------------


def aadsts_codes(result: Mapping[str, Any]) -> list[int]:
    """The AADSTS numbers of an msal error dict (`error_codes`, else from the description)."""
    codes: list[int] = []
    for code in result.get("error_codes") or []:
        if isinstance(code, int) and not isinstance(code, bool):
            codes.append(code)
        elif isinstance(code, str) and code.isdigit():
            codes.append(int(code))
    description = result.get("error_description")
    if isinstance(description, str):
        codes.extend(int(m) for m in _AADSTS.findall(description))
    return list(dict.fromkeys(codes))


def classify_token_error(result: Mapping[str, Any]) -> ConnectionFailure:
    """An msal error dict (from a silent or refresh-token acquisition) as a connection failure."""
    for code in aadsts_codes(result):
        known = AADSTS_CODES.get(code)
        if known is not None:
            return failure(*known)
    error = result.get("error")
    error = error if isinstance(error, str) else ""
    status = OAUTH_ERRORS.get(error)
    if status is None:
        return failure(ConnectionStatus.SYNC_ERROR, "token_acquisition_failed")
    if status is ConnectionStatus.NO_SERVICE_CONNECTION:
        return failure(status, "token_endpoint_unavailable")
    return failure(status, error)


def is_retryable_token_error(result: Mapping[str, Any]) -> bool:
    """Whether the same token request may succeed later (Entra outage, throttling)."""
    if any(code in AADSTS_CODES for code in aadsts_codes(result)):
        return False
    return result.get("error") in ("server_error", "temporarily_unavailable")


# ---- Microsoft Graph ------------------------------------------------------------------------


def graph_error(body: Any) -> tuple[str | None, str]:
    """`(error.code, error.message)` of a Graph error body (bytes, text or parsed JSON)."""
    data = body
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return None, ""
    error = data.get("error") if isinstance(data, Mapping) else None
    if not isinstance(error, Mapping):
        return None, ""
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str) else None), (message if isinstance(message, str) else "")


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES


def classify_graph_error(status: int, body: Any = None) -> ConnectionFailure:
    """A Graph error answer (after any retries) as a connection failure."""
    code, message = graph_error(body)
    lowered = (code or "").lower()
    if lowered in SUSPENDED_GRAPH_CODES:
        return failure(ConnectionStatus.ACCOUNT_SUSPENDED, "mailbox_not_enabled")
    if status == 401:
        return failure(ConnectionStatus.INVALID_CREDENTIALS, "unauthenticated")
    if status == 429:
        return failure(ConnectionStatus.THROTTLED, "rate_limited")
    if status == 403:
        if lowered not in DENIED_GRAPH_CODES and _INACTIVE.search(message):
            return failure(ConnectionStatus.ACCOUNT_SUSPENDED, "mailbox_inactive")
        return failure(ConnectionStatus.INSUFFICIENT_PERMISSIONS, "access_denied")
    if status == 404 and _INACTIVE.search(message):
        return failure(ConnectionStatus.ACCOUNT_SUSPENDED, "mailbox_inactive")
    if status >= 500 or status == 408:
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, f"server_error_{status}")
    if status in (400, 405, 411, 413, 414, 416):
        return failure(ConnectionStatus.REQUEST_INVALID, f"bad_request_{status}")
    return failure(ConnectionStatus.SYNC_ERROR, f"http_{status}")


def is_access_denied(failure_: ConnectionFailure) -> bool:
    """A 403 Graph classified as a refused permission: a missing scope, or a token of another
    user asking for the owner's mailbox (Graph answers both alike; only `/me` tells them apart)."""
    return (
        failure_.status is ConnectionStatus.INSUFFICIENT_PERMISSIONS
        and failure_.cause_code == "access_denied"
    )


def owner_mismatch() -> ConnectionFailure:
    """The token belongs to another user than the mailbox's owner: a credential failure of this
    connection only, until its owner reconnects (Google's classification of the same case)."""
    return failure(ConnectionStatus.INVALID_CREDENTIALS, TOKEN_OWNER_MISMATCH)


def classify_exception(exc: BaseException) -> ConnectionFailure:
    """Any exception met while talking to Microsoft, as a ConnectionFailure safe to show."""
    if isinstance(exc, ConnectionFailure):
        return exc
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, "timeout")
    if isinstance(exc, NETWORK_ERRORS):
        return failure(ConnectionStatus.NO_SERVICE_CONNECTION, "network_error")
    return failure(ConnectionStatus.SYNC_ERROR, "unexpected_response")
