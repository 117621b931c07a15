"""Per-mailbox counters of what clients asked the sandbox, for tests and benchmarks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class MailboxStats:
    """Counts for one mailbox since the last reset.

    `http_requests` counts API HTTP requests (a batch is one; token requests are counted apart
    in `token_refreshes`/`token_failures`); `api_calls` counts API calls, each batch part one.
    `quota_units` sums the cost of calls admitted by the quota meter (Gmail units; one per call
    for Graph and Calendar). `max_concurrent_seen` is the most Graph requests of the mailbox in
    flight at once; `rejected_for_concurrency` the 429s that limit gave.
    """

    http_requests: int = 0
    api_calls: int = 0
    calls_by_method: dict[str, int] = field(default_factory=dict)
    quota_units: int = 0
    max_units_in_any_1s_window: int = 0
    rejected_for_quota: int = 0
    faults_injected: int = 0
    token_refreshes: int = 0
    token_failures: int = 0
    batch_requests: int = 0
    largest_batch: int = 0
    max_concurrent_seen: int = 0
    rejected_for_concurrency: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def totals(per_mailbox: dict[str, MailboxStats]) -> dict[str, Any]:
    """Sums over mailboxes (maxima for the two peak figures)."""
    total = MailboxStats()
    for stats in per_mailbox.values():
        total.http_requests += stats.http_requests
        total.api_calls += stats.api_calls
        total.quota_units += stats.quota_units
        total.rejected_for_quota += stats.rejected_for_quota
        total.faults_injected += stats.faults_injected
        total.token_refreshes += stats.token_refreshes
        total.token_failures += stats.token_failures
        total.batch_requests += stats.batch_requests
        total.largest_batch = max(total.largest_batch, stats.largest_batch)
        total.rejected_for_concurrency += stats.rejected_for_concurrency
        total.max_concurrent_seen = max(total.max_concurrent_seen, stats.max_concurrent_seen)
        total.max_units_in_any_1s_window = max(
            total.max_units_in_any_1s_window, stats.max_units_in_any_1s_window
        )
        for method, n in stats.calls_by_method.items():
            total.calls_by_method[method] = total.calls_by_method.get(method, 0) + n
    return total.to_dict()
