"""The tokens the sandbox hands out, shaped like the providers' own, and the error a refused grant
raises.

Google access tokens look like `ya29.…`, Entra's like JWTs (three base64url parts, opaque to
clients); refresh tokens carry the provider's prefix (`1//…`, `0.AX…`). Which mailbox a token
belongs to, and for how long, is `SandboxState`'s business.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

ACCESS_TOKEN_TTL_S = 3599
AUTH_CODE_TTL_S = 600


class TokenError(Exception):
    """The grant is unknown or refused (never carries the token itself).

    `kind` is "unknown" for a token or code the sandbox never issued (or already redeemed),
    else the grant fault in force (see `faults.GRANT_FAULTS`).
    """

    def __init__(self, message: str, kind: str = "unknown") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class AccessToken:
    mailbox: str
    expires_at: float  # time.time()


def new_access_token(provider: str) -> str:
    """A fresh access token: a JWT-shaped one for Microsoft, `ya29.…` for Google."""
    if provider == "microsoft":
        return fake_jwt({"typ": "JWT", "nonce": secrets.token_urlsafe(16), "alg": "RS256"})
    return "ya29.sbx-" + secrets.token_urlsafe(32)


def new_refresh_token(provider: str) -> str:
    prefix = "0.AXsbx-" if provider == "microsoft" else "1//sbx-"
    return prefix + secrets.token_urlsafe(48)


def new_authorization_code() -> str:
    return "1.AXsbx-code-" + secrets.token_urlsafe(40)


def fake_jwt(header: dict[str, Any]) -> str:
    """An opaque token shaped like Entra's access tokens (three base64url parts)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")

    body = {"aud": "00000003-0000-0000-c000-000000000000", "jti": secrets.token_urlsafe(12)}
    return ".".join(
        (
            part(json.dumps(header).encode()),
            part(json.dumps(body).encode()),
            part(secrets.token_bytes(64)),
        )
    )
