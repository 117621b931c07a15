"""The sandbox's in-memory world: mailboxes, messages, calendars, tokens, faults, quota, stats.

Provider-neutral and keyed by mailbox address, so the Google and Microsoft modules share it. One
re-entrant lock guards everything; label lists on messages and events on calendars are replaced,
never mutated, so a reader holding one sees a consistent snapshot without copying.

This module is the facade and the lock; the parts it holds live beside it: `mailstore` (one
mailbox's messages by date), `tokens` (token shapes), `faults`, `quota` (limits and windows),
`stats`, and `truth` (the rows a correct sync must reproduce).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.faults import GRANT_FAULTS, FaultBook, Rejection, make_fault
from sandbox.mailstore import Change, MailStore
from sandbox.quota import Meters
from sandbox.stats import MailboxStats, totals
from sandbox.tokens import (
    ACCESS_TOKEN_TTL_S,
    AUTH_CODE_TTL_S,
    AccessToken,
    TokenError,
    new_access_token,
    new_authorization_code,
    new_refresh_token,
)
from sandbox.truth import (
    EPOCH,
    FAR,
    SKIPPED_LABELS,
    aware,
    event_row,
    listed_as,
    message_row,
    shown_start,
    to_ms,
)
from sandbox.workload import rfc822
from sandbox.workload.calendar_ids import provider_master_id
from sandbox.workload.calendar_model import MAX_MOVE, MasterEvent, Occurrence
from sandbox.workload.calendar_model import occurrences_starting as _starting
from sandbox.workload.event_spec import apply_changes, build_event
from sandbox.workload.message_ids import provider_ids
from sandbox.workload.model import Mailbox, SandboxMessage, Workload

DENY = "<deny>"
"""`SandboxState.consent_for`'s answer when the person at the consent screen refuses."""


class UnknownMailbox(KeyError):
    pass


@dataclass(frozen=True)
class IssuedCode:
    """An authorization code the sandbox issued, and what its redemption must show."""

    mailbox: str
    expires_at: float  # time.time()
    code_challenge: str | None
    redirect_uri: str | None
    nonce: str | None = None


def s256_challenge(verifier: str) -> str:
    """RFC 7636's S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class UnknownMessage(KeyError):
    pass


class UnknownEvent(KeyError):
    pass


class SandboxState:
    """Thread-safe state behind every provider handler and the /_sandbox control API."""

    def __init__(self, workload: Workload, access_token_ttl_s: int = ACCESS_TOKEN_TTL_S) -> None:
        self.workload = workload
        self.access_token_ttl_s = access_token_ttl_s
        self._lock = threading.RLock()
        self._rng = random.Random(workload.seed * 7919 + 1)
        self._mailboxes = {m.address: m for m in workload.mailboxes}
        self._refresh = {m.refresh_token: m.address for m in workload.mailboxes}
        self._access: dict[str, AccessToken] = {}
        self._stores: dict[str, MailStore] = {}
        self._history_counter = 1000
        self._used_gmail_ids: set[str] = set()
        for address, msgs in workload.messages.items():
            store = MailStore()
            for msg in msgs:
                self._history_counter += 1
                store.add(msg, self._history_counter)
            self._stores[address] = store
        for address in self._mailboxes:
            self._stores.setdefault(address, MailStore())
        for store in self._stores.values():
            # The workload's own history is not kept: a feed starts from today's history id.
            store.history_floor = store.last_history_id
        self._faults = FaultBook()
        self._meters = Meters()
        self._in_flight: dict[str, int] = {}
        self._stats: dict[str, MailboxStats] = {}
        self._codes: dict[str, IssuedCode] = {}
        self._consent: dict[str, str] = {}
        self._calendars: dict[str, dict[str, MasterEvent]] = {}
        for address in self._mailboxes:
            events = workload.events.get(address, [])
            self._calendars[address] = {e.uid: copy.deepcopy(e) for e in events}

    # ---- mailboxes and tokens -----------------------------------------------------------------

    def mailbox(self, address: str) -> Mailbox:
        try:
            return self._mailboxes[address.lower()]
        except KeyError:
            raise UnknownMailbox(address) from None

    @property
    def mailboxes(self) -> list[Mailbox]:
        return list(self._mailboxes.values())

    def exchange_refresh_token(self, refresh_token: str) -> tuple[str, int, Mailbox]:
        """A new access token for the refresh token's mailbox: (token, expires_in, mailbox).

        Refresh tokens handed out by rotation (Microsoft) stay valid, as Entra's do until they
        expire; a grant fault refuses them all (TokenError.kind names it).
        """
        with self._lock:
            address = self._refresh.get(refresh_token)
            if address is None:
                raise TokenError("unknown refresh token")
            return self._issue_access_token(address)

    def _issue_access_token(self, address: str) -> tuple[str, int, Mailbox]:
        stats = self._stats_for(address)
        fault = self._faults.grant_fault(address)
        if fault is not None:
            stats.token_failures += 1
            raise TokenError("grant refused", fault)
        box = self._mailboxes[address]
        token = new_access_token(box.provider)
        self._access[token] = AccessToken(address, time.time() + self.access_token_ttl_s)
        stats.token_refreshes += 1
        return token, self.access_token_ttl_s, box

    def refresh_token_owner(self, refresh_token: str) -> str | None:
        with self._lock:
            return self._refresh.get(refresh_token)

    def authorization_code_owner(self, code: str) -> str | None:
        with self._lock:
            found = self._codes.get(code)
            return found.mailbox if found and found.expires_at > time.time() else None

    def issue_refresh_token(self, mailbox: str) -> str:
        """A further refresh token for the mailbox (Entra rotates them on every redemption)."""
        box = self.mailbox(mailbox)
        with self._lock:
            token = new_refresh_token(box.provider)
            self._refresh[token] = box.address
            return token

    def revoke_refresh_tokens(self, mailbox: str) -> int:
        """Forget every refresh token of the mailbox, as a revoked grant or (at Google) a
        password change does; returns how many. Tokens issued later work again."""
        address = self.mailbox(mailbox).address
        with self._lock:
            doomed = [t for t, owner in self._refresh.items() if owner == address]
            for token in doomed:
                del self._refresh[token]
            self.expire_access_tokens(address)
            return len(doomed)

    def issue_authorization_code(
        self,
        mailbox: str,
        code_challenge: str | None = None,
        redirect_uri: str | None = None,
        nonce: str | None = None,
    ) -> str:
        """A one-time authorization code for the mailbox, as the consent redirect would carry;
        bound to the PKCE challenge and redirect URI of its authorization request, if any."""
        box = self.mailbox(mailbox)
        with self._lock:
            code = new_authorization_code()
            self._codes[code] = IssuedCode(
                box.address, time.time() + AUTH_CODE_TTL_S, code_challenge, redirect_uri, nonce
            )
            return code

    def authorization_code_nonce(self, code: str) -> str | None:
        """The OpenID `nonce` of the code's authorization request (its ID token repeats it)."""
        with self._lock:
            found = self._codes.get(code)
            return found.nonce if found else None

    def redeem_authorization_code(
        self, code: str, code_verifier: str | None = None, redirect_uri: str | None = None
    ) -> tuple[str, int, Mailbox]:
        """Like `exchange_refresh_token`, for a code from `issue_authorization_code` (once).

        A code issued for a PKCE challenge needs the verifier that hashes to it (RFC 7636 S256:
        BASE64URL(SHA256(verifier))), and one issued for a redirect URI needs the same URI; a
        failed attempt uses the code up, as the providers do. TokenError.kind: `pkce`,
        `redirect_uri` or `unknown`.
        """
        with self._lock:
            found = self._codes.pop(code, None)
            if found is None or found.expires_at <= time.time():
                raise TokenError("unknown, redeemed or expired authorization code")
            if found.code_challenge is not None and (
                not code_verifier or s256_challenge(code_verifier) != found.code_challenge
            ):
                raise TokenError("the code verifier does not match the challenge", "pkce")
            if found.redirect_uri is not None and redirect_uri != found.redirect_uri:
                raise TokenError("the redirect URI is not the authorization's", "redirect_uri")
            return self._issue_access_token(found.mailbox)

    def set_consent(
        self, login_hint: str, *, sign_in_as: str | None = None, deny: bool = False
    ) -> None:
        """A test hook standing in for the person at the consent screen: when the browser
        arrives with `login_hint`, sign in as `sign_in_as` instead, or deny consent."""
        hint = self.mailbox(login_hint).address
        with self._lock:
            if deny:
                self._consent[hint] = DENY
            elif sign_in_as is not None:
                self._consent[hint] = self.mailbox(sign_in_as).address
            else:
                self._consent.pop(hint, None)

    def consent_for(self, login_hint: str) -> str | None:
        """Who signs in for `login_hint` (`DENY` when consent is refused; None for an address
        that is no sandbox mailbox)."""
        with self._lock:
            chosen = self._consent.get(login_hint.lower())
        if chosen is not None:
            return chosen
        try:
            return self.mailbox(login_hint).address
        except UnknownMailbox:
            return None

    def note_token_failure(self, refresh_token: str) -> None:
        with self._lock:
            address = self._refresh.get(refresh_token)
            if address is not None:
                self._stats_for(address).token_failures += 1

    def mailbox_for_access_token(self, token: str) -> str | None:
        """The mailbox an access token belongs to, or None if unknown, expired or revoked."""
        with self._lock:
            record = self._access.get(token)
            if record is None:
                return None
            if (
                record.expires_at <= time.time()
                or self._faults.grant_fault(record.mailbox) is not None
            ):
                del self._access[token]
                return None
            return record.mailbox

    def expire_access_tokens(self, mailbox: str | None = None) -> int:
        """Forget live access tokens (all, or one mailbox's) so clients must refresh."""
        with self._lock:
            doomed = [t for t, r in self._access.items() if mailbox in (None, r.mailbox)]
            for token in doomed:
                del self._access[token]
            return len(doomed)

    # ---- faults, quota, stats -----------------------------------------------------------------

    def set_fault(self, mailbox: str, kind: str, **params: Any) -> dict[str, Any]:
        address = self.mailbox(mailbox).address
        fault = make_fault(address, kind, params)
        with self._lock:
            self._faults.set(fault)
            if kind in GRANT_FAULTS:
                self.expire_access_tokens(address)
            return fault.to_dict(time.monotonic())

    def clear_faults(self, mailbox: str | None = None) -> None:
        """Clear the faults (and consent overrides) of one mailbox, or of all."""
        with self._lock:
            self._faults.clear(None if mailbox is None else self.mailbox(mailbox).address)
            if mailbox is None:
                self._consent.clear()
            else:
                self._consent.pop(self.mailbox(mailbox).address, None)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._faults.listing()

    def set_quota(
        self,
        enabled: bool,
        units_per_second: int | None = None,
        calendar_requests_per_minute: int | None = None,
    ) -> dict[str, Any]:
        """Google's per-user limits, on or off: Gmail units per second, Calendar requests per
        minute (600 by default)."""
        with self._lock:
            self._meters.configure_google(enabled, units_per_second, calendar_requests_per_minute)
            return self.quota()

    def quota(self) -> dict[str, Any]:
        with self._lock:
            return self._meters.google_dict()

    def set_graph_limits(
        self,
        enabled: bool,
        max_concurrent: int | None = None,
        requests_per_window: int | None = None,
        window_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Outlook's per-mailbox throttling behind Graph: at most `max_concurrent` (4) requests
        in flight and `requests_per_window` (10,000) per `window_seconds` (600)."""
        with self._lock:
            self._meters.configure_graph(
                enabled, max_concurrent, requests_per_window, window_seconds
            )
            return self._meters.graph.to_dict()

    def graph_limits(self) -> dict[str, Any]:
        with self._lock:
            return self._meters.graph.to_dict()

    def enter_request(self, mailbox: str, slots: int = 1) -> int:
        """Takes up to `slots` of the mailbox's concurrent-request slots; returns how many it
        got (always all when limits are off). Pair with `leave_request`."""
        with self._lock:
            stats = self._stats_for(mailbox)
            busy = self._in_flight.get(mailbox, 0)
            granted = slots
            limits = self._meters.graph
            if limits.enabled:
                granted = max(0, min(slots, limits.max_concurrent - busy))
                stats.rejected_for_concurrency += slots - granted
            self._in_flight[mailbox] = busy + granted
            stats.max_concurrent_seen = max(stats.max_concurrent_seen, busy + granted)
            return granted

    def leave_request(self, mailbox: str, slots: int = 1) -> None:
        with self._lock:
            self._in_flight[mailbox] = max(0, self._in_flight.get(mailbox, 0) - slots)

    def _stats_for(self, address: str) -> MailboxStats:
        stats = self._stats.get(address)
        if stats is None:
            stats = self._stats[address] = MailboxStats()
        return stats

    def count_http(self, mailbox: str, batch_size: int | None = None) -> None:
        with self._lock:
            stats = self._stats_for(mailbox)
            stats.http_requests += 1
            if batch_size is not None:
                stats.batch_requests += 1
                stats.largest_batch = max(stats.largest_batch, batch_size)

    def admit_call(
        self, mailbox: str, method: str, cost: int, meter: str = "gmail"
    ) -> Rejection | None:
        """Counts one API call and decides whether it runs: faults first, then the quota.

        Meters: "gmail" (units per 1 s), "calendar" (Google Calendar, requests per 60 s), "graph"
        (requests per Graph window); a refusal carries the seconds until the window has room.
        """
        with self._lock:
            stats = self._stats_for(mailbox)
            stats.api_calls += 1
            stats.calls_by_method[method] = stats.calls_by_method.get(method, 0) + 1
            rejection = self._faults.rejection(mailbox)
            if rejection is not None:
                stats.faults_injected += 1
                return rejection
            window, limit = self._meters.window(mailbox, meter)
            now = time.monotonic()
            if not window.try_charge(cost, now, limit):
                stats.rejected_for_quota += 1
                return Rejection("quota", 429, 1 if meter == "gmail" else window.retry_after(now))
            stats.quota_units += cost
            if meter == "gmail":
                stats.max_units_in_any_1s_window = window.max_units
            return None

    def slow_seconds(self, mailbox: str) -> float:
        with self._lock:
            return self._faults.slow_seconds(mailbox)

    def pause_if_slow(self, mailbox: str) -> None:
        """Sleeps for the mailbox's `slow` fault, if any (outside the lock)."""
        delay = self.slow_seconds(mailbox)
        if delay > 0:
            time.sleep(delay)

    def rejection_for(self, mailbox: str) -> Rejection | None:
        """The fault a call that is not metered (e.g. a whole $batch) would hit; consumes it."""
        with self._lock:
            return self._faults.rejection(mailbox)

    def malformed_variant(self, mailbox: str, message_id: str) -> str | None:
        with self._lock:
            return self._faults.malformed_variant(mailbox, message_id)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "mailboxes": {a: s.to_dict() for a, s in sorted(self._stats.items())},
                "total": totals(self._stats),
            }

    def mailbox_stats(self, mailbox: str) -> dict[str, Any]:
        with self._lock:
            return self._stats_for(self.mailbox(mailbox).address).to_dict()

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._meters.reset()

    # ---- messages -----------------------------------------------------------------------------

    def _store(self, mailbox: str) -> MailStore:
        store = self._stores.get(mailbox.lower())
        if store is None:
            raise UnknownMailbox(mailbox)
        return store

    def message(self, mailbox: str, message_id: str) -> tuple[SandboxMessage, int]:
        """The message and its history id."""
        with self._lock:
            store = self._store(mailbox)
            msg = store.by_id.get(message_id)
            if msg is None:
                raise UnknownMessage(message_id)
            return msg, store.history[message_id]

    def messages_between(
        self, mailbox: str, after_ms: int | None = None, before_ms: int | None = None
    ) -> list[SandboxMessage]:
        """Messages with after_ms <= internalDate < before_ms, newest first (ties: larger id)."""
        with self._lock:
            return self._store(mailbox).between(after_ms, before_ms)

    def history_id(self, mailbox: str) -> int:
        """The mailbox's current history id (Gmail's getProfile and history.list answer it)."""
        with self._lock:
            store = self._store(mailbox)
            return store.last_history_id or self._history_counter

    def changes_after(self, mailbox: str, history_id: int) -> list[Change] | None:
        """The mailbox's mutations after `history_id`, oldest first; None when that point is
        older than the history the mailbox still keeps (Gmail: 404, Graph delta: 410)."""
        with self._lock:
            store = self._store(mailbox)
            if history_id < store.history_floor:
                return None
            return store.changes_after(history_id)

    def expire_history(self, mailbox: str) -> int:
        """Forgets the mailbox's history up to now, as Gmail does after a week or so: every
        cursor taken before must start over. Returns the new floor."""
        with self._lock:
            store = self._store(self.mailbox(mailbox).address)
            self._history_counter += 1
            store.history_floor = self._history_counter
            # The mailbox's own history id moves to the floor: a feed started now is valid.
            store.last_history_id = self._history_counter
            store.changes.clear()
            return store.history_floor

    def message_count(self, mailbox: str) -> tuple[int, int]:
        """(messages, threads) in the mailbox."""
        with self._lock:
            store = self._store(mailbox)
            return len(store.by_id), len({m.thread_id for m in store.by_id.values()})

    def inject_raw(
        self,
        mailbox: str,
        raw: bytes,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        internal_date_ms: int | None = None,
    ) -> dict[str, str]:
        """Delivers raw RFC 5322 bytes; threads by In-Reply-To/References like Gmail does."""
        address = self.mailbox(mailbox).address
        headers = rfc822.raw_headers(raw)
        if internal_date_ms is None:
            internal_date_ms = rfc822.date_ms(rfc822.header(headers, "Date"))
        if internal_date_ms is None:
            internal_date_ms = int(time.time() * 1000)
        mid = rfc822.header(headers, "Message-ID")
        parents = (rfc822.header(headers, "In-Reply-To") or "").split() + (
            rfc822.header(headers, "References") or ""
        ).split()
        try:
            subject = rfc822.decode_text(rfc822.header(headers, "Subject"))
        except Exception:  # an undecodable subject is the point of some injected mail
            subject = rfc822.header(headers, "Subject")
        from_addresses = rfc822.addresses(rfc822.header(headers, "From"))
        with self._lock:
            store = self._store(address)
            gmail_id = self._new_id(internal_date_ms)
            thread_id = next(
                (store.threads_by_mid[p] for p in parents if p in store.threads_by_mid), None
            )
            message_id, thread_id = provider_ids(self._mailboxes[address], gmail_id, thread_id)
            msg = SandboxMessage(
                mailbox=address,
                id=message_id,
                thread_id=thread_id,
                label_ids=list(dict.fromkeys(labels)),
                internal_date_ms=internal_date_ms,
                raw=raw,
                internet_message_id=mid,
                subject=subject,
                from_address=from_addresses[0] if from_addresses else None,
                to_addresses=rfc822.addresses(rfc822.header(headers, "To")),
                cc_addresses=rfc822.addresses(rfc822.header(headers, "Cc")),
                kind="injected",
            )
            self._history_counter += 1
            store.add(msg, self._history_counter, record=True)
            return {"id": message_id, "threadId": thread_id}

    def _new_id(self, ms: int) -> str:
        while True:
            value = ((max(ms, 0) << 20) | self._rng.getrandbits(20)) & 0xFFFF_FFFF_FFFF_FFFF
            candidate = f"{value:016x}"
            if candidate not in self._used_gmail_ids and not any(
                candidate in store.by_id for store in self._stores.values()
            ):
                self._used_gmail_ids.add(candidate)
                return candidate

    def set_labels(self, mailbox: str, message_id: str, labels: Iterable[str]) -> list[str]:
        """Replaces a message's labels (e.g. ["TRASH"] to trash it)."""
        with self._lock:
            store = self._store(mailbox)
            msg = store.by_id.get(message_id)
            if msg is None:
                raise UnknownMessage(message_id)
            self._history_counter += 1
            store.relabel(msg, list(dict.fromkeys(labels)), self._history_counter)
            return list(msg.label_ids)

    def delete_message(self, mailbox: str, message_id: str) -> None:
        """Deletes a message for good (it then answers 404, as after a Gmail permanent delete)."""
        with self._lock:
            store = self._store(mailbox)
            msg = store.by_id.get(message_id)
            if msg is None:
                raise UnknownMessage(message_id)
            self._history_counter += 1
            store.remove(msg, self._history_counter)

    def truth(
        self,
        mailbox: str,
        start: datetime | None = None,
        end: datetime | None = None,
        include_skipped: bool = False,
    ) -> list[dict[str, Any]]:
        """What a correct sync must find: messages with internalDate in [start, end), oldest
        first; DRAFT/SPAM/TRASH left out unless `include_skipped`."""
        after_ms = None if start is None else to_ms(start)
        before_ms = None if end is None else to_ms(end)
        found = self.messages_between(mailbox, after_ms, before_ms)
        found.reverse()
        return [
            message_row(m)
            for m in found
            if include_skipped or not SKIPPED_LABELS.intersection(m.label_ids)
        ]

    # ---- calendars ----------------------------------------------------------------------------

    def events(self, mailbox: str) -> list[MasterEvent]:
        """The master events on the mailbox's calendar (snapshots: updates replace them)."""
        with self._lock:
            return list(self._calendar(mailbox).values())

    def _calendar(self, mailbox: str) -> dict[str, MasterEvent]:
        calendar = self._calendars.get(mailbox.lower())
        if calendar is None:
            raise UnknownMailbox(mailbox)
        return calendar

    def inject_event(self, mailbox: str, spec: dict[str, Any]) -> dict[str, str]:
        """Adds a master event to the mailbox's calendar (fields: sandbox/README.md)."""
        box = self.mailbox(mailbox)
        event = build_event(dict(spec), box.address, box.display_name, datetime.now(UTC))
        with self._lock:
            self._calendar(box.address)[event.uid] = event
        return {
            "uid": event.uid,
            "event_id": provider_master_id(box.provider, box.user_id, event.uid),
        }

    def update_event(self, mailbox: str, uid: str, **changes: Any) -> dict[str, str]:
        """Reschedules, renames, cancels (status="cancelled") or adds exceptions to an event on
        this calendar only (a shared meeting is updated per calendar)."""
        box = self.mailbox(mailbox)
        with self._lock:
            calendar = self._calendar(box.address)
            current = calendar.get(uid)
            if current is None:
                raise UnknownEvent(uid)
            event = copy.deepcopy(current)
            apply_changes(event, dict(changes), datetime.now(UTC))
            calendar[uid] = event
        return {"uid": uid, "event_id": provider_master_id(box.provider, box.user_id, event.uid)}

    def occurrences(self, mailbox: str, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences starting in [start, end), sorted by (start, uid)."""
        box = self.mailbox(mailbox)
        found = [o for e in self.events(box.address) for o in _starting(e, start, end)]
        found.sort(key=lambda o: (o.start, o.event.uid))
        return found

    def truth_events(
        self, mailbox: str, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, Any]]:
        """What a correct meeting sync must find: occurrences the mailbox's provider lists whose
        start lies in [start, end) (all-day ones by their first UTC midnight), cancelled ones
        included. Left out: what the provider does not list (Graph's deleted occurrences, an
        organiser's cancelled meeting) or lists with no time (Google's deleted events);
        Google's cancelled exceptions are placed at their original start (`truth.listed_as`)."""
        box = self.mailbox(mailbox)
        lo = EPOCH if start is None else aware(start)
        hi = FAR if end is None else aware(end)
        found = self.occurrences(box.address, lo - MAX_MOVE, hi + MAX_MOVE)
        return [
            event_row(box, o)
            for o in sorted(found, key=lambda o: (shown_start(box, o), o.event.uid))
            if listed_as(box, o) in ("full", "minimal") and lo <= shown_start(box, o) < hi
        ]
