"""Google's OAuth 2.0 authorization-code flow for web server apps, with PKCE, through
google-auth-oauthlib's `Flow`: offline access and a consent prompt, so Google hands out a new
refresh token even to an account that granted access before (without `prompt=consent` it only
does so the first time)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from resources.google.identity import token_addresses
from resources.google.settings import GoogleSettings
from resources.kit import AuthorizationRefused, AuthorizationStart, Grant, grant_from_exchange

SCOPES = (
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
)
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class GoogleAuthorization:
    """`start` builds the consent URL; `finish` redeems the code with the PKCE verifier and asks
    Gmail whose token it is."""

    def __init__(self, settings: GoogleSettings) -> None:
        self.settings = settings

    def _flow(self, redirect_uri: str, state: str | None, verifier: str | None) -> Flow:
        config = {
            "web": {
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret,
                "auth_uri": self.settings.authorization_endpoint,
                "token_uri": self.settings.token_endpoint,
            }
        }
        flow = Flow.from_client_config(
            config,
            scopes=list(SCOPES),
            redirect_uri=redirect_uri,
            state=state,
            code_verifier=verifier,
            autogenerate_code_verifier=verifier is None,
        )
        # requests-oauthlib only redeems codes over https; a stand-in on this machine (the
        # sandbox) is plain http, and nothing leaves the machine there.
        if urlsplit(self.settings.token_endpoint).hostname in _LOOPBACK:
            os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")
        return flow

    def start(self, login_hint: str, redirect_uri: str) -> AuthorizationStart:
        flow = self._flow(redirect_uri, None, None)
        url, state = flow.authorization_url(
            access_type="offline", prompt="consent", login_hint=login_hint
        )
        return AuthorizationStart(
            url,
            state,
            {"state": state, "code_verifier": flow.code_verifier, "redirect_uri": redirect_uri},
        )

    def finish(self, flow: dict[str, Any], callback: dict[str, str]) -> Grant:
        if callback.get("error"):
            raise AuthorizationRefused("access_denied")
        if callback.get("state") != flow["state"]:
            raise AuthorizationRefused("state_mismatch")
        if not callback.get("code"):
            raise AuthorizationRefused("exchange_failed")
        oauth = self._flow(flow["redirect_uri"], flow["state"], flow["code_verifier"])
        try:
            token = oauth.fetch_token(code=callback["code"])
        except (OAuth2Error, ValueError, OSError, Warning):
            # Google's answer (and the code) stay out of what we raise.
            raise AuthorizationRefused("exchange_failed") from None
        return grant_from_exchange(
            token.get("refresh_token"),
            None,
            lambda credentials: token_addresses(self.settings, credentials),
        )
