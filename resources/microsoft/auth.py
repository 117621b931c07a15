"""Access tokens for one Microsoft 365 connection through msal, with its token cache kept per
connection.

One `ConfidentialClientApplication` per `MicrosoftTokens` (so per connector): msal keeps an
in-memory HTTP cache that replays an identical 400 for 60 s and 429/5xx for their Retry-After,
which must not leak between mailboxes or outlive a connector. msal only talks `https`; its
HTTP goes through `LoginRewritingSession`, which sends `https://login.microsoftonline.com` to
the configured login base URL (identity in production, the sandbox in tests).

msal answers failures as error dicts; they are classified here (microsoft_errors) and raised as
`TokenUnavailable`, never as msal's text. No token or cache content is ever logged or raised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msal
import requests
from requests.adapters import HTTPAdapter

from resources.microsoft.errors import (
    NETWORK_ERRORS,
    classify_exception,
    classify_token_error,
    failure,
    is_retryable_token_error,
)
from resources.microsoft.settings import DEFAULT_TENANT, MICROSOFT_LOGIN_URL
from vocabulary.connectors import ApiStats
from vocabulary.status import ConnectionFailure, ConnectionStatus

GRAPH_MAIL_SCOPES = ("https://graph.microsoft.com/Mail.Read",)
GRAPH_CALENDAR_SCOPES = ("https://graph.microsoft.com/Calendars.Read",)
EXPIRY_MARGIN_SECONDS = 300
"""An access token is renewed this long before it expires (msal's own margin)."""


class TokenUnavailable(Exception):
    """No access token now: `failure` says why (safe text), `retryable` whether to try later."""

    def __init__(self, failure: ConnectionFailure, retryable: bool) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.retryable = retryable


_DISCOVERY_TTL_SECONDS = 3600.0
_discovery_lock = threading.Lock()
_discovery: dict[str, tuple[float, requests.Response]] = {}
"""OpenID configurations by URL, shared by every connector of the process: msal fetches one per
application object, and each connector has its own application."""


class LoginRewritingSession(requests.Session):
    """The `http_client` msal is given: a pooled requests.Session that ignores proxy and CA
    environment variables, applies a default timeout, counts round trips, rewrites
    `https://login.microsoftonline.com` to `login_base_url`, and answers repeated OpenID
    configuration requests from a process-wide cache.
    """

    def __init__(self, login_base_url: str, stats: ApiStats, timeout_seconds: float) -> None:
        super().__init__()
        self.trust_env = False
        self._login_base_url = login_base_url.rstrip("/")
        self._stats = stats
        self._timeout = timeout_seconds
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=2, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def rewrite(self, url: str) -> str:
        if url[: len(MICROSOFT_LOGIN_URL)].lower() == MICROSOFT_LOGIN_URL:
            return self._login_base_url + url[len(MICROSOFT_LOGIN_URL) :]
        return url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        target = self.rewrite(url.decode() if isinstance(url, bytes) else url)
        verb = method.decode() if isinstance(method, bytes) else method
        discovery = verb.upper() == "GET" and target.endswith("/.well-known/openid-configuration")
        if discovery:
            with _discovery_lock:
                cached = _discovery.get(target)
            if cached is not None and cached[0] > time.monotonic():
                return cached[1]
        self._stats.http_requests += 1
        response = super().request(method, target, *args, **kwargs)
        if discovery and response.status_code == 200:
            with _discovery_lock:
                _discovery[target] = (time.monotonic() + _DISCOVERY_TTL_SECONDS, response)
        return response


class MicrosoftTokens:
    """Access tokens for one connection's `scopes`.

    The connection's msal cache comes in as `token_cache` (decrypted JSON, or None) and goes
    back through `save_token_cache` whenever msal changed it (the registry encrypts it). Tokens
    come from the cache first (a still-valid access token costs no request; otherwise msal
    redeems the cached refresh token), then from the stored `refresh_token`.
    """

    def __init__(
        self,
        owner_email: str,
        refresh_token: str,
        *,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        login_base_url: str = MICROSOFT_LOGIN_URL,
        tenant: str = DEFAULT_TENANT,
        token_cache: str | None = None,
        save_token_cache: Callable[[str], None] | None = None,
        stats: ApiStats | None = None,
        timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner_email = owner_email
        self.scopes = list(scopes)
        self.stats = stats if stats is not None else ApiStats()
        self.token_acquisitions = 0
        """Access tokens obtained (from the cache or the token endpoint)."""
        self._refresh_token = refresh_token
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = f"{MICROSOFT_LOGIN_URL}/{tenant}"
        self._save = save_token_cache
        self._cache = msal.SerializableTokenCache()
        if token_cache:
            try:
                self._cache.deserialize(token_cache)
            except ValueError:
                self._cache = msal.SerializableTokenCache()  # unreadable: start afresh
        self._http = LoginRewritingSession(login_base_url, self.stats, timeout_seconds)
        self._timeout = timeout_seconds
        self._clock = clock
        self._app: msal.ConfidentialClientApplication | None = None
        self._access_token: str | None = None
        self._access_token_expires = 0.0

    def __repr__(self) -> str:
        return f"MicrosoftTokens(owner_email={self.owner_email!r}, scopes={self.scopes!r})"

    def close(self) -> None:
        self._http.close()

    def access_token(self, force_refresh: bool = False) -> str:
        """A valid access token; `force_refresh` after Graph refused the previous one (401).

        Raises `TokenUnavailable` (classified; `retryable` for outages and throttling).
        """
        if (
            self._access_token is not None
            and not force_refresh
            and self._clock() < self._access_token_expires
        ):
            return self._access_token
        self._access_token = None
        try:
            result = self._acquire(force_refresh)
        except TokenUnavailable:
            raise
        except Exception as exc:  # msal's exceptions carry response text: replace, never chain
            problem: TokenUnavailable | None = _unavailable(exc, "token_response_unreadable")
        else:
            problem = None
        finally:
            self._save_cache()
        if problem is not None:
            raise problem from None
        if "access_token" not in result:
            raise TokenUnavailable(
                classify_token_error(result), is_retryable_token_error(result)
            ) from None
        self.token_acquisitions += 1
        self._access_token = result["access_token"]
        lifetime = result.get("expires_in")
        lifetime = lifetime if isinstance(lifetime, int) and lifetime > 0 else 300
        self._access_token_expires = self._clock() + max(0, lifetime - EXPIRY_MARGIN_SECONDS)
        return self._access_token

    def invalidate(self) -> None:
        """Forget the current access token (Graph said it is no longer valid)."""
        self._access_token = None

    def _acquire(self, force_refresh: bool) -> dict[str, Any]:
        app = self._application()
        result: dict[str, Any] | None = None
        account = self._cached_account(app)
        if account is not None:
            result = app.acquire_token_silent_with_error(
                self.scopes, account, force_refresh=force_refresh
            )
        if result and "access_token" in result:
            return result
        return app.acquire_token_by_refresh_token(self._refresh_token, self.scopes)

    def _cached_account(self, app: msal.ConfidentialClientApplication) -> dict[str, Any] | None:
        accounts = app.get_accounts()
        owner = self.owner_email.lower()
        mine = [a for a in accounts if str(a.get("username") or "").lower() == owner]
        return (mine or accounts or [None])[0]

    def _application(self) -> msal.ConfidentialClientApplication:
        """The connector's msal app, created on first use (msal fetches the OpenID
        configuration while constructing it)."""
        if self._app is not None:
            return self._app
        try:
            self._app = msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._client_secret,
                authority=self._authority,
                instance_discovery=False,
                http_client=self._http,
                token_cache=self._cache,
                timeout=self._timeout,
            )
        except Exception as exc:  # see access_token
            error = _unavailable(exc, "authority_not_found")
        else:
            return self._app
        raise error from None

    def _save_cache(self) -> None:
        if self._save is not None and self._cache.has_state_changed:
            self._save(self._cache.serialize())
            self._cache.has_state_changed = False


def _unavailable(exc: BaseException, unreadable_cause: str) -> TokenUnavailable:
    """An exception msal raised (outage, network, unreadable answer) as TokenUnavailable.

    msal raises MsalServiceError for a 5xx, network errors as they come, and ValueError when an
    answer is not the JSON it expects (OpenID configuration of an unknown tenant, garbled token
    response).
    """
    if isinstance(exc, msal.exceptions.MsalServiceError):
        return TokenUnavailable(
            failure(ConnectionStatus.NO_SERVICE_CONNECTION, "token_endpoint_unavailable"), True
        )
    if isinstance(exc, NETWORK_ERRORS):
        return TokenUnavailable(classify_exception(exc), True)
    if isinstance(exc, ValueError):
        status = (
            ConnectionStatus.REQUEST_INVALID
            if unreadable_cause == "authority_not_found"
            else ConnectionStatus.SYNC_ERROR
        )
        return TokenUnavailable(failure(status, unreadable_cause), False)
    return TokenUnavailable(failure(ConnectionStatus.SYNC_ERROR, "token_acquisition_failed"), False)
