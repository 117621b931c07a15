"""Signed, expiring reconnect links: one connection, one nonce, HMAC-SHA256.

A link is what an alert email carries to a mailbox owner, so it must not be forgeable or
reusable: the token is `<payload>.<signature>`, both URL-safe base64, where the payload is the
connection id, the issue time and a random nonce, and the signature is HMAC-SHA256 under
TOUCHPOINT_LINK_KEY. That key is separate from TOUCHPOINT_SECRET_KEY on purpose: the link key
only lets someone mint links (which still need the owner's own sign-in to do anything), while
the secret key opens every stored refresh token; leaking or rotating one must not touch the
other. The warehouse remembers a link's nonce once a reconnect completes (registry/reconnects.py),
which makes a link single-use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LINK_KEY_ENV = "TOUCHPOINT_LINK_KEY"
"""Key of the links' HMAC (any text of 32+ characters; `touchpoint keys generate-link-key`)."""
LINK_TTL_DAYS_ENV = "TOUCHPOINT_LINK_TTL_DAYS"
"""How long a link stays valid after it was issued (default 7 days)."""
PUBLIC_URL_ENV = "TOUCHPOINT_PUBLIC_URL"
"""Where `touchpoint serve` is reached from a browser (links and the OAuth redirect URI)."""

DEFAULT_TTL_DAYS = 7
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
MIN_KEY_LENGTH = 32
_VERSION = "1"


class LinkError(Exception):
    """A link that cannot be used; `reason` is one of tampered, expired, unknown (the text is
    ours, never the token)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LinkKeyError(Exception):
    """TOUCHPOINT_LINK_KEY is missing or too short."""


@dataclass(frozen=True)
class ReconnectLink:
    """What a verified token says: which connection, when it was issued, its nonce."""

    connection_id: str
    issued_at: datetime
    nonce: str

    def expires_at(self, ttl: timedelta) -> datetime:
        return self.issued_at + ttl


def link_key_from_env() -> str:
    """TOUCHPOINT_LINK_KEY, checked; a clear error (naming the variable, not the value)."""
    key = os.environ.get(LINK_KEY_ENV, "").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise LinkKeyError(
            f"{LINK_KEY_ENV} is not set or shorter than {MIN_KEY_LENGTH} characters; generate "
            "one with `touchpoint keys generate-link-key`"
        )
    return key


def generate_link_key() -> str:
    """A fresh random link key (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def link_ttl_from_env() -> timedelta:
    """TOUCHPOINT_LINK_TTL_DAYS (default 7) as a timedelta; must be a positive number."""
    raw = os.environ.get(LINK_TTL_DAYS_ENV, "").strip()
    try:
        days = float(raw) if raw else DEFAULT_TTL_DAYS
    except ValueError:
        raise LinkKeyError(f"{LINK_TTL_DAYS_ENV} must be a number of days") from None
    if days <= 0:
        raise LinkKeyError(f"{LINK_TTL_DAYS_ENV} must be positive")
    return timedelta(days=days)


def public_url_from_env() -> str:
    """TOUCHPOINT_PUBLIC_URL without a trailing slash (default http://127.0.0.1:8080)."""
    return (os.environ.get(PUBLIC_URL_ENV, "").strip() or DEFAULT_PUBLIC_URL).rstrip("/")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: str, payload: str) -> str:
    return _b64(hmac.new(key.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest())


def make_reconnect_token(connection_id: str, key: str, now: datetime) -> str:
    """A signed token for `connection_id`, issued at `now` (aware), with a fresh nonce."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    issued = int(now.astimezone(UTC).timestamp())
    body = f"{_VERSION}|{connection_id}|{issued}|{secrets.token_urlsafe(16)}"
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_sign(key, payload)}"


def reconnect_url(public_url: str, token: str) -> str:
    """The page a link opens: `<public_url>/reconnect/<token>` (the token is URL-safe)."""
    return f"{public_url.rstrip('/')}/reconnect/{token}"


def read_reconnect_token(token: str, key: str, now: datetime, ttl: timedelta) -> ReconnectLink:
    """The link a token stands for, or LinkError: `tampered` (bad shape or signature; checked
    in constant time before anything in it is believed) or `expired`."""
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not hmac.compare_digest(_sign(key, payload), signature):
        raise LinkError("tampered", "This link is not valid: it was changed or cut short.")
    try:
        version, connection_id, issued, nonce = _unb64(payload).decode("utf-8").split("|")
        issued_at = datetime.fromtimestamp(int(issued), UTC)
    except (ValueError, binascii.Error, UnicodeDecodeError, OverflowError):
        # Signed by us yet unreadable: only a key shared with something else could do that.
        raise LinkError("tampered", "This link is not valid.") from None
    if version != _VERSION or not connection_id or not nonce:
        raise LinkError("tampered", "This link is not valid.")
    link = ReconnectLink(connection_id, issued_at, nonce)
    if now >= link.expires_at(ttl):
        raise LinkError(
            "expired",
            "This link has expired. Ask for a new one (support can print a fresh link).",
        )
    return link
