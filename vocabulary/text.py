"""Text the whole product shares: safe excerpts of untrusted payloads, bare addresses, and the
stand-in id of a listed item that is no usable JSON object.

Provider text is untrusted: it reaches quarantine rows and logs only through `safe_excerpt`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

EXCERPT_LIMIT = 500
DEFECT_TEXT_LIMIT = 80
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
_ID_IN_TEXT = re.compile(r'"id"\s*:\s*"([^"\\\s]{1,400})"')
_ID_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.@]{1,400}")


def safe_excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """At most `limit` printable characters of `text`, for quarantine rows and logs."""
    return _CONTROL.sub("?", text)[:limit]


def one_line(value: str) -> tuple[str, bool]:
    """`value` with each run of control characters (NUL, CR, LF, tab, the other C0 codes, DEL) as
    one space, and whether any was there.

    What a single-line field (a subject, a display name) may hold on every backend: PostgreSQL
    refuses NUL in text, and a CR/LF decoded from an encoded word must not look like a header.
    """
    cleaned = _LINE_CONTROLS.sub(" ", value)
    return cleaned, cleaned != value


def short_repr(value: Any) -> str:
    """A short, printable repr of a bad value, for header defects."""
    return repr(safe_excerpt(str(value), DEFECT_TEXT_LIMIT))


def json_excerpt(payload: Any) -> str:
    """A payload as a safe excerpt of its JSON (or repr, when it is not JSON-serialisable)."""
    try:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(payload)
    return safe_excerpt(text)


def normalize_address(addr_spec: str) -> str | None:
    """The lower-cased bare `local@domain`, or None when it is not a usable address."""
    candidate = addr_spec.strip()
    if _LINE_CONTROLS.search(candidate):
        return None
    local, at, domain = candidate.rpartition("@")
    if not at or not local or not domain or ".." in domain or domain.startswith("."):
        return None
    quoted_local = len(local) > 1 and local.startswith('"') and local.endswith('"')
    if any(ch.isspace() or ch in "<>@,;" for ch in domain) or (
        not quoted_local and any(ch.isspace() or ch in '<>@,;"' for ch in local)
    ):
        return None
    return candidate.lower()


def identify_listed_item(item: Any) -> tuple[str, str, str]:
    """A listed item that is no usable JSON object, as `(id, error, excerpt)` for quarantine.

    Listings carry whole payloads, so a broken item must still be named: by the id its text
    carries when it does (`"id": "..."` in a truncated object, a lone id in an array), else by
    a stable stand-in derived from its content, so re-listing files it under the same id.
    """
    if isinstance(item, str):
        text, error = item, "invalid_json"
        found = _ID_IN_TEXT.search(item)
        candidate = found[1] if found else None
    else:
        text, error = json.dumps(item, ensure_ascii=False, default=str), "not_object"
        candidate = None
        if isinstance(item, list):
            candidate = next(
                (v for v in item if isinstance(v, str) and _ID_TOKEN.fullmatch(v)), None
            )
        elif isinstance(item, Mapping):
            error = "missing_id"
    if candidate is None:
        candidate = "unidentified-" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return candidate, error, safe_excerpt(text)
