"""The Reconnect link of an owner's email: the public base URL plus a signed token.

Signing belongs to the reconnect web flow (resources/reconnect_links.py,
`make_reconnect_token(connection_id, key, now)`); the alert job takes that function as a
parameter of this shape, so alerts never sign anything themselves.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

import dagster as dg
from pydantic import Field

from resources.alerts.settings import PUBLIC_URL_ENV

LINK_KEY_ENV = "TOUCHPOINT_LINK_KEY"


class ReconnectTokenMaker(Protocol):
    def __call__(self, connection_id: str, key: str, now: datetime) -> str: ...


class ReconnectLinkError(ValueError):
    """The link cannot be built (no public URL, or no token maker wired)."""


def reconnect_url(public_url: str, token: str) -> str:
    """`https://touchpoint.example/reconnect/<token>`; the token is quoted whatever it holds."""
    base = public_url.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ReconnectLinkError("TOUCHPOINT_PUBLIC_URL must be an http(s) URL")
    return f"{base}/reconnect/{quote(token, safe='')}"


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


class ReconnectLinkResource(dg.ConfigurableResource):
    """Where Reconnect links point (TOUCHPOINT_PUBLIC_URL) and the key that signs them
    (TOUCHPOINT_LINK_KEY, an EnvVar, separate from the token-encryption key)."""

    public_url: str = Field(
        default=DEFAULT_PUBLIC_URL, description="Base URL of `touchpoint serve`."
    )
    link_key: str = Field(description="Key the links are signed with (use an EnvVar).")

    def link(self, connection_id: str, now: datetime, make_token: ReconnectTokenMaker) -> str:
        return reconnect_url(self.public_url, make_token(connection_id, self.link_key, now))

    @classmethod
    def from_env(cls) -> ReconnectLinkResource:
        return cls(
            public_url=os.environ.get(PUBLIC_URL_ENV, "").strip() or DEFAULT_PUBLIC_URL,
            link_key=dg.EnvVar(LINK_KEY_ENV),
        )
