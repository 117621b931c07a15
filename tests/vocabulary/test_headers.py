"""RFC 5322 header rules every provider's parser shares (pure: no server, no Dagster)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from vocabulary import headers
from vocabulary.headers import (
    decode_encoded_words,
    parse_address_list,
    parse_date,
    parse_message_id,
    unfold,
)
from vocabulary.text import normalize_address


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain subject", "plain subject"),
        ("=?UTF-8?B?SGVsbG8=?=", "Hello"),
        ("=?utf-8?b?SGVsbG8?=", "Hello"),  # padding left off, as some mailers do
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u201cquoted\u201d"),
        ("a =?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?= b", "a éé b"),  # space between words dropped
        ("=?UTF-8?B?8J+Y?= =?UTF-8?B?gA==?=", "😀"),  # one character split over two words
        ("=?utf-8*en?Q?Hi?=", "Hi"),  # RFC 2231 language tag
        ("=?utf-8?q?not closed", "=?utf-8?q?not closed"),
        ("Re: [list] =?koi8-r?B?8NLJ18XU?=", "Re: [list] Привет"),
    ],
)
def test_decode_encoded_words(value: str, expected: str) -> None:
    assert decode_encoded_words(value) == (expected, None)


@pytest.mark.parametrize(
    "value",
    [
        "=?x-unknown?B?SGVsbG8=?=",
        "=?UTF-8?Q?=FF=FE?=",  # bytes that are not UTF-8
        "=?UTF-8?B?!!!!?=",  # not base64
        "ok =?UTF-8?B?SGk=?= then =?bogus?Q?x?=",
    ],
)
def test_undecodable_encoded_words_keep_raw_text(value: str) -> None:
    text, problem = decode_encoded_words(value)
    assert text == value
    assert problem


def test_undecodable_display_name_is_kept_raw() -> None:
    parsed = parse_address_list(
        "From", "=?x-unknown?B?SGVsbG8=?= <a@b.example>, =?UTF-8?B?SsO8cmdlbg==?= <J@B.example>"
    )
    assert parsed.addresses == [
        ("=?x-unknown?B?SGVsbG8=?=", "a@b.example"),
        ("Jürgen", "j@b.example"),
    ]
    assert parsed.defects == ["from: undecodable encoded word kept raw"]


@pytest.mark.parametrize(
    ("value", "addresses", "defect_count"),
    [
        ("Alice <ALICE@Example.COM>", [("Alice", "alice@example.com")], 0),
        ('"Smith, John" <j.smith@x.example>', [("Smith, John", "j.smith@x.example")], 0),
        ("a@x.example (Alice in a comment)", [(None, "a@x.example")], 0),
        ("a@x.example, A@X.EXAMPLE", [(None, "a@x.example")], 0),  # repeated once
        ("Group: a@x.example, b@y.example;", [(None, "a@x.example"), (None, "b@y.example")], 0),
        ("undisclosed-recipients:;", [], 0),
        ("bob@[192.0.2.1]", [(None, "bob@[192.0.2.1]")], 0),
        ('"odd local"@x.example', [(None, '"odd local"@x.example')], 0),
        ("mailer-daemon", [], 1),
        ("<>", [], 1),
        ("a@x.example, , b@y.example", [(None, "a@x.example"), (None, "b@y.example")], 0),
        ("Müller, Hans <h@m.example>", [("Hans", "h@m.example")], 1),  # unquoted comma
    ],
)
def test_parse_address_list(
    value: str, addresses: list[tuple[str | None, str]], defect_count: int
) -> None:
    parsed = parse_address_list("To", value)
    assert parsed.addresses == addresses
    assert len(parsed.defects) == defect_count, parsed.defects


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Alice@Example.com", "alice@example.com"),
        ("  bob@x.example ", "bob@x.example"),
        ("no-at-sign", None),
        ("@x.example", None),
        ("a@", None),
        ("a b@x.example", None),
        ("a@x..example", None),
        ("a@b@c.example", None),
    ],
)
def test_normalize_address(value: str, expected: str | None) -> None:
    assert normalize_address(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Fri, 21 Nov 2025 11:00:00 +0100", datetime(2025, 11, 21, 10, 0, tzinfo=UTC)),
        ("Fri, 21 Nov 2025 11:00:00 +0100 (CET)", datetime(2025, 11, 21, 10, 0, tzinfo=UTC)),
        ("Fri, 21 Nov 2025 10:00:00 -0000", datetime(2025, 11, 21, 10, 0, tzinfo=UTC)),
        ("21 Nov 2025 02:00 PST", datetime(2025, 11, 21, 10, 0, tzinfo=UTC)),
        ("Fri, 21 Nov 25 10:00:00 GMT", datetime(2025, 11, 21, 10, 0, tzinfo=UTC)),
    ],
)
def test_parse_date(value: str, expected: datetime) -> None:
    assert parse_date(value) == (expected, None)


@pytest.mark.parametrize(
    "value", ["not a date", "", "2025-11-21T10:00:00Z", "Fri, 32 Nov 2025 10:00:00 +0000"]
)
def test_unparseable_date_is_none_with_defect(value: str) -> None:
    when, problem = parse_date(value)
    assert when is None
    assert problem is not None and problem.startswith("date: ")


def test_the_fast_date_path_equals_email_utils_on_random_dates() -> None:
    """Dates near and off the common form (odd years, offsets, fields, day names, -0000): the
    fast path answers the common ones, and every answer equals the general parser's."""
    rng = random.Random(2822)

    def pick(plain: list[str], odd: list[str]) -> str:
        return rng.choice(odd if rng.random() < 0.15 else plain)

    days = (["Mon, ", "Sun, ", ""], ["Xyz, ", "mon, ", "Fri,"])
    months = (["Jan", "Feb", "Dec"], ["dec", "Foo"])
    years = (["2026", "1970", "9999", "0100"], ["0050", "0099", "0001", "26"])
    times = (["00:00:00", "23:59:59", "12:34:56"], ["24:00:00", "12:60:00", "12:00:60", "12:00"])
    offsets = (
        ["+0000", "-0000", "+0130", "-1200", "+2359"],
        ["-2400", "+0099", "+9999", "GMT", "+01"],
    )
    answered = 0
    for _ in range(4000):
        day = f"{rng.randint(0, 32):0{rng.choice([1, 2])}d}"
        value = f"{pick(*days)}{day} {pick(*months)} {pick(*years)} {pick(*times)} {pick(*offsets)}"
        fast = headers._simple_date(value)
        if fast is not None:
            answered += 1
            assert (fast, None) == headers._parse_date_generally(value), value
        assert parse_date(value) == headers._parse_date_generally(value), value
    assert answered > 1000


def test_message_id_forms() -> None:
    assert parse_message_id("message-id", " <a.b@c> ") == ("<a.b@c>", None)
    assert parse_message_id("in-reply-to", "<x@y> (comment) <z@w>") == ("<x@y>", None)
    assert parse_message_id("message-id", "bare@host") == (
        "<bare@host>",
        "message-id: id without angle brackets",
    )
    assert parse_message_id("message-id", "  ") == (None, "message-id: empty")


def test_unfold() -> None:
    assert unfold("a\r\n b\n\tc") == ("a b\tc", False)
    assert unfold("a\r\nBcc: evil@x.example") == ("a Bcc: evil@x.example", True)


def test_a_cached_address_list_comes_back_fresh_and_equal() -> None:
    value = '"Smith, Jo" <Jo@B.example>, =?UTF-8?B?SsO8cmdlbg==?= <j@c.example>; x@d.example'
    first = parse_address_list("To", value)
    first.addresses.clear()
    first.defects.append("caller's own note")
    again = parse_address_list("to", value)
    assert again.addresses == [
        ("Smith, Jo", "jo@b.example"),
        ("Jürgen", "j@c.example"),
        (None, "x@d.example"),
    ]
    assert again.defects == ["to: ';' used as address separator"]
    assert again == headers._parse_address_list("to", value)


def test_a_huge_address_list_is_parsed_without_the_cache() -> None:
    value = ", ".join(f"user{n}@example.com" for n in range(200))
    assert len(value) > headers.ADDRESS_CACHE_MAX_CHARS
    before = headers._parse_address_list_cached.cache_info().currsize
    parsed = parse_address_list("cc", value)
    assert len(parsed.addresses) == 200
    assert headers._parse_address_list_cached.cache_info().currsize == before


TRICKY_ADDRESS_LISTS = [
    "a@b.example",
    "John Smith <J.Smith@B.example>",
    '"Smith, John" <j@b.example>, x@y.example',  # quoted comma
    '"" <a@b.example>',
    '" padded " <a@b.example>',
    "O'Brien-Ng <o@b.example>, o@B.example",  # repeat, other case
    "Jo  Smith <a@b.example>",  # two spaces
    "J. Smith <a@b.example>",  # obsolete phrase
    '"Smith \\"JJ\\" John" <a@b.example>',  # escaped quotes
    "=?UTF-8?B?SsO8cmdlbg==?= <j@b.example>",  # encoded word
    '"=?UTF-8?B?SsO8cmdlbg==?=" <j@b.example>',  # encoded word in quotes
    "=?x-unknown?B?SGVsbG8=?= <a@b.example>",
    "undisclosed-recipients:;",  # empty group
    "Team: a@b.example, C <c@d.example>;",  # group
    "a@b.example (comment)",
    "Jürgen <j@bücher.example>",  # non-ASCII name, IDN
    "j@xn--bcher-kva.example",
    "a@b.example,",  # empty last entry
    "a@b.example,, c@d.example",
    "a@b.example; c@d.example",  # Outlook separator
    "<a@b.example>",
    "< a@b.example >",
    "Name<a@b.example>",
    "a@b.example  ,c@d.example",
    "johndoe",  # no domain
    "a@@b.example",
    "a@b..example",
    ".a@b.example",
    "x@",
    "Name <a@b.example",  # unclosed
    '"unclosed <a@b.example>',
    "a@b.example\t, c@d.example",
    "",
]


@pytest.mark.parametrize("value", TRICKY_ADDRESS_LISTS)
def test_the_fast_path_equals_the_registry_on_tricky_lists(value: str) -> None:
    assert parse_address_list("to", value) == headers._parse_with_registry("to", value)


@pytest.mark.parametrize(
    "value",
    [
        "a@b.example",
        "John Smith <J.Smith@B.example>, O'Brien-Ng <o@b.example>",
        '"Smith, John" <j@b.example>,x@y.example',
    ],
)
def test_plain_lists_skip_the_registry(value: str) -> None:
    assert headers._parse_simple_address_list(value) == headers._parse_with_registry("to", value)


def test_the_fast_path_equals_the_registry_on_random_lists() -> None:
    """Lists drawn from address syntax and its troublemakers: wherever the fast path answers,
    it answers what the registry does."""
    rng = random.Random(5322)

    def pick(plain: list[str], odd: list[str]) -> str:
        return rng.choice(odd if rng.random() < 0.12 else plain)

    words = (
        ["Bo", "o'n", "a=b", "x?", "Q-z"],
        ["J.", "é", "(c)", "a\\b", ":", "@", "=?utf-8?q?x?="],
    )
    quoted = (
        ["", " ", "a, b", "a  b", "(c)", "<x@y>", ";", "x"],
        ['\\"', "é", "\t", "=?utf-8?q?x?="],
    )
    locals_ = (["a", "A.b", "o'n", "x+y"], [".a", "a..b", '"q"', "é", ""])
    domains = (["b.example", "B.EXAMPLE", "b"], ["b..c", ".b", "bücher.example", "[1.2.3.4]", ""])
    separators = ([", ", ",", " , ", " ,"], [",,", "; ", " ", ",\t", "  ,  "])
    gaps = (["", " "], ["  ", "\t"])

    def entry() -> str:
        address = f"{pick(*locals_)}@{pick(*domains)}"
        shape = rng.random()
        if shape < 0.3:
            return address
        angle = f"<{address}>" if rng.random() < 0.9 else f"< {address} >"
        if shape < 0.65:
            name = pick(*words)
            for _ in range(rng.randint(0, 2)):
                name += pick([" "], ["  ", "\t", "."]) + pick(*words)
        else:
            name = f'"{pick(*quoted)}{rng.choice(["", "x", " y "])}"'
        return name + pick(*gaps) + angle

    answered = 0
    for _ in range(3000):
        value = entry()
        for _ in range(rng.randint(0, 3)):
            value += pick(*separators) + entry()
        fast = headers._parse_simple_address_list(value)
        if fast is not None:
            answered += 1
            assert fast == headers._parse_with_registry("cc", value), value
    assert answered > 300
