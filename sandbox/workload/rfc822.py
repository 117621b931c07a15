"""Reading header facts back out of raw RFC 5322 bytes, the way Gmail presents them.

Gmail's API returns header values unfolded but otherwise untouched (encoded words are not
decoded), so the sandbox does the same; the decoded forms are only for the truth.
"""

from __future__ import annotations

import re
from email import policy
from email.utils import getaddresses, parsedate_to_datetime

_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def split_head(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body of a message (body empty when there is no blank line)."""
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def raw_headers(raw: bytes) -> list[tuple[str, str]]:
    """Top-level headers in order, unfolded; bytes that are not UTF-8 become U+FFFD."""
    head, _ = split_head(raw)
    unfolded = _FOLD.sub(b"", head)
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", unfolded):
        if not line or b":" not in line:
            continue
        name, _, value = line.partition(b":")
        headers.append(
            (name.decode("ascii", "replace").strip(), value.strip().decode("utf-8", "replace"))
        )
    return headers


def header(headers: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def decode_text(value: str | None) -> str | None:
    """An unstructured header (e.g. Subject) with RFC 2047 encoded words decoded."""
    if value is None:
        return None
    return str(policy.default.header_factory("subject", value))


def addresses(value: str | None) -> list[str]:
    """Bare, lower-cased addresses of an address-list header."""
    if not value:
        return []
    return [addr.lower() for _, addr in getaddresses([value]) if "@" in addr]


def date_ms(value: str | None) -> int | None:
    """The Date header as epoch milliseconds, or None when absent or unparsable."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000)
