"""Gmail's batch endpoint (`POST /batch/gmail/v1`, also `/batch`): up to 100 `application/http`
parts in one multipart/mixed request, each answered as if sent alone.

The batch is one HTTP request for the stats (and sleeps once for a `slow` fault); every part is
its own API call, metered and fault-checked by the Gmail handlers it is dispatched to.
"""

from __future__ import annotations

import re
import uuid
from email.parser import BytesParser
from email.policy import compat32
from http.client import responses as REASONS
from typing import Any

from sandbox.google.errors import google_error
from sandbox.http import Request, Response, Router
from sandbox.state import SandboxState

MAX_BATCH_PARTS = 100


class GmailBatch:
    """Answers a batch by dispatching its parts to the Gmail API router `api`."""

    def __init__(self, state: SandboxState, api: Router) -> None:
        self.state = state
        self.api = api

    def handle(self, request: Request, _: re.Match[str]) -> Response:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/mixed"):
            return google_error(400, "Batch requests must be multipart/mixed", "badContent")
        envelope = BytesParser(policy=compat32).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body
        )
        parts = envelope.get_payload() if envelope.is_multipart() else []
        if not parts:
            return google_error(400, "Batch request contains no parts", "badContent")
        if len(parts) > MAX_BATCH_PARTS:
            return google_error(
                400,
                f"Batch request contains too many parts; max {MAX_BATCH_PARTS} is allowed.",
                "batchSizeTooLarge",
            )
        inner = [(part.get("Content-ID"), _inner_request(part, request)) for part in parts]
        owner = self._batch_owner(request, [r for _, r in inner if r is not None])
        if owner is not None:
            self.state.count_http(owner, batch_size=len(parts))
            self.state.pause_if_slow(owner)
        boundary = f"batch_{uuid.uuid4().hex}"
        chunks: list[bytes] = []
        for content_id, inner_request in inner:
            if inner_request is None:
                answer = google_error(400, "Malformed batch part", "badContent")
            elif not inner_request.path.startswith("/gmail/v1/"):
                answer = google_error(404, f"No such method: {inner_request.path}", "notFound")
            else:
                answer = self.api.dispatch(inner_request)
            chunks.append(_serialize_part(boundary, content_id, answer))
        body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
        return Response(200, body, f"multipart/mixed; boundary={boundary}")

    def _batch_owner(self, request: Request, inner: list[Request]) -> str | None:
        for candidate in [request, *inner]:
            token = candidate.bearer_token()
            if token:
                mailbox = self.state.mailbox_for_access_token(token)
                if mailbox:
                    return mailbox
        return None


def _inner_request(part: Any, outer: Request) -> Request | None:
    """An `application/http` batch part as a Request; inherits the outer Authorization."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return None
    text = payload if isinstance(payload, str) else str(payload)
    lines = re.split(r"\r?\n", text)
    first = lines[0].split()
    if len(first) < 2:
        return None
    headers: dict[str, str] = {}
    index = 1
    while index < len(lines) and lines[index].strip():
        name, _, value = lines[index].partition(":")
        headers[name.strip().lower()] = value.strip()
        index += 1
    body = "\n".join(lines[index + 1 :]).strip().encode("utf-8")
    if "authorization" not in headers and "authorization" in outer.headers:
        headers["authorization"] = outer.headers["authorization"]
    return Request.build(first[0], first[1], headers, body, in_batch=True)


def _serialize_part(boundary: str, content_id: str | None, response: Response) -> bytes:
    head = [f"--{boundary}", "Content-Type: application/http"]
    if content_id:
        inner_id = re.sub(r"\r?\n", "", content_id).strip()
        if inner_id.startswith("<") and inner_id.endswith(">"):
            inner_id = inner_id[1:-1]
        head.append(f"Content-ID: <response-{inner_id}>")
    reason = REASONS.get(response.status, "Unknown")
    inner = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        "Vary: Origin",
        "Vary: X-Origin",
        "Vary: Referer",
        *(f"{name}: {value}" for name, value in response.headers),
        f"Content-Length: {len(response.body)}",
    ]
    return (
        "\r\n".join(head).encode()
        + b"\r\n\r\n"
        + "\r\n".join(inner).encode()
        + b"\r\n\r\n"
        + response.body
        + b"\r\n"
    )
