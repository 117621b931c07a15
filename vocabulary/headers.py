"""RFC 5322 header parsing every provider shares, without I/O.

The helpers (unfolding, RFC 2047 decoding, address lists, dates, message ids) only know RFC 5322,
so a Gmail parser (raw headers) and a Graph parser (decoded fields) agree on addresses and
Internet-Message-IDs. Odd headers never fail a message: what cannot be read is left out or kept
raw and named in `defects`.
"""

from __future__ import annotations

import binascii
import codecs
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from email import policy
from email.errors import CharsetError, UndecodableBytesDefect
from email.headerregistry import Address
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from typing import Any

from vocabulary.text import normalize_address, one_line, safe_excerpt, short_repr

CONTROL_DEFECTS = {
    "subject": "subject: control characters replaced",
    "from_name": "from: control characters in display name replaced",
}
"""The defect each provider's parser records when `one_line` had to clean a field, so one message
gives the same defects whichever provider served it."""

_FOLD = re.compile(r"\r\n(?=[ \t])|\n(?=[ \t])|\r(?=[ \t])")
_LINE_BREAK = re.compile(r"\r\n|\n|\r")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_QP_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")

_SINGLE_HEADERS = ("from", "subject", "date", "message-id", "in-reply-to")


def unfold(value: str) -> tuple[str, bool]:
    """RFC 5322 unfolding; True when a bare line break (not a fold) had to be flattened too."""
    if "\n" not in value and "\r" not in value:
        return value, False
    unfolded = _FOLD.sub("", value)
    flattened = _LINE_BREAK.sub(" ", unfolded)
    return flattened, flattened != unfolded


def _decode_word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "Bb":
        padded = text + "=" * (-len(text) % 4)
        return binascii.a2b_base64(padded.encode("ascii"), strict_mode=True)
    if not text.isascii():
        raise ValueError("non-ASCII text in a Q encoded word")
    return _QP_BYTE.sub(lambda m: bytes([int(m[1], 16)]), text.replace("_", " ").encode("ascii"))


def decode_encoded_words(value: str) -> tuple[str, str | None]:
    """RFC 2047 decoding of unstructured text (a Subject).

    Returns `(text, None)`, or `(value, problem)` when any encoded word cannot be decoded (bad
    base64, unknown charset, bytes invalid in their charset): the raw text is more honest than
    a half-decoded one. Adjacent words of one charset are joined before decoding, so a character
    split across two words survives.
    """
    if "=?" not in value:
        return value, None
    chunks: list[tuple[str | None, bytes]] = []  # (charset, bytes); None: plain text as UTF-8
    position = 0
    try:
        for match in _ENCODED_WORD.finditer(value):
            between = value[position : match.start()]
            if between and not (position and between.isspace()):
                chunks.append((None, between.encode("utf-8", "surrogatepass")))
            charset = match[1].split("*", 1)[0].lower()
            codecs.lookup(charset)
            data = _decode_word_bytes(match[2], match[3])
            if chunks and chunks[-1][0] == charset:
                chunks[-1] = (charset, chunks[-1][1] + data)
            else:
                chunks.append((charset, data))
            position = match.end()
        chunks.append((None, value[position:].encode("utf-8", "surrogatepass")))
        text = "".join(
            data.decode(charset) if charset else data.decode("utf-8", "surrogatepass")
            for charset, data in chunks
        )
    except LookupError as exc:
        return value, f"unknown charset in encoded word ({safe_excerpt(str(exc), 60)})"
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return value, "undecodable encoded word"
    return text, None


def _split_semicolons(value: str) -> str:
    """Outlook-style `a@x; b@y` lists as commas, outside quotes; groups (`name: ...;`) untouched."""
    if ";" not in value or ":" in value:
        return value
    out, quoted = [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        out.append("," if ch == ";" and not quoted else ch)
    return "".join(out)


def _protect_undecodable_words(value: str) -> tuple[str, dict[str, str]]:
    """Swaps undecodable encoded words for plain atoms so they come back raw, not mangled."""
    swaps: dict[str, str] = {}

    def swap(match: re.Match[str]) -> str:
        if decode_encoded_words(match[0])[1] is None:
            return match[0]
        token = f"TPRAWWORD{len(swaps)}X"
        swaps[token] = match[0]
        return token

    return _ENCODED_WORD.sub(swap, value), swaps


@dataclass
class ParsedAddresses:
    """Addresses of one header: `(display name or None, bare address)` pairs, plus defects."""

    addresses: list[tuple[str | None, str]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


ADDRESS_CACHE_SIZE = 8192
"""Address-list values whose parse is kept: a mailbox sees the same senders and recipients,
written byte for byte the same, in message after message."""
ADDRESS_CACHE_MAX_CHARS = 2000
"""Longer values are parsed every time, so a few huge headers cannot fill memory."""


def parse_address_list(header: str, value: str) -> ParsedAddresses:
    """Parses an address-list header with the standard library's RFC 5322 header registry.

    Garbage entries are dropped and named in the defects; group syntax, comments, quoted
    display names and encoded words in display names are handled by the registry. Repeated
    addresses are kept once. The registry costs ~0.2 ms per value, so a value seen before is
    answered from a cache (the parse depends on nothing but the label and the value).
    """
    label = header.lower()
    if len(value) > ADDRESS_CACHE_MAX_CHARS:
        # Not worth a cache slot: parsed afresh.
        return _parse_address_list(label, value)
    addresses, defects = _parse_address_list_cached(label, value)
    # Fresh lists each call: callers may extend them.
    return ParsedAddresses(list(addresses), list(defects))


@lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _parse_address_list_cached(
    label: str, value: str
) -> tuple[tuple[tuple[str | None, str], ...], tuple[str, ...]]:
    parsed = _parse_address_list(label, value)
    return tuple(parsed.addresses), tuple(parsed.defects)


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_ATOM = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_SIMPLE_MAILBOX = re.compile(
    rf"(?:(?P<phrase>{_ATEXT}+(?: {_ATEXT}+)*)|\"(?P<quoted>[ !#-\[\]-~]*)\")"
    rf" ?<(?P<angle>{_DOT_ATOM}@{_DOT_ATOM})>"
    rf"|(?P<bare>{_DOT_ATOM}@{_DOT_ATOM})"
)
_SIMPLE_SEPARATOR = re.compile(r" ?, ?")


def _parse_simple_address_list(value: str) -> ParsedAddresses | None:
    """The common case without the registry: plain ASCII `a@b.c`, `Name <a@b.c>` and
    `"Quoted, Name" <a@b.c>` entries separated by commas; None for anything else (encoded
    words, comments, groups, escapes, obsolete forms, non-ASCII, stray characters), which the
    registry then reads. Equal to the registry's result wherever it answers (tested)."""
    if not value.isascii() or "=?" in value:
        # Encoded words are atext to the pattern but mean something to the registry.
        return None
    result = ParsedAddresses()
    position, end = 0, len(value)
    while True:
        match = _SIMPLE_MAILBOX.match(value, position)
        if match is None:
            return None
        address = normalize_address(match["angle"] or match["bare"])
        if address is None:
            # A dot-atom address always passes; should the address rule ever tighten, the
            # registry path names what it drops.
            return None
        if all(address != known for _, known in result.addresses):
            name = match["phrase"] or match["quoted"] or ""
            result.addresses.append((name.strip() or None, address))
        position = match.end()
        if position == end:
            return result
        separator = _SIMPLE_SEPARATOR.match(value, position)
        if separator is None or separator.end() == end:
            # Not a plain list (or an empty last entry, which the registry names): registry.
            return None
        position = separator.end()


def _parse_address_list(label: str, value: str) -> ParsedAddresses:
    """`parse_address_list` without the cache (`label` already lower-cased)."""
    simple = _parse_simple_address_list(value)
    if simple is not None:
        return simple
    return _parse_with_registry(label, value)


def _parse_with_registry(label: str, value: str) -> ParsedAddresses:
    """The standard library's RFC 5322 header registry, with our defects around it."""
    result = ParsedAddresses()
    prepared = _split_semicolons(value)
    if prepared != value:
        result.defects.append(f"{label}: ';' used as address separator")
    prepared, swaps = _protect_undecodable_words(prepared)
    if swaps:
        result.defects.append(f"{label}: undecodable encoded word kept raw")
    try:
        parsed = policy.default.header_fetch_parse(label, prepared)
        entries: tuple[Address, ...] = parsed.addresses
        registry_defects = list(parsed.defects)
    except Exception:  # the registry raises on some garbage (e.g. a trailing "x@"); degrade
        return _parse_address_list_leniently(label, prepared, swaps, result)
    if not swaps and any(
        isinstance(d, (UndecodableBytesDefect, CharsetError)) for d in registry_defects
    ):
        result.defects.append(f"{label}: undecodable bytes in display name")
    dropped = False
    for entry in entries:
        address = normalize_address(entry.addr_spec) if entry.domain else None
        if address is None:
            dropped = True
            problem = f"{label}: dropped unparseable address {short_repr(entry.addr_spec)}"
            if problem not in result.defects:
                result.defects.append(problem)
            continue
        if any(address == known for _, known in result.addresses):
            continue
        name = entry.display_name
        for token, raw in swaps.items():
            name = name.replace(token, raw)
        result.addresses.append((name.strip() or None, address))
    lost_silently = any("invalid address" in str(d) for d in registry_defects)
    if lost_silently and not dropped:
        result.defects.append(f"{label}: dropped unparseable address in {short_repr(value)}")
    return result


def _parse_address_list_leniently(
    label: str, value: str, swaps: dict[str, str], result: ParsedAddresses
) -> ParsedAddresses:
    """The older, forgiving `getaddresses` split, for lists the header registry cannot parse."""
    result.defects.append(f"{label}: malformed address list, parsed leniently")
    for name, addr_spec in getaddresses([value]):
        address = normalize_address(addr_spec)
        if address is None:
            shown = short_repr(addr_spec or name) if addr_spec or name else "entry"
            problem = f"{label}: dropped unparseable address {shown}"
            if problem not in result.defects:
                result.defects.append(problem)
            continue
        if any(address == known for _, known in result.addresses):
            continue
        for token, raw in swaps.items():
            name = name.replace(token, raw)
        decoded, _ = decode_encoded_words(name)
        result.addresses.append((decoded.strip() or None, address))
    return result


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_SIMPLE_DATE = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(\d{1,2}) "
    rf"({'|'.join(_MONTHS)}) (\d{{4}}) "
    r"(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})"
)


def _simple_date(value: str) -> datetime | None:
    """The common `Tue, 01 Dec 2026 14:03:11 +0100` form without the standard library's general
    parser (a tenth of its cost); None for anything else, which the standard library decides."""
    match = _SIMPLE_DATE.fullmatch(value)
    if match is None:
        return None
    day, month, year, hour, minute, second, sign, off_hours, off_minutes = match.groups()
    # The offset as email.utils reads it: minutes past 59 are allowed, a day or more is not.
    offset = (int(off_hours) * 3600 + int(off_minutes) * 60) * (-1 if sign == "-" else 1)
    if abs(offset) >= 86400 or int(year) < 100:
        # No offset of a day or more exists; years below 100 get email.utils' 1900/2000 rule.
        return None
    try:
        local = datetime(
            int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
        return local - timedelta(seconds=offset)
    except (ValueError, OverflowError):
        return None


def parse_date(header_value: str) -> tuple[datetime | None, str | None]:
    """An RFC 5322 Date as an aware UTC datetime (`-0000` read as UTC), or None and a defect."""
    if (simple := _simple_date(header_value)) is not None:
        return simple, None
    return _parse_date_generally(header_value)


def _parse_date_generally(header_value: str) -> tuple[datetime | None, str | None]:
    try:
        parsed = parsedate_to_datetime(header_value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, f"date: unparseable {short_repr(header_value)}"
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC), None
    except OverflowError:
        return None, f"date: out of range {short_repr(header_value)}"


def parse_message_id(header: str, value: str) -> tuple[str | None, str | None]:
    """The first `<id>` token of a Message-ID / In-Reply-To / References value."""
    if one_line(value.strip())[1]:
        # An id is matched byte for byte across mailboxes: one with a NUL or a line break in it
        # is not repaired into some other message's id, it is left out.
        return None, f"{header}: control characters, id left out"
    match = _MSG_ID.search(value)
    if match:
        return match[0], None
    bare = value.strip().split()
    if not bare:
        return None, f"{header}: empty"
    return f"<{bare[0].strip('<>')}>", f"{header}: id without angle brackets"


class HeaderBlock:
    """A message's header fields by lower-cased name, in order, unfolded, duplicates kept."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.defects: list[str] = []
        self._fields: dict[str, list[str]] = {}
        for name, value in pairs:
            text, flattened = unfold(value)
            key = name.strip().lower()
            if flattened:
                self.defects.append(f"{key}: bare line break in value")
            self._fields.setdefault(key, []).append(text.strip())

    def all(self, name: str) -> list[str]:
        return self._fields.get(name, [])

    def first(self, name: str) -> str | None:
        values = self.all(name)
        if len(values) > 1 and name in _SINGLE_HEADERS:
            self.defects.append(f"{name}: {len(values)} headers, first used")
        return values[0] if values else None


@dataclass
class HeaderFields:
    """The provider-neutral fields an EmailRecord takes from RFC 5322 headers."""

    subject: str | None = None
    from_address: str | None = None
    from_name: str | None = None
    to_addresses: list[str] = field(default_factory=list)
    cc_addresses: list[str] = field(default_factory=list)
    bcc_addresses: list[str] = field(default_factory=list)
    sent_at: datetime | None = None
    internet_message_id: str | None = None
    in_reply_to: str | None = None
    defects: list[str] = field(default_factory=list)

    def record_fields(self) -> dict[str, Any]:
        """The EmailRecord fields these are (all but `defects`, which the parser joins to its
        own as `header_defects`), so every provider fills them the same way."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}


_RECORD_FIELDS = tuple(f.name for f in fields(HeaderFields) if f.name != "defects")


def _addresses(block: HeaderBlock, name: str, defects: list[str]) -> list[tuple[str | None, str]]:
    values = block.all(name)
    if not values:
        return []
    if len(values) > 1:
        defects.append(f"{name}: {len(values)} headers, merged")
    merged: list[tuple[str | None, str]] = []
    for value in values:
        parsed = parse_address_list(name, value)
        defects.extend(parsed.defects)
        merged.extend(p for p in parsed.addresses if p[1] not in {a for _, a in merged})
    return merged


def header_pairs(items: list[object], defects: list[str]) -> list[tuple[str, str]]:
    """`(name, value)` pairs of a provider's `[{"name": ..., "value": ...}]` header list (Gmail's
    payload.headers, Graph's internetMessageHeaders); unreadable entries are named in `defects`."""
    pairs = []
    for item in items:
        if (
            isinstance(item, Mapping)
            and isinstance(item.get("name"), str)
            and isinstance(item.get("value"), str)
        ):
            pairs.append((item["name"], item["value"]))
        else:
            defects.append(f"headers: unreadable entry {short_repr(repr(item))}")
    return pairs


def parse_headers(pairs: Iterable[tuple[str, str]]) -> HeaderFields:
    """Reads the fields a record needs from raw `(name, value)` header pairs."""
    block = HeaderBlock(pairs)
    out = HeaderFields()
    defects: list[str] = []

    subject = block.first("subject")
    if subject is not None:
        out.subject, problem = decode_encoded_words(subject)
        if problem:
            defects.append(f"subject: {problem}, kept raw")
        out.subject, replaced = one_line(out.subject)
        if replaced:
            defects.append(CONTROL_DEFECTS["subject"])

    sender = block.first("from")
    if sender is not None:
        parsed = parse_address_list("from", sender)
        defects.extend(parsed.defects)
        if parsed.addresses:
            out.from_name, out.from_address = parsed.addresses[0]
            if out.from_name is not None:
                out.from_name, replaced = one_line(out.from_name)
                if replaced:
                    defects.append(CONTROL_DEFECTS["from_name"])

    out.to_addresses = [a for _, a in _addresses(block, "to", defects)]
    out.cc_addresses = [a for _, a in _addresses(block, "cc", defects)]
    out.bcc_addresses = [a for _, a in _addresses(block, "bcc", defects)]

    date = block.first("date")
    if date is not None:
        out.sent_at, problem = parse_date(date)
        if problem:
            defects.append(problem)

    message_id = block.first("message-id")
    if message_id is None:
        defects.append("message-id: missing")
    else:
        out.internet_message_id, problem = parse_message_id("message-id", message_id)
        if problem:
            defects.append(problem)

    reply_to = block.first("in-reply-to")
    if reply_to is not None:
        out.in_reply_to, problem = parse_message_id("in-reply-to", reply_to)
        if problem:
            defects.append(problem)

    out.defects = list(dict.fromkeys([*block.defects, *defects]))
    return out
