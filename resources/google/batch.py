"""Google's batch wire format for requests google-api-python-client built.

googleapiclient's `BatchHttpRequest` frames each part through `email.generator` and parses the
answer with `email.feedparser`: about 0.19 ms of CPU per message, half the Gmail sync's client
cost (docs/benchmarks.md). `RequestBatch` writes and reads the same documented multipart/mixed
format (https://developers.google.com/gmail/api/guides/batch) directly and keeps everything else
the library's: the discovery-built `HttpRequest` (its method, uri, headers, body and `postproc`, the
model that reads each answer), the authorised transport and `HttpError` / `BatchError`.

The contract is `BatchHttpRequest`'s, so the two are interchangeable
(`GoogleSettings.batch_framing`): `add` then `execute`, one `callback(request_id, response,
exception)` per part in the order added, parts answered 401 re-sent once after a token refresh,
`BatchError` when the answer cannot be read as a batch.
"""

from __future__ import annotations

import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

import httplib2
from googleapiclient.errors import BatchError, HttpError

Callback = Callable[[str, Any, BaseException | None], None]

_CRLF = b"\r\n"


class RequestBatch:
    """One multipart/mixed batch of googleapiclient `HttpRequest`s, sent on `http`.

    `refresh` forces a new access token; it runs only if a part is answered 401 (Google answers
    an expired token per part, the batch itself is 200), before those parts are sent again.
    Parts carry no Authorization of their own: Google applies the outer request's headers to
    every part, and the outer request goes through the authorised transport.
    """

    def __init__(self, batch_uri: str, callback: Callback, refresh: Callable[[], None]) -> None:
        self.batch_uri = batch_uri
        self._callback = callback
        self._refresh = refresh
        self._requests: dict[str, Any] = {}
        self._base_id = secrets.token_hex(16)

    def add(self, request: Any, request_id: str) -> None:
        if request_id in self._requests:
            raise KeyError(f"a request with id {request_id!r} is already in the batch")
        self._requests[request_id] = request

    def execute(self, http: Any) -> None:
        """Sends the batch (and once more for parts answered 401), then calls back per part."""
        if not self._requests:
            return
        answers = self._send(http, list(self._requests))
        expired = [rid for rid, (resp, _) in answers.items() if resp.status == 401]
        if expired:
            self._refresh()
            answers.update(self._send(http, expired))
        for request_id, request in self._requests.items():
            resp, content = answers[request_id]
            response, exception = None, None
            try:
                if resp.status >= 300:
                    raise HttpError(resp, content, uri=request.uri)
                response = request.postproc(resp, content)
            except HttpError as exc:
                exception = exc
            self._callback(request_id, response, exception)

    def _send(self, http: Any, order: list[str]) -> dict[str, tuple[httplib2.Response, bytes]]:
        parts = [self._serialize(request_id, self._requests[request_id]) for request_id in order]
        boundary = _boundary_absent_from(parts)
        body = b"".join(b"--" + boundary + _CRLF + part + _CRLF for part in parts)
        body += b"--" + boundary + b"--" + _CRLF
        resp, content = http.request(
            self.batch_uri,
            method="POST",
            body=body,
            headers={"content-type": f'multipart/mixed; boundary="{boundary.decode()}"'},
        )
        if resp.status >= 300:
            raise HttpError(resp, content, uri=self.batch_uri)
        answers = parse_batch_response(resp, content, self._base_id)
        missing = [request_id for request_id in order if request_id not in answers]
        if missing:
            raise BatchError(
                f"the batch answer has no part for {len(missing)} of {len(order)} requests",
                resp=resp,
                content=content,
            )
        return answers

    def _serialize(self, request_id: str, request: Any) -> bytes:
        """One `application/http` part: the request line, the request's own headers, its body."""
        parsed = urllib.parse.urlsplit(request.uri)
        target = parsed.path + ("?" + parsed.query if parsed.query else "")
        headers = {"content-type": "application/json", **request.headers, "host": parsed.netloc}
        lines = [
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            f"Content-ID: <{self._base_id} + {urllib.parse.quote(request_id)}>",
            "",
            f"{request.method} {target} HTTP/1.1",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        if body is not None and "content-length" not in headers:
            lines.append(f"content-length: {len(body)}")
        head = "\r\n".join(lines)
        # A CR or LF inside a header value would start a header (or a part) of its own.
        if any(ch in value for value in (target, *map(str, headers.values())) for ch in "\r\n"):
            raise ValueError("a batch part's request line or header holds a line break")
        return head.encode("utf-8") + _CRLF + _CRLF + (body or b"")


def _boundary_absent_from(parts: list[bytes]) -> bytes:
    while True:
        boundary = b"batch_" + secrets.token_hex(16).encode()
        if not any(boundary in part for part in parts):
            return boundary


def parse_batch_response(
    resp: httplib2.Response, content: bytes, base_id: str
) -> dict[str, tuple[httplib2.Response, bytes]]:
    """`{request_id: (response, body)}` from a batch answer; `BatchError` if it is not one.

    Parts whose Content-ID names another batch are ignored, so a stray part cannot answer for
    one of ours.
    """
    boundary = _boundary_of(resp.get("content-type", ""))
    if boundary is None:
        raise BatchError("Response not in multipart/mixed format.", resp=resp, content=content)
    if isinstance(content, str):
        content = content.encode("utf-8")
    delimiter = b"--" + boundary
    chunks = content.split(delimiter)
    if len(chunks) < 2:
        raise BatchError("the batch answer holds no parts", resp=resp, content=content)
    answers: dict[str, tuple[httplib2.Response, bytes]] = {}
    # chunks[0] is the preamble; a chunk starting "--" is the close delimiter and what follows it.
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        part_headers, payload = _split_head(_strip_delimiter_newlines(chunk))
        content_id = part_headers.get("content-id")
        if content_id is None:
            raise BatchError("a batch answer part has no Content-ID", resp=resp, content=content)
        request_id = _request_id(content_id, base_id)
        if request_id is not None:
            answers[request_id] = _inner_response(payload)
    return answers


def _boundary_of(content_type: str) -> bytes | None:
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "multipart/mixed":
        return None
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    return None


def _strip_delimiter_newlines(chunk: bytes) -> bytes:
    """A part sits between the line break ending its delimiter line and the one starting the
    next delimiter; both belong to the delimiters (RFC 2046 section 5.1.1)."""
    start = chunk.find(b"\n") + 1
    end = len(chunk)
    if chunk.endswith(b"\r\n"):
        end -= 2
    elif chunk.endswith(b"\n"):
        end -= 1
    return chunk[start:end]


def _split_head(block: bytes) -> tuple[dict[str, str], bytes]:
    """Header lines (names lower-cased; a repeated name joined with ", ") and what follows the
    blank line. Either line ending is accepted."""
    if block.startswith((b"\r\n", b"\n")):
        # No header lines at all: the blank line comes first.
        return {}, block[2:] if block.startswith(b"\r\n") else block[1:]
    crlf, lf = block.find(b"\r\n\r\n"), block.find(b"\n\n")
    if crlf != -1 and (lf == -1 or crlf < lf):
        head, rest = block[:crlf], block[crlf + 4 :]
    elif lf != -1:
        head, rest = block[:lf], block[lf + 2 :]
    else:
        head, rest = block, b""
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, sep, value = line.partition(":")
        if not sep:
            raise BatchError(f"malformed header line in a batch answer: {line[:80]!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return headers, rest


def _request_id(content_id: str, base_id: str) -> str | None:
    """The request id in `<response-BASE + ID>`; None if BASE is not this batch's."""
    value = content_id.strip()
    if not (value.startswith("<") and value.endswith(">")) or " + " not in value:
        raise BatchError(f"Invalid value for Content-ID: {content_id[:80]}")
    base, _, quoted = value[1:-1].partition(" + ")
    if base.removeprefix("response-") != base_id:
        return None
    return urllib.parse.unquote(quoted)


def _inner_response(payload: bytes) -> tuple[httplib2.Response, bytes]:
    """An `application/http` answer part as httplib2 would have returned it alone."""
    status_line, _, rest = payload.partition(b"\n")
    fields = status_line.decode("latin-1").strip().split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise BatchError(f"malformed status line in a batch answer: {status_line[:80]!r}")
    headers, body = _split_head(rest)
    headers["status"] = fields[1]
    resp = httplib2.Response(headers)
    resp.reason = fields[2] if len(fields) > 2 else ""
    return resp, body
