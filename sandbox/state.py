"""The sandbox's in-memory world: mailboxes, messages, tokens, faults, quota and stats.

Provider-neutral and keyed by mailbox address, so the Google module and later the Microsoft one
share it. One re-entrant lock guards everything; label lists on messages are replaced, never
mutated, so a reader holding a message sees a consistent snapshot without copying.
"""

from __future__ import annotations

import bisect
import random
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox import rfc822
from sandbox.faults import FaultBook, Rejection, make_fault
from sandbox.quota import QuotaConfig, SlidingWindow
from sandbox.stats import MailboxStats, totals
from sandbox.workload import Mailbox, SandboxMessage, Workload

ACCESS_TOKEN_TTL_S = 3599
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})


class TokenError(Exception):
    """The refresh token is unknown or revoked (never carries the token itself)."""


class UnknownMailbox(KeyError):
    pass


class UnknownMessage(KeyError):
    pass


@dataclass
class _AccessToken:
    mailbox: str
    expires_at: float  # time.time()


@dataclass
class _Store:
    """One mailbox's messages, kept sorted by (internalDate, id) for windowed listing."""

    by_id: dict[str, SandboxMessage] = field(default_factory=dict)
    keys: list[tuple[int, str]] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)
    threads_by_mid: dict[str, str] = field(default_factory=dict)

    def add(self, msg: SandboxMessage, history_id: int) -> None:
        self.by_id[msg.id] = msg
        bisect.insort(self.keys, (msg.internal_date_ms, msg.id))
        self.history[msg.id] = history_id
        if msg.internet_message_id:
            self.threads_by_mid.setdefault(msg.internet_message_id, msg.thread_id)

    def remove(self, msg: SandboxMessage) -> None:
        del self.by_id[msg.id]
        index = bisect.bisect_left(self.keys, (msg.internal_date_ms, msg.id))
        del self.keys[index]
        self.history.pop(msg.id, None)


class SandboxState:
    """Thread-safe state behind every provider handler and the /_sandbox control API."""

    def __init__(self, workload: Workload, access_token_ttl_s: int = ACCESS_TOKEN_TTL_S) -> None:
        self.workload = workload
        self.access_token_ttl_s = access_token_ttl_s
        self._lock = threading.RLock()
        self._rng = random.Random(workload.seed * 7919 + 1)
        self._mailboxes = {m.address: m for m in workload.mailboxes}
        self._refresh = {m.refresh_token: m.address for m in workload.mailboxes}
        self._access: dict[str, _AccessToken] = {}
        self._stores: dict[str, _Store] = {}
        self._history_counter = 1000
        for address, msgs in workload.messages.items():
            store = _Store()
            for msg in msgs:
                self._history_counter += 1
                store.add(msg, self._history_counter)
            self._stores[address] = store
        for address in self._mailboxes:
            self._stores.setdefault(address, _Store())
        self._faults = FaultBook()
        self._quota = QuotaConfig()
        self._windows: dict[str, SlidingWindow] = {}
        self._stats: dict[str, MailboxStats] = {}

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
        """A new access token for the refresh token's mailbox: (token, expires_in, mailbox)."""
        with self._lock:
            address = self._refresh.get(refresh_token)
            if address is None:
                raise TokenError("unknown refresh token")
            stats = self._stats_for(address)
            if self._faults.active(address, "invalid_grant"):
                stats.token_failures += 1
                raise TokenError("refresh token revoked")
            token = "ya29.sbx-" + secrets.token_urlsafe(32)
            self._access[token] = _AccessToken(address, time.time() + self.access_token_ttl_s)
            stats.token_refreshes += 1
            return token, self.access_token_ttl_s, self._mailboxes[address]

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
            if record.expires_at <= time.time() or self._faults.active(
                record.mailbox, "invalid_grant"
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
            if kind == "invalid_grant":
                self.expire_access_tokens(address)
            return fault.to_dict(time.monotonic())

    def clear_faults(self, mailbox: str | None = None) -> None:
        with self._lock:
            self._faults.clear(None if mailbox is None else self.mailbox(mailbox).address)

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._faults.listing()

    def set_quota(self, enabled: bool, units_per_second: int | None = None) -> dict[str, Any]:
        with self._lock:
            self._quota.enabled = bool(enabled)
            if units_per_second is not None:
                if int(units_per_second) <= 0:
                    raise ValueError("units_per_second must be positive")
                self._quota.units_per_second = int(units_per_second)
            return self.quota()

    def quota(self) -> dict[str, Any]:
        with self._lock:
            return {
                "enabled": self._quota.enabled,
                "units_per_second": self._quota.units_per_second,
            }

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

    def admit_call(self, mailbox: str, method: str, cost: int) -> Rejection | None:
        """Counts one API call and decides whether it runs: faults first, then the quota."""
        with self._lock:
            stats = self._stats_for(mailbox)
            stats.api_calls += 1
            stats.calls_by_method[method] = stats.calls_by_method.get(method, 0) + 1
            rejection = self._faults.rejection(mailbox)
            if rejection is not None:
                stats.faults_injected += 1
                return rejection
            window = self._windows.get(mailbox)
            if window is None:
                window = self._windows[mailbox] = SlidingWindow(1.0)
            limit = self._quota.units_per_second if self._quota.enabled else None
            if not window.try_charge(cost, time.monotonic(), limit):
                stats.rejected_for_quota += 1
                return Rejection("quota", 429, 1)
            stats.quota_units += cost
            stats.max_units_in_any_1s_window = window.max_units
            return None

    def slow_seconds(self, mailbox: str) -> float:
        with self._lock:
            return self._faults.slow_seconds(mailbox)

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
            for window in self._windows.values():
                window.reset()

    # ---- messages -----------------------------------------------------------------------------

    def _store(self, mailbox: str) -> _Store:
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
            store = self._store(mailbox)
            lo = 0 if after_ms is None else bisect.bisect_left(store.keys, (after_ms, ""))
            hi = (
                len(store.keys)
                if before_ms is None
                else bisect.bisect_left(store.keys, (before_ms, ""))
            )
            return [store.by_id[key[1]] for key in reversed(store.keys[lo:hi])]

    def history_id(self, mailbox: str) -> int:
        with self._lock:
            store = self._store(mailbox)
            return max(store.history.values(), default=self._history_counter)

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
                (store.threads_by_mid[p] for p in parents if p in store.threads_by_mid), gmail_id
            )
            msg = SandboxMessage(
                mailbox=address,
                id=gmail_id,
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
            store.add(msg, self._history_counter)
            return {"id": gmail_id, "threadId": thread_id}

    def _new_id(self, ms: int) -> str:
        while True:
            value = ((max(ms, 0) << 20) | self._rng.getrandbits(20)) & 0xFFFF_FFFF_FFFF_FFFF
            candidate = f"{value:016x}"
            if not any(candidate in store.by_id for store in self._stores.values()):
                return candidate

    def set_labels(self, mailbox: str, message_id: str, labels: Iterable[str]) -> list[str]:
        """Replaces a message's labels (e.g. ["TRASH"] to trash it)."""
        with self._lock:
            store = self._store(mailbox)
            msg = store.by_id.get(message_id)
            if msg is None:
                raise UnknownMessage(message_id)
            msg.label_ids = list(dict.fromkeys(labels))
            self._history_counter += 1
            store.history[message_id] = self._history_counter
            return list(msg.label_ids)

    def delete_message(self, mailbox: str, message_id: str) -> None:
        """Deletes a message for good (it then answers 404, as after a Gmail permanent delete)."""
        with self._lock:
            store = self._store(mailbox)
            msg = store.by_id.get(message_id)
            if msg is None:
                raise UnknownMessage(message_id)
            store.remove(msg)

    def truth(
        self,
        mailbox: str,
        start: datetime | None = None,
        end: datetime | None = None,
        include_skipped: bool = False,
    ) -> list[dict[str, Any]]:
        """What a correct sync must find: messages with internalDate in [start, end), oldest
        first; DRAFT/SPAM/TRASH left out unless `include_skipped`."""
        after_ms = None if start is None else _to_ms(start)
        before_ms = None if end is None else _to_ms(end)
        found = self.messages_between(mailbox, after_ms, before_ms)
        found.reverse()
        return [
            _truth_row(m)
            for m in found
            if include_skipped or not SKIPPED_LABELS.intersection(m.label_ids)
        ]


def _to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _truth_row(msg: SandboxMessage) -> dict[str, Any]:
    return {
        "mailbox": msg.mailbox,
        "id": msg.id,
        "threadId": msg.thread_id,
        "internet_message_id": msg.internet_message_id,
        "labels": list(msg.label_ids),
        "internal_date": datetime.fromtimestamp(msg.internal_date_ms / 1000, tz=UTC).isoformat(),
        "internal_date_ms": msg.internal_date_ms,
        "subject": msg.subject,
        "from": msg.from_address,
        "to": list(msg.to_addresses),
        "cc": list(msg.cc_addresses),
        "kind": msg.kind,
    }
