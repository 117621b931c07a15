"""What every Google connector needs under google-api-python-client: one user's OAuth
credentials, a counting and timed-out transport, a quota pacer and a retry loop.

Gmail and Google Calendar differ only in the calls they make; token refresh, pacing, Retry-After
and failure classification are the same, so they live here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError
from googleapiclient.model import JsonModel

from resources.backoff import Backoff
from resources.google.errors import (
    NETWORK_ERRORS,
    classify,
    is_rate_limit,
    is_retryable,
    retry_after_seconds,
)
from resources.google.settings import GoogleSettings
from resources.rate_limit import QuotaPacer, Reservation
from vocabulary.connectors import ApiStats

T = TypeVar("T")

PROVIDER_ERRORS: tuple[type[BaseException], ...] = (
    HttpError,
    auth_exceptions.RefreshError,
    *NETWORK_ERRORS,
)


class UndecodedJsonModel(JsonModel):
    """Leaves 2xx bodies as bytes.

    JsonModel's `json.loads` failure on one batch part escapes `BatchHttpRequest.execute` and
    loses the whole batch's answers; decoding each answer ourselves keeps the others.
    """

    def deserialize(self, content: Any) -> Any:
        return content


def decode_json_object(content: Any) -> tuple[dict[str, Any] | None, str | None, str]:
    """`(object, None, text)`, or `(None, "invalid_json" | "not_object", text)`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content or "")
    try:
        payload = json.loads(text)
    except ValueError:
        return None, "invalid_json", text
    if not isinstance(payload, dict):
        return None, "not_object", text
    return payload, None, text


class CountingHttp(httplib2.Http):
    """An httplib2.Http that counts round trips (API calls, batches, token refreshes) and
    tells `on_request` when one leaves."""

    def __init__(self, stats: ApiStats, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._stats = stats
        self.on_request: Callable[[], None] = _nothing

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._stats.http_requests += 1
        self.on_request()
        return super().request(*args, **kwargs)


def _nothing() -> None:
    """No call is being paced."""


class _Pacing:
    """One call's quota: reserved when its first HTTP request leaves, not before `send` builds
    it (building a batch of 50 takes tens of milliseconds that would otherwise widen every gap
    between batches), and settled when `send` returns or raises."""

    def __init__(self, session: GoogleApiSession, units: int, kind: str) -> None:
        self.session = session
        self.units = units
        self.kind = kind
        self.reservation: Reservation | None = None

    def on_request(self) -> None:
        # Only the first request reserves: a token refresh inside `send` comes before the call.
        if self.reservation is None:
            self.reservation, waited = self.session.pacer.reserve(self.units, self.kind)
            self.session.stats.throttled_seconds += waited

    def settle(self, throttled: bool) -> None:
        if self.reservation is not None:
            self.session.pacer.settle(self.reservation, throttled=throttled)
        elif throttled:
            self.session.pacer.note_throttled()


class GoogleApiSession:
    """One Google user's authorised transport with pacing and retries.

    `units_per_window` per `window_seconds` is the quota the pacer keeps to (Gmail: 250 units
    per second; Calendar: 600 requests per minute). Throttling and outages are retried up to
    `max_attempts` per call, never waiting less than Retry-After; an answer asking for a longer
    wait than `max_retry_wait_seconds` ends the call at once.
    """

    def __init__(
        self,
        refresh_token: str,
        settings: GoogleSettings,
        *,
        stats: ApiStats,
        units_per_window: int,
        window_seconds: float = 1.0,
    ) -> None:
        self.stats = stats
        self.max_attempts = max(1, settings.max_attempts)
        self.backoff = Backoff(
            settings.max_retry_wait_seconds, sleep=settings.sleep, rng=settings.rng
        )
        self.pacer = QuotaPacer(
            units_per_window,
            window_seconds=window_seconds,
            charge_at=settings.quota_charge_at,
            clock=settings.clock,
            sleep=settings.sleep,
        )
        self.credentials = Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=settings.token_endpoint,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
        )
        self.http = CountingHttp(stats, settings.timeout_seconds)
        self.authorized_http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=self.http)

    def close(self) -> None:
        """Closes kept-alive connections."""
        self.http.close()

    def call(self, send: Callable[[], T], units: int, kind: str = "") -> T:
        """Runs `send` paced, retrying throttling and outages; other failures are classified.

        `kind` names the call's method (and size), whose fastest round trip the pacer learns
        (see QuotaPacer.settle); it defaults to the units.

        The failure is raised outside the `except` block so it carries no `__context__`: the
        provider's exception (and its text) never travels with it.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                self.ensure_token()
                pacing = _Pacing(self, units, kind or str(units))
                self.http.on_request = pacing.on_request
                throttled = False
                try:
                    return send()
                except PROVIDER_ERRORS as exc:
                    throttled = is_rate_limit(exc)
                    raise
                finally:
                    self.http.on_request = _nothing
                    pacing.settle(throttled)
            except PROVIDER_ERRORS as exc:
                error: BaseException = exc
            if not is_retryable(error) or attempt >= self.max_attempts:
                raise classify(error) from None
            wait = retry_after_seconds(error) if isinstance(error, HttpError) else None
            self.wait_to_retry(attempt, wait, error)
            self.stats.retries += 1

    def ensure_token(self) -> None:
        """Refreshes the access token through our own (counted, timed-out) HTTP object.

        BatchHttpRequest would otherwise refresh through a fresh httplib2.Http with no timeout.
        """
        if not self.credentials.valid:
            self.refresh_token()

    def refresh_token(self) -> None:
        """A new access token now, e.g. after Google answered batch parts 401 (the token
        expired while the batch was in flight)."""
        self.credentials.refresh(google_auth_httplib2.Request(self.http))

    def wait_to_retry(self, attempt: int, retry_after: float | None, error: BaseException) -> None:
        """Sleeps before retry `attempt`, or raises the classified `error` if asked to wait
        longer than the cap."""
        if self.backoff.too_long(retry_after):
            raise classify(error) from None
        self.stats.throttled_seconds += self.backoff.wait(attempt, retry_after)
