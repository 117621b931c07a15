"""Google's own description of Gmail v1 and Calendar v3: the discovery documents shipped inside
google-api-python-client, read as data (a spec nobody here wrote).

The sandbox uses them to refuse query parameters a method does not take (Google answers 400);
tests use `schema_problems` to check every answer against the method's response schema.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any

DOCUMENTS = {"gmail": "gmail.v1.json", "calendar": "calendar.v3.json"}
_INTEGER_FORMATS = {"int32": (-(2**31), 2**31 - 1), "uint32": (0, 2**32 - 1)}
_DIGITS = {"int64": re.compile(r"-?\d+"), "uint64": re.compile(r"\d+")}


@cache
def document(api: str) -> dict[str, Any]:
    """The discovery document of `api` ("gmail" or "calendar")."""
    folder = resources.files("googleapiclient.discovery_cache") / "documents"
    return json.loads((folder / DOCUMENTS[api]).read_text(encoding="utf-8"))


def _methods(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {m["id"]: m for m in (node.get("methods") or {}).values()}
    for child in (node.get("resources") or {}).values():
        found.update(_methods(child))
    return found


@cache
def method(method_id: str) -> dict[str, Any]:
    """A method's description by its id (`gmail.users.messages.list`, `calendar.events.list`)."""
    return _methods(document(method_id.split(".", 1)[0]))[method_id]


@cache
def query_parameters(method_id: str) -> frozenset[str]:
    """The query parameters `method_id` accepts: its own and the API's standard ones (`alt`,
    `fields`, `quotaUser`, ...)."""
    own = {n for n, p in method(method_id)["parameters"].items() if p.get("location") == "query"}
    return frozenset(own | set(document(method_id.split(".", 1)[0])["parameters"]))


def unknown_parameters(method_id: str, names: set[str]) -> list[str]:
    """The names in `names` the method does not take, sorted."""
    return sorted(names - query_parameters(method_id))


def response_schema(method_id: str) -> dict[str, Any]:
    """The schema (a `$ref`) of a method's answer."""
    return method(method_id)["response"]


def schema_problems(api: str, schema: dict[str, Any], value: Any, where: str = "$") -> list[str]:
    """Every way `value` breaks `schema` of `api`'s document: unknown properties, wrong types or
    formats, each as `path: problem`. Empty when it conforms."""
    if "$ref" in schema:
        return schema_problems(api, document(api)["schemas"][schema["$ref"]], value, where)
    kind = schema.get("type")
    if kind == "any" or (kind is None and "properties" not in schema):
        return []
    if kind == "object" or kind is None:
        return _object_problems(api, schema, value, where)
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not an array"]
        items = schema["items"]
        return [
            problem
            for n, item in enumerate(value)
            for problem in schema_problems(api, items, item, f"{where}[{n}]")
        ]
    return _scalar_problems(kind, schema.get("format"), value, where)


def _object_problems(api: str, schema: dict[str, Any], value: Any, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: {type(value).__name__}, not an object"]
    properties = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    problems = []
    for name, item in value.items():
        if name in properties:
            problems += schema_problems(api, properties[name], item, f"{where}.{name}")
        elif extra is not None:
            problems += schema_problems(api, extra, item, f"{where}.{name}")
        else:
            problems.append(f"{where}.{name}: not a property of the schema")
    return problems


def _scalar_problems(kind: str, fmt: str | None, value: Any, where: str) -> list[str]:
    wrong = [f"{where}: {value!r} is not {kind}" + (f" ({fmt})" if fmt else "")]
    if kind == "boolean":
        return [] if isinstance(value, bool) else wrong
    if kind == "integer":
        low, high = _INTEGER_FORMATS.get(fmt or "", (None, None))
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok and (low is None or low <= value <= high) else wrong
    if kind == "number":
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else wrong
    if kind != "string" or not isinstance(value, str):
        return wrong
    # Google writes 64-bit integers as decimal strings, dates and times as RFC 3339 text.
    if fmt in _DIGITS:
        return [] if _DIGITS[fmt].fullmatch(value) else wrong
    if fmt == "date":
        return [] if re.fullmatch(r"\d{4}-\d\d-\d\d", value) and _is_date(value) else wrong
    if fmt in ("date-time", "google-datetime"):
        return [] if _is_instant(value) else wrong
    if fmt == "byte":
        return [] if re.fullmatch(r"[A-Za-z0-9+/_=-]*", value) else wrong
    return []


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_instant(text: str) -> bool:
    """RFC 3339: a date, a time and an offset (`Z` or `+hh:mm`)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in text and moment.tzinfo is not None
