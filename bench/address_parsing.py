"""Benchmark: address-list parsing per message, the header registry beside the fast path and
the cache, on the sandbox's own corpus.

    .venv/bin/python -m bench.address_parsing [--messages-per-mailbox 300] [--repeats 3]

The Gmail and Graph syncs read From/To/Cc/Bcc with `vocabulary.headers.parse_address_list`.
The sandbox's corpus repeats its senders' header values byte for byte (a few hundred distinct
values), so in the sync benchmarks nearly every value comes from the cache; this one shows what
a value costs when it is new. Three runs over the same values, each the least CPU time of
`--repeats`:
1. registry: the standard library's header registry alone (what every value cost before);
2. fast path, no cache: plain ASCII lists without the registry, the rest through it;
3. cached: `parse_address_list` as the sync calls it (cache emptied first, so it pays for
   every distinct value once).
Then the distinct values alone, and the plain ones alone, registry vs fast path.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from sandbox.workload.generate import generate_workload
from sandbox.workload.rfc822 import raw_headers
from vocabulary import headers

ADDRESS_HEADERS = ("from", "to", "cc", "bcc")


def corpus(messages_per_mailbox: int) -> tuple[int, list[tuple[str, str]]]:
    """(messages, every (header, value) of their address headers, in order)."""
    workload = generate_workload(
        seed=42,
        tenants=2,
        mailboxes_per_tenant=3,
        days=2,
        messages_per_mailbox_per_day=messages_per_mailbox,
        include_today=False,
        providers=("google", "microsoft"),
    )
    messages = list(workload.all_messages())
    values = [
        (name.lower(), value)
        for message in messages
        for name, value in raw_headers(message.raw)
        if name.lower() in ADDRESS_HEADERS
    ]
    return len(messages), values


def best_of(repeats: int, run: Callable[[], None], before: Callable[[], None]) -> float:
    """The least CPU seconds of `repeats` runs (`before` runs untimed ahead of each)."""
    times = []
    for _ in range(repeats):
        before()
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages-per-mailbox", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    count, values = corpus(args.messages_per_mailbox)
    distinct = len(set(values))
    plain = sum(1 for _, v in set(values) if headers._parse_simple_address_list(v) is not None)
    print(
        f"{count} messages, {len(values)} address headers, {distinct} distinct values "
        f"({plain} of them plain enough for the fast path)"
    )
    clear = headers._parse_address_list_cached.cache_clear
    runs = {
        "registry": lambda: [headers._parse_with_registry(h, v) for h, v in values],
        "fast path, no cache": lambda: [headers._parse_address_list(h, v) for h, v in values],
        "cached (as the sync)": lambda: [headers.parse_address_list(h, v) for h, v in values],
    }
    seconds = {name: best_of(args.repeats, run, clear) for name, run in runs.items()}
    base = seconds["registry"]
    print(f"{'run':<24}{'CPU s':>8}{'ms/msg':>9}{'ms/value':>10}{'vs registry':>13}")
    for name, spent in seconds.items():
        print(
            f"{name:<24}{spent:>8.2f}{spent / count * 1000:>9.3f}"
            f"{spent / len(values) * 1000:>10.4f}{base / spent:>12.1f}x"
        )
    # Distinct values only: what a mailbox full of new correspondents would cost.
    unique = sorted(set(values))
    registry = best_of(
        args.repeats, lambda: [headers._parse_with_registry(h, v) for h, v in unique], clear
    )
    fast = best_of(
        args.repeats, lambda: [headers._parse_address_list(h, v) for h, v in unique], clear
    )
    print(
        f"distinct values only: registry {registry / len(unique) * 1000:.4f} ms/value, "
        f"fast path {fast / len(unique) * 1000:.4f} ms/value ({registry / fast:.1f}x)"
    )
    # The values the fast path takes (plain ASCII names), a hundred times each.
    simple = [hv for hv in unique if headers._parse_simple_address_list(hv[1]) is not None] * 100
    registry = best_of(
        args.repeats, lambda: [headers._parse_with_registry(h, v) for h, v in simple], clear
    )
    fast = best_of(
        args.repeats, lambda: [headers._parse_simple_address_list(v) for _, v in simple], clear
    )
    print(
        f"plain values only: registry {registry / len(simple) * 1000:.4f} ms/value, "
        f"fast path {fast / len(simple) * 1000:.4f} ms/value ({registry / fast:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
