"""The Reconnect link of an owner's email: the public base URL plus a signed token.

Signing and the link's shape belong to the reconnect flow (resources/reconnect_links.py); this
resource only carries the deployment's public URL and key to it.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
from pydantic import Field

from resources.reconnect_links import (
    DEFAULT_PUBLIC_URL,
    LINK_KEY_ENV,
    make_reconnect_token,
    public_url_from_env,
    reconnect_url,
)


class ReconnectLinkError(ValueError):
    """The link cannot be built (the public URL is not an http(s) URL)."""


class ReconnectLinkResource(dg.ConfigurableResource):
    """Where Reconnect links point (TOUCHPOINT_PUBLIC_URL) and the key that signs them
    (TOUCHPOINT_LINK_KEY, an EnvVar, separate from the token-encryption key)."""

    public_url: str = Field(
        default=DEFAULT_PUBLIC_URL, description="Base URL of `touchpoint serve`."
    )
    link_key: str = Field(description="Key the links are signed with (use an EnvVar).")

    def link(self, connection_id: str, now: datetime) -> str:
        """A fresh signed link to the connection's Reconnect page."""
        if not self.public_url.strip().startswith(("https://", "http://")):
            raise ReconnectLinkError("TOUCHPOINT_PUBLIC_URL must be an http(s) URL")
        return reconnect_url(
            self.public_url.strip(), make_reconnect_token(connection_id, self.link_key, now)
        )

    @classmethod
    def from_env(cls) -> ReconnectLinkResource:
        return cls(public_url=public_url_from_env(), link_key=dg.EnvVar(LINK_KEY_ENV))
