"""One Gmail mailbox through google-api-python-client and google-auth, behind `MailConnector`.

Google's client does the wire format (discovery, OAuth refresh; multipart batches are framed by
resources/google/batch.py, in Google's documented format, around the client's requests); this module
adds what a sync of many mailboxes needs on top: pacing under the per-user quota, retries that
honour Retry-After, per-message outcomes that never let one broken message sink a batch, and
failures turned into `ConnectionFailure` with no provider text and no token in them.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from googleapiclient.discovery import build
from googleapiclient.errors import BatchError, HttpError
from googleapiclient.http import BatchHttpRequest

from resources.google.batch import RequestBatch
from resources.google.client import GoogleApiSession, UndecodedJsonModel, decode_json_object
from resources.google.errors import (
    classify,
    failure,
    is_rate_limit,
    is_retryable,
    retry_after_seconds,
)
from resources.google.settings import MAX_BATCH_SIZE, GoogleSettings
from vocabulary.connectors import ApiStats, MailChanges
from vocabulary.records import SKIPPED_LABELS, RawMessage, Removal, removal_reason
from vocabulary.status import ConnectionStatus
from vocabulary.text import safe_excerpt
from vocabulary.windows import SyncWindow

METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Sender",
)
LIST_METHOD = "gmail.users.messages.list"
GET_METHOD = "gmail.users.messages.get"
HISTORY_METHOD = "gmail.users.history.list"
PROFILE_METHOD = "gmail.users.getProfile"
QUOTA_COSTS = {LIST_METHOD: 5, GET_METHOD: 5, HISTORY_METHOD: 2, PROFILE_METHOD: 1}
"""Gmail's quota units per call."""
LIST_PAGE_SIZE = 500
HISTORY_SCOPE = "gmail:history"
"""The one change cursor of a Gmail mailbox: the historyId the next history.list starts from."""
HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
RELIST_AHEAD = timedelta(days=1)
"""A restart lists up to this far past now: mail keeps arriving while the listing pages."""

_BATCH_ENVELOPE_ERRORS: tuple[type[BaseException], ...] = (
    BatchError,
    KeyError,
    ValueError,
    IndexError,
)
"""What BatchHttpRequest.execute raises when the multipart answer itself is unreadable (not
UTF-8, a part missing or garbled); the batch's messages are then fetched one by one."""


@dataclass
class _Outcome:
    """One message's answer: a RawMessage, gone (404), or an error to retry or raise."""

    message: RawMessage | None = None
    vanished: bool = False
    error: BaseException | None = None


def _history_entries(record: dict[str, Any], key: str) -> Iterator[tuple[str, list, list]]:
    """(message id, its labels after the change, the labels the change added or removed)."""
    for entry in record.get(key) or []:
        message = entry.get("message") if isinstance(entry, dict) else None
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            yield message["id"], message.get("labelIds") or [], entry.get("labelIds") or []


def _fold_history_record(record: dict[str, Any], state: dict[str, str | None]) -> None:
    """Applies one History record to each message's state (records come oldest first)."""
    for mid, labels, _ in _history_entries(record, "messagesAdded"):
        # New mail lands in spam or drafts too: those are never synced.
        state[mid] = removal_reason(labels)
    for mid, _, _ in _history_entries(record, "messagesDeleted"):
        state[mid] = Removal.DELETED
    for key in ("labelsAdded", "labelsRemoved"):
        for mid, labels, changed in _history_entries(record, key):
            # Only trash, spam and draft decide whether a message is synced; other label
            # changes (read, starred, user labels) leave the row as it is.
            if SKIPPED_LABELS.intersection(changed):
                state[mid] = removal_reason(labels)


def _gmail(http: Any, base: str) -> Any:
    """Gmail's service object over `http`, from the discovery document in the package."""
    return build(
        "gmail",
        "v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": base + "/"},
        model=UndecodedJsonModel(),
    )


def _decode_message(message_id: str, content: Any) -> RawMessage:
    """A message body as RawMessage; unusable JSON becomes `payload=None` for quarantine."""
    payload, error, text = decode_json_object(content)
    if payload is None:
        return RawMessage(message_id, None, error, safe_excerpt(text))
    return RawMessage(message_id, payload)


class GoogleMailConnector:
    """Gmail of one connected mailbox (`MailConnector`).

    Every call addresses the owner's mailbox by address (`userId=owner_email`, never `me`), so
    a token of another account is refused by Gmail ("Delegation denied", 403 `forbidden`) and
    fails as `token_owner_mismatch` instead of filling the owner's rows with someone else's mail.

    `quota_units_per_second` paces every call so the mailbox's quota is never exceeded (batches
    shrink to fit it). Throttling and outages are retried up to `max_attempts` per call with
    capped exponential backoff and jitter, never waiting less than Retry-After; an answer asking
    for a longer wait than `max_retry_wait_seconds` ends the call as THROTTLED at once.
    """

    provider = "google"

    def __init__(
        self,
        owner_email: str,
        refresh_token: str,
        *,
        settings: GoogleSettings,
    ) -> None:
        cost = QUOTA_COSTS[GET_METHOD]
        quota_units_per_second = settings.quota_units_per_second
        if quota_units_per_second < cost:
            raise ValueError(f"quota_units_per_second must be at least {cost}")
        base = settings.root
        self.owner_email = owner_email
        self.stats = ApiStats()
        self.vanished_message_ids: list[str] = []
        """Ids listed earlier but gone (404) when fetched; not yielded."""
        self._batch_uri = base + "/batch/gmail/v1"
        # A batch never holds more calls than one second of quota can pay for.
        self._batch_size = max(
            1, min(settings.batch_size, MAX_BATCH_SIZE, quota_units_per_second // cost)
        )
        self._max_attempts = max(1, settings.max_attempts)
        self._batch_framing = settings.batch_framing
        self._session = GoogleApiSession(
            refresh_token, settings, stats=self.stats, units_per_window=quota_units_per_second
        )
        self._credentials = self._session.credentials
        self._service = _gmail(self._session.authorized_http, base)
        # Building a resource object re-creates every method from the discovery document
        # (about 1.5 ms); doing it once instead of per message halves the sync's CPU time.
        self._users = self._service.users()
        self._messages = self._users.messages()
        # Batch parts are built on the plain transport, so none carries its own Authorization
        # header: Google applies the outer batch request's headers to every part (the batch is
        # sent, refreshed and retried on a 401 through the authorised one). A part without the
        # header costs about a third less to serialise, and the server reads one token per batch.
        self._part_messages = _gmail(self._session.http, base).users().messages()

    def __repr__(self) -> str:
        return f"GoogleMailConnector(owner_email={self.owner_email!r})"

    def close(self) -> None:
        """Closes kept-alive connections."""
        self._session.close()

    # ---- MailConnector -------------------------------------------------------------------------

    def list_message_ids(self, window: SyncWindow) -> list[str]:
        """Every page of `users.messages.list` for the window (whole seconds), drafts excluded.

        Spam and trash stay hidden (`includeSpamTrash=False`).
        """
        query = (
            f"after:{math.floor(window.start.timestamp())} "
            f"before:{math.floor(window.end.timestamp())} -in:drafts"
        )
        params = {"userId": self.owner_email, "q": query, "includeSpamTrash": False}
        ids: list[str] = []
        for page in self._pages(LIST_METHOD, self._messages.list, params):
            for item in (page or {}).get("messages") or []:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    ids.append(item["id"])
        return list(dict.fromkeys(ids))

    def fetch_messages(self, message_ids: Sequence[str]) -> Iterator[RawMessage]:
        """`messages.get` (format=metadata) of exactly these ids, in batches, as they arrive.

        Messages whose answer was throttled or failed on Google's side go into a later batch
        after a wait; 404s are recorded in `vanished_message_ids`.
        """
        pending = deque(dict.fromkeys(message_ids))
        failed_attempts: dict[str, int] = {}
        failing_rounds = 0
        # The listing's units are still in the window: the first batch takes the room left
        # rather than waiting most of a window for a full one.
        size = max(1, min(self._batch_size, self._session.pacer.room() // QUOTA_COSTS[GET_METHOD]))
        while pending:
            chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            size = self._batch_size
            outcomes = self._fetch_chunk(chunk)
            retry: list[tuple[str, BaseException]] = []
            retry_after: float | None = None
            for message_id in chunk:
                outcome = outcomes[message_id]
                if outcome.message is not None:
                    yield outcome.message
                    continue
                if outcome.vanished or outcome.error is None:
                    self.vanished_message_ids.append(message_id)
                    continue
                error = outcome.error
                failed_attempts[message_id] = failed_attempts.get(message_id, 0) + 1
                if not is_retryable(error) or failed_attempts[message_id] >= self._max_attempts:
                    raise classify(error) from None
                if is_rate_limit(error):
                    # A batch part refused for rate: the batch's charge was settled too early.
                    self._session.pacer.note_throttled()
                retry.append((message_id, error))
                wait = retry_after_seconds(error) if isinstance(error, HttpError) else None
                if wait is not None:
                    retry_after = max(retry_after or 0.0, wait)
            if not retry:
                failing_rounds = 0
                continue
            failing_rounds += 1
            self._session.wait_to_retry(failing_rounds, retry_after, retry[-1][1])
            self.stats.retries += len(retry)
            pending.extendleft(reversed([message_id for message_id, _ in retry]))

    def mail_changes(
        self, cursors: Mapping[str, str], relist_since: datetime, track_since: datetime
    ) -> MailChanges:
        """`users.history.list` from the stored historyId; when there is none or Gmail no longer
        keeps it (404), Gmail's documented full sync: the historyId from `users.getProfile`
        first, then the listing, so nothing that changes meanwhile is missed. (History covers
        every message, whatever its date: `track_since` needs nothing here.)"""
        start = cursors.get(HISTORY_SCOPE)
        if start is not None:
            changes = self._history(start)
            if changes is not None:
                return changes
        history_id = self._profile_history_id()
        window = SyncWindow(relist_since, datetime.now(UTC) + RELIST_AHEAD)
        return MailChanges(
            {HISTORY_SCOPE: history_id},
            present=self.list_message_ids(window),
            relisted_since=relist_since,
        )

    # ---- calls ---------------------------------------------------------------------------------

    def _pages(
        self,
        method: str,
        call: Callable[..., Any],
        params: dict[str, Any],
        *,
        not_found_ok: bool = False,
    ) -> Iterator[dict[str, Any] | None]:
        """Every page of a listing method (`pageToken` / `nextPageToken`, 500 per page); a 404
        ends it with None when `not_found_ok`, and is a classified failure otherwise."""
        seen_tokens: set[str] = set()
        page_token: str | None = None
        while True:
            paged = {**params, "maxResults": LIST_PAGE_SIZE}
            if page_token:
                paged["pageToken"] = page_token
            page = self._page(method, call(**paged), not_found_ok=not_found_ok)
            yield page
            page_token = page.get("nextPageToken") if page is not None else None
            if not page_token:
                return
            if page_token in seen_tokens:
                raise failure(ConnectionStatus.SYNC_ERROR, "list_page_token_loop")
            seen_tokens.add(page_token)

    def _page(
        self, method: str, request: Any, *, not_found_ok: bool = False
    ) -> dict[str, Any] | None:
        """One paced, retried call answering a JSON object; None for a 404 if `not_found_ok`."""

        def send() -> Any:
            self.stats.count_call(method, QUOTA_COSTS[method])
            try:
                return request.execute(num_retries=0)
            except HttpError as exc:
                if not_found_ok and exc.status_code == 404:
                    return None
                raise

        content = self._session.call(send, QUOTA_COSTS[method], method)
        if content is None:
            return None
        page = _decode_message("", content)
        if page.payload is None:
            # e.g. "list_invalid_json", as the listing always said
            name = "list" if method == LIST_METHOD else method.rsplit(".", 1)[-1]
            raise failure(ConnectionStatus.SYNC_ERROR, f"{name}_{page.error}")
        return page.payload

    def _profile_history_id(self) -> str:
        profile = self._page(PROFILE_METHOD, self._users.getProfile(userId=self.owner_email))
        history_id = (profile or {}).get("historyId")
        if not isinstance(history_id, str) or not history_id.isdigit():
            raise failure(ConnectionStatus.SYNC_ERROR, "profile_without_history_id")
        return history_id

    def _history(self, start: str) -> MailChanges | None:
        """Every page of history since `start`, folded into each message's final state; None
        when Gmail answers 404 (the historyId is too old)."""
        state: dict[str, str | None] = {}  # id -> None (in a synced folder) or removal reason
        history_id = start
        params = {
            "userId": self.owner_email,
            "startHistoryId": start,
            "historyTypes": HISTORY_TYPES,
        }
        history = self._users.history()
        for page in self._pages(HISTORY_METHOD, history.list, params, not_found_ok=True):
            if page is None:
                return None
            for record in page.get("history") or []:
                if isinstance(record, dict):
                    _fold_history_record(record, state)
            if isinstance(page.get("historyId"), str):
                history_id = page["historyId"]
        return MailChanges(
            {HISTORY_SCOPE: history_id},
            present=[mid for mid, reason in state.items() if reason is None],
            removed={mid: reason for mid, reason in state.items() if reason is not None},
        )

    def _get_request(self, message_id: str, *, batched: bool = False) -> Any:
        messages = self._part_messages if batched else self._messages
        return messages.get(
            userId=self.owner_email,
            id=message_id,
            format="metadata",
            metadataHeaders=list(METADATA_HEADERS),
        )

    def _fetch_chunk(self, chunk: list[str]) -> dict[str, _Outcome]:
        """One batch for `chunk`; per-message outcomes, whole-request failures retried here."""
        outcomes: dict[str, _Outcome] = {}

        def on_answer(request_id: str, response: Any, exception: BaseException | None) -> None:
            if isinstance(exception, HttpError) and exception.status_code == 404:
                outcomes[request_id] = _Outcome(vanished=True)
            elif exception is not None:
                outcomes[request_id] = _Outcome(error=exception)
            else:
                outcomes[request_id] = _Outcome(message=_decode_message(request_id, response))

        def send() -> None:
            outcomes.clear()
            batch = self._new_batch(on_answer)
            for message_id in chunk:
                batch.add(self._get_request(message_id, batched=True), request_id=message_id)
                self.stats.count_call(GET_METHOD, QUOTA_COSTS[GET_METHOD])
            batch.execute(http=self._session.authorized_http)

        try:
            self._session.call(send, QUOTA_COSTS[GET_METHOD] * len(chunk), f"batch:{len(chunk)}")
        except _BATCH_ENVELOPE_ERRORS:
            outcomes.clear()
        for message_id in chunk:
            if message_id not in outcomes:
                outcomes[message_id] = self._fetch_one(message_id)
        return outcomes

    def _new_batch(self, on_answer: Callable[[str, Any, BaseException | None], None]) -> Any:
        if self._batch_framing == "library":
            return BatchHttpRequest(callback=on_answer, batch_uri=self._batch_uri)
        return RequestBatch(self._batch_uri, on_answer, refresh=self._session.refresh_token)

    def _fetch_one(self, message_id: str) -> _Outcome:
        """A plain (unbatched) get, for messages whose batch answer could not be read."""

        def send() -> Any:
            self.stats.count_call(GET_METHOD, QUOTA_COSTS[GET_METHOD])
            try:
                return self._get_request(message_id).execute(num_retries=0)
            except HttpError as exc:
                if exc.status_code == 404:
                    return None
                raise

        content = self._session.call(send, QUOTA_COSTS[GET_METHOD], GET_METHOD)
        if content is None:
            return _Outcome(vanished=True)
        return _Outcome(message=_decode_message(message_id, content))
