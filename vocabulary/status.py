"""Connection statuses and the classified failure every provider raises.

DESIGN.md's statuses: the value is what the warehouse stores. A `ConnectionFailure`'s text is
built only from our own vocabulary, never from a provider's answer.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectionStatus(StrEnum):
    """DESIGN.md's connection statuses; the value is what the warehouse stores."""

    ACTIVE = "active"
    THROTTLED = "throttled"
    NO_SERVICE_CONNECTION = "no_service_connection"
    INVALID_CREDENTIALS = "invalid_credentials"
    INSUFFICIENT_PERMISSIONS = "insufficient_permissions"
    ACCOUNT_SUSPENDED = "account_suspended"
    REQUEST_INVALID = "request_invalid"
    SYNC_ERROR = "sync_error"
    STOPPED = "stopped"


CREDENTIAL_STATUSES = frozenset(
    {
        ConnectionStatus.INVALID_CREDENTIALS,
        ConnectionStatus.INSUFFICIENT_PERMISSIONS,
        ConnectionStatus.ACCOUNT_SUSPENDED,
    }
)
"""Failures only the mailbox owner can fix: they alert at once and syncing waits for a reconnect."""

TRANSIENT_STATUSES = frozenset({ConnectionStatus.THROTTLED, ConnectionStatus.NO_SERVICE_CONNECTION})
"""Failures that usually heal by themselves: they alert only when they persist."""

TOKEN_UNDECRYPTABLE = "token_undecryptable"
"""Cause of a `sync_error` whose stored token decrypts under none of the configured keys."""

OPERATOR_CAUSES = frozenset({TOKEN_UNDECRYPTABLE})
"""`sync_error` causes that only an operator can fix (the deployment's keys, not the mailbox):
they alert the operators, never the mailbox owner."""


TOKEN_OWNER_MISMATCH = "token_owner_mismatch"
"""Cause code of a token that belongs to another account than the connection's owner: it is
never used for the owner's mailbox (a credential failure until the owner reconnects)."""


class ConnectionFailure(Exception):
    """A classified, expected failure of one connection.

    Its text is built only from the status, a short cause code and a plain-words explanation, so
    it can go into logs, event metadata and the status history without leaking a token or a
    provider response body.
    """

    def __init__(self, status: ConnectionStatus, cause_code: str, explanation: str) -> None:
        super().__init__(f"{status.value} ({cause_code}): {explanation}")
        self.status = status
        self.cause_code = cause_code
        self.explanation = explanation
