"""Microsoft Graph over HTTP for one mailbox: a pooled session, paging, `$batch`, pacing and
retries, shared by the Graph mail and calendar connectors.

Graph's limits for Outlook resources are per mailbox: 10,000 requests per 10 minutes (each part
of a `$batch` counts as one) and 4 requests in flight. The client sends one request at a time
(a connector is used by one thread) and paces every request through a sliding window, so it
stays under both without relying on 429s. 429/503/504 (and other transient answers) are retried
honouring Retry-After; a 401 gets one fresh token and one more try. Everything else becomes a
`ConnectionFailure` whose text comes from microsoft_errors' vocabulary only.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
from requests.adapters import HTTPAdapter

from resources.backoff import Backoff, retry_after_from_headers
from resources.microsoft.auth import (
    MicrosoftTokens,
    TokenUnavailable,
)
from resources.microsoft.errors import (
    NETWORK_ERRORS,
    classify_exception,
    classify_graph_error,
    failure,
    is_access_denied,
    is_retryable_status,
    owner_mismatch,
)
from resources.microsoft.settings import (
    MAX_BATCH_SIZE,
    REQUESTS_PER_WINDOW,
    WINDOW_SECONDS,
    GraphSettings,
)
from resources.rate_limit import ChargeAt, QuotaPacer
from vocabulary.connectors import ApiStats
from vocabulary.status import ConnectionFailure, ConnectionStatus


@dataclass
class GraphResponse:
    """One answer (a whole request's or one `$batch` part's): status, headers, parsed body.

    `body` is None when the answer was not a JSON object; `error` then says why
    ("invalid_json" or "not_object") and `text` keeps it for quarantine.
    """

    status: int
    headers: Mapping[str, str]
    body: dict[str, Any] | None
    text: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """A 404 about the item asked for, not about the mailbox (MailboxNotEnabledForRESTAPI
        is a 404 too)."""
        return self.status == 404 and (
            classify_graph_error(404, self.body).status is not ConnectionStatus.ACCOUNT_SUSPENDED
        )


def _decode(content: bytes | str) -> tuple[dict[str, Any] | None, str, str | None]:
    """`(object, text, None)`, or `(None, text, "invalid_json" | "not_object")`."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    try:
        data = json.loads(text)
    except ValueError:
        return None, text, "invalid_json"
    if not isinstance(data, dict):
        return None, text, "not_object"
    return data, text, None


def _part_body(body: Any) -> tuple[dict[str, Any] | None, str, str | None]:
    """A `$batch` part's body: JSON inline, or (for content Graph could not inline) a base64
    string of the bytes."""
    if isinstance(body, dict):
        return body, "", None
    if body is None:
        return None, "", "invalid_json"
    if not isinstance(body, str):
        return None, json.dumps(body, default=str), "not_object"
    decoded = _decode(body)
    if decoded[2] == "invalid_json":
        try:
            raw = base64.b64decode(body, validate=True)
        except (ValueError, binascii.Error):
            return decoded
        return _decode(raw)
    return decoded


def query_string(params: Mapping[str, Any]) -> str:
    """OData query text as Graph documents it (`$filter=a ge b`, spaces as %20, `$` kept)."""
    return urlencode({k: str(v) for k, v in params.items()}, safe="$,:'()/", quote_via=quote)


class GraphClient:
    """Graph requests for one mailbox, authorised by `tokens`.

    `stats`: `http_requests` counts round trips (token requests included, via `tokens`),
    `api_calls` Graph requests (each `$batch` part one), `quota_units` the same requests as
    Graph's throttling counts them (so `quota_units` <= 10,000 per 10 minutes), `retries` the
    requests sent again, `throttled_seconds` time spent waiting for Retry-After, backoff or the
    pacer.
    """

    def __init__(
        self,
        tokens: MicrosoftTokens,
        *,
        graph_base_url: str,
        stats: ApiStats,
        max_attempts: int = 8,
        max_retry_wait_seconds: float = 60.0,
        timeout_seconds: float = 30.0,
        requests_per_window: int = REQUESTS_PER_WINDOW,
        window_seconds: float = WINDOW_SECONDS,
        charge_at: ChargeAt = "send",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = graph_base_url.rstrip("/")
        self.stats = stats
        self.tokens = tokens
        self.max_attempts = max(1, max_attempts)
        self.backoff = Backoff(max_retry_wait_seconds, sleep=sleep, rng=rng)
        self.pacer = QuotaPacer(
            requests_per_window,
            window_seconds=window_seconds,
            charge_at=charge_at,
            clock=clock,
            sleep=sleep,
        )
        self._timeout = timeout_seconds
        self._origin = urlsplit(self.base_url)[:2]
        self._session = requests.Session()
        self._session.trust_env = False  # never an environment proxy or CA bundle override
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._token_is_owners: bool | None = None
        """Whether `/me` named the owner, once asked (after a 403 access denied)."""

    def owns(self, url: str) -> bool:
        """Whether `url` lies on this client's Graph root (scheme and host)."""
        return urlsplit(url)[:2] == self._origin

    def close(self) -> None:
        self._session.close()
        self.tokens.close()

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """An absolute Graph URL for `path` (relative to the versioned root)."""
        url = self.base_url + "/" + path.lstrip("/")
        return url + ("?" + query_string(params) if params else "")

    # ---- one request -------------------------------------------------------------------------

    def get(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str] | None = None,
        *,
        accept: frozenset[int] = frozenset(),
    ) -> GraphResponse:
        """GET `url` (absolute, on Graph's own origin), retried; an error answer is raised as
        ConnectionFailure. 404 is returned, not raised: callers decide what "gone" means; so
        are the statuses in `accept` (a delta link's 410)."""
        return self._send("GET", url, method, headers=headers, accept=accept)

    def _send(
        self,
        verb: str,
        url: str,
        method: str,
        *,
        calls: int = 1,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        accept: frozenset[int] = frozenset(),
    ) -> GraphResponse:
        """One Graph request (`calls` > 1 for a `$batch` of that many parts), retried."""
        if not self.owns(url):
            # A nextLink elsewhere would carry the mailbox's token off Graph: refuse it.
            raise failure(ConnectionStatus.SYNC_ERROR, "foreign_next_link")
        attempt = 0
        refreshed = force_refresh = False
        while True:
            attempt += 1
            answer, problem, retryable = self._attempt(
                verb, url, method, calls, headers, body, force_refresh
            )
            force_refresh = False
            if answer is not None:
                if answer.ok or answer.gone or answer.status in accept:
                    return answer
                if answer.status == 401 and not refreshed:
                    refreshed = force_refresh = True
                    self.stats.retries += 1
                    continue
            retry_after = retry_after_from_headers(answer.headers) if answer else None
            if not retryable or attempt >= self.max_attempts or self.backoff.too_long(retry_after):
                raise self._explain_denial(problem) from None
            self.stats.throttled_seconds += self.backoff.wait(attempt, retry_after)
            self.stats.retries += 1

    def _explain_denial(self, problem: ConnectionFailure) -> ConnectionFailure:
        """A 403 access denied as a missing permission or as a token of another user.

        Graph answers `/users/{owner}` with 403 ErrorAccessDenied both when the owner's token
        lacks a scope and when the token is another user's (a swapped or mixed-up token): the
        first is `insufficient_permissions`, the second must never read the owner's mailbox and
        is `invalid_credentials` / `token_owner_mismatch`, as at Google. `/me` (the kit's
        identity call) tells them apart; it is asked once per client.
        """
        if not is_access_denied(problem):
            return problem
        if self._token_is_owners is None:
            self._token_is_owners = self._token_names_owner()
        # None (identity unreadable) or True keep the plain denial: only a proven other user is
        # a mismatch.
        return owner_mismatch() if self._token_is_owners is False else problem

    def _token_names_owner(self) -> bool | None:
        """Whether Graph's `/me` for this token is the owner; None when it cannot tell."""
        url = self.url("me", {"$select": "id,mail,userPrincipalName"})
        answer, _problem, _retryable = self._attempt(
            "GET", url, "graph.users.get", 1, None, None, False
        )
        if answer is None or not answer.ok or answer.body is None:
            return None
        names = {
            str(answer.body.get(key) or "").strip().lower() for key in ("mail", "userPrincipalName")
        }
        return self.tokens.owner_email.strip().lower() in names

    def _attempt(
        self,
        verb: str,
        url: str,
        method: str,
        calls: int,
        headers: Mapping[str, str] | None,
        body: Any,
        force_refresh: bool,
    ) -> tuple[GraphResponse | None, ConnectionFailure, bool]:
        """One try: `(answer or None, the failure it amounts to, whether to retry)`."""
        try:
            token = self.tokens.access_token(force_refresh=force_refresh)
        except TokenUnavailable as unavailable:
            return None, unavailable.failure, unavailable.retryable
        reservation, waited = self.pacer.reserve(calls, f"{method}:{calls}")
        self.stats.throttled_seconds += waited
        for _ in range(calls):
            self.stats.count_call(method, 1)
        self.stats.http_requests += 1
        status: int | None = None
        try:
            response = self._session.request(
                verb,
                url,
                headers={
                    "Authorization": "Bearer " + token,
                    "Accept": "application/json",
                    **(headers or {}),
                },
                json=body,
                timeout=self._timeout,
            )
            content = response.content
            status = response.status_code
        except NETWORK_ERRORS as exc:
            network: ConnectionFailure | None = classify_exception(exc)
        else:
            network = None
        finally:
            # A 429 means our view of Graph's window was wrong: charge at answers from now on.
            self.pacer.settle(reservation, throttled=status == 429)
        if network is not None:
            return None, network, True
        parsed, text, error = _decode(content)
        answer = GraphResponse(response.status_code, response.headers, parsed, text, error)
        problem = classify_graph_error(answer.status, answer.body)
        return answer, problem, is_retryable_status(answer.status)

    # ---- paging ------------------------------------------------------------------------------

    def pages(
        self, url: str, method: str, headers: Mapping[str, str] | None = None
    ) -> Iterator[list[Any]]:
        """The `value` arrays of every page, following `@odata.nextLink`."""
        seen: set[str] = set()
        next_url: str | None = url
        while next_url:
            answer = self.get(next_url, method, headers)
            if answer.status == 404:
                raise classify_graph_error(404, answer.body)
            if answer.body is None or not isinstance(answer.body.get("value"), list):
                raise failure(ConnectionStatus.SYNC_ERROR, "unreadable_page")
            yield answer.body["value"]
            link = answer.body.get("@odata.nextLink")
            next_url = link if isinstance(link, str) and link else None
            if next_url is not None:
                if next_url in seen:
                    raise failure(ConnectionStatus.SYNC_ERROR, "next_link_loop")
                seen.add(next_url)

    # ---- $batch ------------------------------------------------------------------------------

    def batch_get(
        self, paths: Mapping[str, str], method: str, batch_size: int = MAX_BATCH_SIZE
    ) -> dict[str, GraphResponse]:
        """GETs of `paths` (request id -> path relative to the versioned root) through
        `$batch`, at most `batch_size` per request; parts answered 429/5xx are sent again in a
        later batch after their Retry-After. Returns each id's final answer (2xx or 404);
        any other error answer is raised as ConnectionFailure."""
        size = max(1, min(batch_size, MAX_BATCH_SIZE))
        pending = list(paths)
        failed: dict[str, int] = {}
        results: dict[str, GraphResponse] = {}
        rounds = 0
        while pending:
            chunk, pending = pending[:size], pending[size:]
            answers = self._batch_once({i: paths[i] for i in chunk}, method)
            retry: list[str] = []
            retry_after: float | None = None
            for request_id in chunk:
                answer = answers.get(request_id)
                if answer is None:  # the part is missing from the answer: ask again
                    answer = GraphResponse(503, {}, None)
                if answer.ok or answer.gone:
                    results[request_id] = answer
                    continue
                problem = classify_graph_error(answer.status, answer.body)
                failed[request_id] = failed.get(request_id, 0) + 1
                wait = retry_after_from_headers(answer.headers)
                if (
                    not is_retryable_status(answer.status)
                    or failed[request_id] >= self.max_attempts
                    or self.backoff.too_long(wait)
                ):
                    raise self._explain_denial(problem) from None
                if answer.status == 429:
                    # A part refused for rate: the batch's charge was settled too early.
                    self.pacer.note_throttled()
                retry.append(request_id)
                if wait is not None:
                    retry_after = max(retry_after or 0.0, wait)
            if not retry:
                rounds = 0
                continue
            rounds += 1
            self.stats.throttled_seconds += self.backoff.wait(rounds, retry_after)
            self.stats.retries += len(retry)
            pending = retry + pending
        return results

    def _batch_once(self, paths: Mapping[str, str], method: str) -> dict[str, GraphResponse]:
        body = {
            "requests": [
                {"id": request_id, "method": "GET", "url": "/" + path.lstrip("/")}
                for request_id, path in paths.items()
            ]
        }
        answer = self._send(
            "POST",
            self.base_url + "/$batch",
            method,
            calls=len(paths),
            headers={"Content-Type": "application/json"},
            body=body,
        )
        if answer.status == 404 or answer.body is None:
            raise failure(ConnectionStatus.SYNC_ERROR, "unreadable_batch")
        out: dict[str, GraphResponse] = {}
        for part in answer.body.get("responses") or []:
            if not isinstance(part, Mapping) or str(part.get("id")) not in paths:
                continue
            status = part.get("status")
            headers = part.get("headers") if isinstance(part.get("headers"), Mapping) else {}
            parsed, text, error = _part_body(part.get("body"))
            out[str(part["id"])] = GraphResponse(
                status if isinstance(status, int) else 502, headers, parsed, text, error
            )
        return out


def graph_time(moment: datetime) -> str:
    """A UTC instant as Graph's query options take it (`2026-11-20T00:00:00Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def user_path(owner_email: str) -> str:
    """`users/{address}`: Graph takes the user principal name in place of the object id."""
    return "users/" + quote(owner_email, safe="@")


def select(fields: Sequence[str]) -> str:
    return ",".join(fields)


def open_graph_client(
    owner_email: str,
    refresh_token: str,
    token_cache: str | None,
    save_token_cache: Callable[[str], None] | None,
    *,
    scopes: Sequence[str],
    settings: GraphSettings,
    stats: ApiStats,
) -> GraphClient:
    """A GraphClient for one mailbox, signed in through msal with the connection's refresh token
    and token cache (which leaves through `save_token_cache` when msal changed it)."""
    tokens = MicrosoftTokens(
        owner_email,
        refresh_token,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=scopes,
        login_base_url=settings.login_base_url,
        tenant=settings.tenant,
        token_cache=token_cache,
        save_token_cache=save_token_cache,
        stats=stats,
        timeout_seconds=settings.timeout_seconds,
        clock=settings.clock,
    )
    return GraphClient(
        tokens,
        graph_base_url=settings.graph_base_url,
        stats=stats,
        max_attempts=settings.max_attempts,
        max_retry_wait_seconds=settings.max_retry_wait_seconds,
        timeout_seconds=settings.timeout_seconds,
        requests_per_window=settings.requests_per_ten_minutes,
        window_seconds=settings.throttle_window_seconds,
        charge_at=settings.quota_charge_at,
        sleep=settings.sleep,
        clock=settings.clock,
        rng=settings.rng,
    )
