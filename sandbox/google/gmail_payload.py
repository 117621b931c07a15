"""Gmail `Message` resources built from raw bytes, in Gmail's formats and field order.

Header values are served as Gmail serves them: unfolded, encoded words left encoded. Parsing is
cached per (mailbox, id) because the raw bytes of a stored message never change.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from sandbox.workload import rfc822
from sandbox.workload.model import SandboxMessage

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SPACES = re.compile(r"\s+")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


class PayloadCache:
    """Parsed (payload, snippet) per message, computed once; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}

    def get(self, msg: SandboxMessage) -> tuple[dict[str, Any], str]:
        key = (msg.mailbox, msg.id)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        parsed = message_from_bytes(msg.raw, policy=policy.compat32)
        payload = _part(parsed, "", rfc822.raw_headers(msg.raw))
        result = (payload, _snippet(parsed))
        with self._lock:
            self._cache[key] = result
        return result


def _part_headers(part: Message) -> list[dict[str, str]]:
    out = []
    for name, value in part._headers:  # compat32 keeps the raw (folded) values
        text = _FOLD.sub("", str(value))
        if not text.isascii():
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        out.append({"name": name, "value": text.strip()})
    return out


def _part(part: Message, part_id: str, top_headers: list[tuple[str, str]] | None) -> dict[str, Any]:
    headers = (
        [{"name": n, "value": v} for n, v in top_headers]
        if top_headers is not None
        else _part_headers(part)
    )
    filename = part.get_filename() or ""
    result: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": filename,
        "headers": headers,
    }
    if part.is_multipart():
        result["body"] = {"size": 0}
        children = part.get_payload()
        prefix = f"{part_id}." if part_id else ""
        result["parts"] = [_part(child, f"{prefix}{i}", None) for i, child in enumerate(children)]
        return result
    data = part.get_payload(decode=True) or b""
    if filename:
        result["body"] = {"attachmentId": f"ANGjdJ-sbx-{part_id or '0'}", "size": len(data)}
    else:
        result["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
    return result


def _snippet(parsed: Message) -> str:
    for part in parsed.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            data = part.get_payload(decode=True) or b""
            charset = part.get_content_charset() or "utf-8"
            try:
                text = data.decode(charset, "replace")
            except LookupError:
                text = data.decode("utf-8", "replace")
            text = _SPACES.sub(" ", text).strip()[:200]
            return html.escape(text, quote=True).replace("&#x27;", "&#39;")
    return ""


def message_resource(
    msg: SandboxMessage,
    history_id: int,
    fmt: str,
    cache: PayloadCache,
    metadata_headers: list[str] | None = None,
) -> dict[str, Any]:
    """users.messages.get's answer for `fmt` in minimal | metadata | full | raw."""
    payload, snippet = cache.get(msg)
    resource: dict[str, Any] = {"id": msg.id, "threadId": msg.thread_id}
    if msg.label_ids:
        resource["labelIds"] = list(msg.label_ids)
    resource["snippet"] = snippet
    if fmt == "full":
        resource["payload"] = payload
    elif fmt == "metadata":
        headers = payload["headers"]
        if metadata_headers:
            wanted = {h.lower() for h in metadata_headers}
            headers = [h for h in headers if h["name"].lower() in wanted]
        resource["payload"] = {
            "partId": "",
            "mimeType": payload["mimeType"],
            "filename": payload["filename"],
            "headers": headers,
        }
    resource["sizeEstimate"] = len(msg.raw)
    if fmt == "raw":
        resource["raw"] = b64url(msg.raw)
    resource["historyId"] = str(history_id)
    resource["internalDate"] = str(msg.internal_date_ms)
    return resource


_BAD_HEADERS = (
    ("From", "<<>>@@"),
    ("Date", "not a date"),
    ("Subject", "=?UTF-8?B?////?= =?x-unknown-charset?Q?caf=E9?="),
)


def bad_headers(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with garbage headers: From, Date and Subject broken, Message-ID gone."""
    broken = dict(resource)
    replacements = dict(_BAD_HEADERS)
    if "payload" in broken:
        payload = dict(broken["payload"])
        headers = [
            {"name": h["name"], "value": replacements.get(h["name"], h["value"])}
            for h in payload.get("headers", [])
            if h["name"].lower() != "message-id"
        ]
        present = {h["name"] for h in headers}
        headers.extend({"name": n, "value": v} for n, v in _BAD_HEADERS if n not in present)
        payload["headers"] = headers
        broken["payload"] = payload
    if "raw" in broken:
        raw = base64.urlsafe_b64decode(broken["raw"])
        head, body = rfc822.split_head(raw)
        lines = [
            f"{n}: {replacements.get(n, v)}"
            for n, v in rfc822.raw_headers(head + b"\r\n\r\n")
            if n.lower() != "message-id"
        ]
        broken["raw"] = b64url("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + body)
    return broken
