"""Fault injection, provider-neutral: which failure a mailbox's next call should see.

A fault says *what* goes wrong (kind, status, Retry-After); each provider module turns that into
its own error body. The book is not thread-safe on its own: SandboxState calls it under its lock.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

GRANT_FAULTS = frozenset(
    {"invalid_grant", "token_expired", "consent_required", "mfa_required", "account_disabled"}
)
"""Faults of the token endpoint: refreshing fails and the mailbox's access tokens stop working.
Google answers all of them with `invalid_grant`; Entra with its own AADSTS code each."""

FAULT_KINDS = frozenset(
    {
        *GRANT_FAULTS,
        "insufficient_permissions",
        "account_suspended",
        "rate_limit",
        "server_error",
        "slow",
        "malformed",
    }
)
MALFORMED_VARIANTS = frozenset({"invalid_json", "not_object", "missing_payload", "bad_headers"})
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
"""Google's reasons for "slow down"; Gmail sends them as 429 or as 403 (Graph answers 429
TooManyRequests whatever is asked)."""

_ALLOWED_PARAMS: dict[str, frozenset[str]] = {
    **{kind: frozenset() for kind in GRANT_FAULTS},
    "insufficient_permissions": frozenset(),
    "account_suspended": frozenset(),
    "rate_limit": frozenset({"retry_after", "count", "duration", "status", "reason"}),
    "server_error": frozenset({"status", "count", "duration"}),
    "slow": frozenset({"seconds"}),
    "malformed": frozenset({"ids", "fraction", "variant"}),
}


class FaultError(ValueError):
    """A fault request the sandbox does not understand (answered with HTTP 400)."""


@dataclass
class Fault:
    mailbox: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int | None = None
    until: float | None = None  # time.monotonic() deadline

    def active(self, now: float) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.until is None or now < self.until

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "mailbox": self.mailbox,
            "kind": self.kind,
            "params": self.params,
            "remaining_calls": self.remaining,
            "seconds_left": None if self.until is None else max(0.0, round(self.until - now, 3)),
        }


@dataclass(frozen=True)
class Rejection:
    """Why an API call is refused: the provider module renders it as its own error."""

    kind: str  # rate_limit, server_error, insufficient_permissions, account_suspended, quota
    status: int
    retry_after: int | None = None
    reason: str | None = None  # rate_limit: Google's reason code


def make_fault(mailbox: str, kind: str, params: dict[str, Any]) -> Fault:
    """Validates and builds a fault; `count` and `duration` bound it, otherwise it lasts."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
    unknown = set(params) - _ALLOWED_PARAMS[kind]
    if unknown:
        raise FaultError(f"fault {kind!r} does not take {sorted(unknown)}")
    clean = dict(params)
    if kind == "rate_limit":
        # `retry_after: None` (or 0) sends no Retry-After header, as Gmail often does.
        retry_after = clean.get("retry_after", 1)
        clean["retry_after"] = int(retry_after) if retry_after else None
        clean["status"] = int(clean.get("status", 429))
        clean["reason"] = clean.get("reason", "rateLimitExceeded")
        if clean["status"] not in (403, 429):
            raise FaultError("rate_limit status must be 403 or 429")
        if clean["reason"] not in RATE_LIMIT_REASONS:
            raise FaultError(f"rate_limit reason must be one of {sorted(RATE_LIMIT_REASONS)}")
    if kind == "server_error":
        clean["status"] = int(clean.get("status", 503))
        if not 500 <= clean["status"] <= 599:
            raise FaultError("server_error status must be 5xx")
    if kind == "slow":
        clean["seconds"] = float(clean.get("seconds", 1.0))
    if kind == "malformed":
        clean["variant"] = clean.get("variant", "invalid_json")
        if clean["variant"] not in MALFORMED_VARIANTS:
            raise FaultError(f"malformed variant must be one of {sorted(MALFORMED_VARIANTS)}")
        clean["ids"] = [str(i) for i in clean.get("ids") or []]
        clean["fraction"] = float(clean.get("fraction", 0.0 if clean["ids"] else 1.0))
    remaining = int(params["count"]) if params.get("count") is not None else None
    duration = params.get("duration")
    until = time.monotonic() + float(duration) if duration is not None else None
    return Fault(mailbox, kind, clean, remaining, until)


class FaultBook:
    """The active faults, at most one per (mailbox, kind)."""

    def __init__(self) -> None:
        self._faults: dict[tuple[str, str], Fault] = {}

    def set(self, fault: Fault) -> None:
        self._faults[(fault.mailbox, fault.kind)] = fault

    def clear(self, mailbox: str | None = None) -> None:
        if mailbox is None:
            self._faults.clear()
        else:
            for key in [k for k in self._faults if k[0] == mailbox]:
                del self._faults[key]

    def active(self, mailbox: str, kind: str) -> Fault | None:
        fault = self._faults.get((mailbox, kind))
        if fault is None:
            return None
        if not fault.active(time.monotonic()):
            del self._faults[(mailbox, kind)]
            return None
        return fault

    def listing(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [f.to_dict(now) for f in self._faults.values() if f.active(now)]

    def rejection(self, mailbox: str) -> Rejection | None:
        """The fault an API call of `mailbox` hits now, consuming one counted call."""
        if self.active(mailbox, "insufficient_permissions"):
            return Rejection("insufficient_permissions", 403)
        if self.active(mailbox, "account_suspended"):
            return Rejection("account_suspended", 400)
        fault = self.active(mailbox, "server_error")
        if fault:
            _consume(fault)
            return Rejection("server_error", fault.params["status"])
        fault = self.active(mailbox, "rate_limit")
        if fault:
            _consume(fault)
            status, retry_after = fault.params["status"], fault.params["retry_after"]
            return Rejection("rate_limit", status, retry_after, fault.params["reason"])
        return None

    def grant_fault(self, mailbox: str) -> str | None:
        """The token-endpoint fault `mailbox` suffers now, if any (first in a fixed order)."""
        for kind in sorted(GRANT_FAULTS):
            if self.active(mailbox, kind):
                return kind
        return None

    def slow_seconds(self, mailbox: str) -> float:
        fault = self.active(mailbox, "slow")
        return fault.params["seconds"] if fault else 0.0

    def malformed_variant(self, mailbox: str, message_id: str) -> str | None:
        fault = self.active(mailbox, "malformed")
        if fault is None:
            return None
        if message_id in fault.params["ids"] or _fraction_of(message_id) < fault.params["fraction"]:
            return fault.params["variant"]
        return None


def _consume(fault: Fault) -> None:
    if fault.remaining is not None:
        fault.remaining -= 1


def _fraction_of(message_id: str) -> float:
    """A stable number in [0, 1) per id, so a `fraction` picks the same messages every time."""
    digest = hashlib.sha256(message_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
