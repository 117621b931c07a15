"""Google's batch framing (resources/google/batch.py) on answers the sandbox never sends: other
line endings, quoted boundaries, stray and missing parts, garbage. Whole batches against the
sandbox, beside googleapiclient's own framing, are in test_mail_connector.py."""

from __future__ import annotations

from typing import Any

import httplib2
import pytest
from googleapiclient.errors import BatchError, HttpError

from resources.google.batch import RequestBatch, parse_batch_response

BASE = "0f" * 16


def answer(content_type: str = 'multipart/mixed; boundary="b1"', status: int = 200) -> Any:
    return httplib2.Response({"status": str(status), "content-type": content_type})


def part(request_id: str, inner: str, *, base: str = BASE, newline: str = "\r\n") -> str:
    head = f"Content-Type: application/http{newline}Content-ID: <response-{base} + {request_id}>"
    return f"--b1{newline}{head}{newline}{newline}{inner}{newline}"


def ok(body: str, newline: str = "\r\n") -> str:
    return f"HTTP/1.1 200 OK{newline}Content-Type: application/json{newline}{newline}{body}"


def test_reads_parts_with_either_line_ending() -> None:
    for newline in ("\r\n", "\n"):
        body = (
            part("m1", ok('{"id": "m1"}', newline), newline=newline)
            + part("m%2F2", ok('{"id": "m/2"}', newline), newline=newline)
            + "--b1--"
            + newline
        )
        answers = parse_batch_response(answer(), body.encode(), BASE)
        assert sorted(answers) == ["m/2", "m1"]
        resp, content = answers["m/2"]
        assert resp.status == 200 and resp["content-type"] == "application/json"
        assert content == b'{"id": "m/2"}'


def test_error_parts_keep_status_headers_and_body() -> None:
    inner = (
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nVary: Origin\r\nVary: Referer\r\n"
        '\r\n{"error": {"code": 429}}'
    )
    body = part("m1", inner) + "--b1--\r\n"
    resp, content = parse_batch_response(answer(), body.encode(), BASE)["m1"]
    assert (resp.status, resp.reason, resp["retry-after"]) == (429, "Too Many Requests", "7")
    assert resp["vary"] == "Origin, Referer"
    assert content == b'{"error": {"code": 429}}'


def test_unquoted_boundary_preamble_and_epilogue() -> None:
    body = "preamble\r\n" + part("m1", ok("{}")) + "--b1--\r\nepilogue --b1\r\n"
    answers = parse_batch_response(answer("multipart/mixed; boundary=b1"), body.encode(), BASE)
    assert list(answers) == ["m1"]


def test_an_answer_part_without_headers_is_read() -> None:
    body = part("m1", "HTTP/1.1 204 No Content\r\n\r\n") + "--b1--\r\n"
    resp, content = parse_batch_response(answer(), body.encode(), BASE)["m1"]
    assert resp.status == 204 and content == b""


def test_invalid_utf8_stays_in_its_own_part() -> None:
    body = (
        part("m1", ok("{}")).encode()
        + b"--b1\r\nContent-ID: <response-"
        + BASE.encode()
        + b' + m2>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{"s": "\xc3"}\r\n--b1--\r\n'
    )
    answers = parse_batch_response(answer(), body, BASE)
    assert answers["m1"][1] == b"{}"
    assert answers["m2"][1] == b'{"s": "\xc3"}'


def test_a_part_of_another_batch_answers_for_nothing() -> None:
    body = part("m1", ok("{}"), base="someone-else") + "--b1--\r\n"
    assert parse_batch_response(answer(), body.encode(), BASE) == {}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"error": "not a batch"}'),
        ("multipart/mixed", "--b1\r\n"),
        ('multipart/mixed; boundary="b1"', "no delimiter at all"),
        ('multipart/mixed; boundary="b1"', "--b1\r\nContent-Type: application/http\r\n\r\n--b1--"),
        ('multipart/mixed; boundary="b1"', "--b1\r\nContent-ID: <no-plus>\r\n\r\n--b1--"),
        ('multipart/mixed; boundary="b1"', "--b1\r\nno colon here\r\n\r\n--b1--"),
        ('multipart/mixed; boundary="b1"', part("m1", "garbage status\r\n\r\n{}") + "--b1--"),
    ],
)
def test_unreadable_answers_are_batch_errors(content_type: str, body: str) -> None:
    with pytest.raises(BatchError):
        parse_batch_response(answer(content_type), body.encode(), BASE)


class FakeRequest:
    """The four attributes of googleapiclient's HttpRequest the framing reads."""

    def __init__(self, uri: str, headers: dict[str, str] | None = None) -> None:
        self.uri = uri
        self.method = "GET"
        self.body = None
        self.headers = headers or {}

    @staticmethod
    def postproc(resp: Any, content: bytes) -> bytes:
        return content


class EchoHttp:
    """Answers every part 200 with the path it asked for (leaving out `drop`), or the whole
    batch `status`."""

    def __init__(self, status: int = 200, drop: str | None = None) -> None:
        self.status = status
        self.drop = drop
        self.bodies: list[bytes] = []

    def request(self, uri: str, method: str, body: bytes, headers: dict[str, str]) -> Any:
        self.bodies.append(body)
        if self.status != 200:
            return answer("application/json", self.status), b'{"error": {}}'
        boundary = headers["content-type"].split('boundary="')[1].rstrip('"').encode()
        out = b""
        for chunk in body.split(b"--" + boundary)[1:-1]:
            head, _, inner = chunk.partition(b"\r\n\r\n")
            content_id = head.split(b"Content-ID: <")[1].split(b">")[0].decode()
            base, request_id = content_id.split(" + ")
            if request_id != self.drop:
                path = inner.split(b" ")[1].decode()
                out += part(request_id, ok(path), base=base).encode()
        return answer('multipart/mixed; boundary="b1"'), out + b"--b1--\r\n"


def test_a_batch_calls_back_once_per_request_in_order() -> None:
    calls: list[tuple[str, Any, Any]] = []
    batch = RequestBatch(
        "http://127.0.0.1:1/batch", lambda *a: calls.append(a), refresh=lambda: None
    )
    for n in (3, 1, 2):
        batch.add(
            FakeRequest(f"http://127.0.0.1:1/gmail/v1/users/me/messages/m{n}?format=metadata"),
            f"m{n}",
        )
    http = EchoHttp()
    batch.execute(http)
    assert calls == [
        ("m3", b"/gmail/v1/users/me/messages/m3?format=metadata", None),
        ("m1", b"/gmail/v1/users/me/messages/m1?format=metadata", None),
        ("m2", b"/gmail/v1/users/me/messages/m2?format=metadata", None),
    ]
    assert b"\r\nhost: 127.0.0.1:1\r\n" in http.bodies[0]


def test_a_refused_batch_is_an_http_error() -> None:
    batch = RequestBatch("http://127.0.0.1:1/batch", lambda *a: None, refresh=lambda: None)
    batch.add(FakeRequest("http://127.0.0.1:1/gmail/v1/users/me/messages/m1"), "m1")
    with pytest.raises(HttpError) as caught:
        batch.execute(EchoHttp(status=400))
    assert caught.value.status_code == 400


def test_a_missing_answer_part_is_a_batch_error() -> None:
    calls: list[Any] = []
    batch = RequestBatch(
        "http://127.0.0.1:1/batch", lambda *a: calls.append(a), refresh=lambda: None
    )
    for n in range(3):
        batch.add(FakeRequest(f"http://127.0.0.1:1/gmail/v1/users/me/messages/m{n}"), f"m{n}")
    with pytest.raises(BatchError, match="no part for 1 of 3"):
        batch.execute(EchoHttp(drop="m1"))
    assert calls == []


def test_a_line_break_in_a_header_is_refused_before_sending() -> None:
    batch = RequestBatch("http://127.0.0.1:1/batch", lambda *a: None, refresh=lambda: None)
    batch.add(FakeRequest("http://127.0.0.1:1/x", {"x-evil": "a\r\nAuthorization: b"}), "m1")
    http = EchoHttp()
    with pytest.raises(ValueError, match="line break"):
        batch.execute(http)
    assert http.bodies == []


def test_the_same_request_id_twice_is_refused() -> None:
    batch = RequestBatch("http://127.0.0.1:1/batch", lambda *a: None, refresh=lambda: None)
    batch.add(FakeRequest("http://127.0.0.1:1/x"), "m1")
    with pytest.raises(KeyError):
        batch.add(FakeRequest("http://127.0.0.1:1/x"), "m1")
