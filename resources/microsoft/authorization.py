"""Microsoft's OAuth 2.0 authorization-code flow through msal (`initiate_auth_code_flow` /
`acquire_token_by_auth_code_flow`): msal generates the state, the PKCE verifier and the nonce,
and checks the callback's state itself. The token cache msal fills travels with the connection
(encrypted), as the connectors expect."""

from __future__ import annotations

from typing import Any

import msal

from resources.kit import AuthorizationRefused, AuthorizationStart, Grant, grant_from_exchange
from resources.microsoft.auth import (
    GRAPH_CALENDAR_SCOPES,
    GRAPH_MAIL_SCOPES,
    LoginRewritingSession,
)
from resources.microsoft.identity import token_addresses
from resources.microsoft.settings import MICROSOFT_LOGIN_URL, GraphSettings
from vocabulary.connectors import ApiStats

SCOPES = (*GRAPH_MAIL_SCOPES, *GRAPH_CALENDAR_SCOPES)
"""msal adds openid, profile and offline_access itself (offline_access: a refresh token)."""


class MicrosoftAuthorization:
    """`start` builds the consent URL; `finish` redeems the code and asks Graph who signed in."""

    def __init__(self, settings: GraphSettings) -> None:
        self.settings = settings

    def _app(
        self, http: LoginRewritingSession, cache: msal.SerializableTokenCache | None = None
    ) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            self.settings.client_id,
            client_credential=self.settings.client_secret,
            authority=f"{MICROSOFT_LOGIN_URL}/{self.settings.tenant}",
            instance_discovery=False,
            http_client=http,
            token_cache=cache,
            timeout=self.settings.timeout_seconds,
        )

    def _http(self) -> LoginRewritingSession:
        return LoginRewritingSession(
            self.settings.login_base_url, ApiStats(), self.settings.timeout_seconds
        )

    def start(self, login_hint: str, redirect_uri: str) -> AuthorizationStart:
        http = self._http()
        try:
            flow = self._app(http).initiate_auth_code_flow(
                list(SCOPES), redirect_uri=redirect_uri, login_hint=login_hint
            )
            # msal names Entra's https host; the browser goes where the deployment says.
            url = http.rewrite(flow["auth_uri"])
        finally:
            http.close()
        return AuthorizationStart(url, flow["state"], dict(flow))

    def finish(self, flow: dict[str, Any], callback: dict[str, str]) -> Grant:
        if callback.get("error"):
            raise AuthorizationRefused("access_denied")
        if callback.get("state") != flow.get("state"):
            raise AuthorizationRefused("state_mismatch")
        cache = msal.SerializableTokenCache()
        http = self._http()
        try:
            result = self._app(http, cache).acquire_token_by_auth_code_flow(
                dict(flow), dict(callback), scopes=list(SCOPES)
            )
        except (ValueError, RuntimeError, OSError, msal.exceptions.MsalError):
            # msal raises ValueError on a state mismatch and RuntimeError on an ID token whose
            # nonce is not the flow's; its text stays out of ours.
            raise AuthorizationRefused("exchange_failed") from None
        finally:
            http.close()
        if "error" in result or "access_token" not in result:
            raise AuthorizationRefused("exchange_failed")
        return grant_from_exchange(
            result.get("refresh_token"),
            cache.serialize(),
            lambda credentials: token_addresses(self.settings, credentials),
        )
