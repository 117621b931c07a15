"""Graph's OData query options for message listings: $filter, $orderby, $select, $top, $skip.

`$filter` understands comparisons (eq, ne, gt, ge, lt, le) on a few message properties joined by
`and`; anything else is a 400 like Graph's. As on Graph, combining `$filter` and `$orderby` needs
the ordered properties to come first in the filter, in the same order, else `InefficientFilter`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_TOP = 1000
DEFAULT_TOP = 10

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "ge": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "le": lambda a, b: a is not None and a <= b,
}
_CLAUSE = re.compile(
    r"\s*(?P<prop>[A-Za-z]+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+"
    r"(?P<value>'(?:[^']|'')*'|[0-9T:.+\-Z]+|true|false|null)\s*\Z",
    re.IGNORECASE,
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class QueryError(ValueError):
    """An OData option Graph would refuse: carries Graph's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Clause:
    prop: str
    op: str
    value: Any


@dataclass
class ListQuery:
    clauses: list[Clause] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    select: list[str] | None = None
    top: int = DEFAULT_TOP
    skip: int = 0
    count: bool = False

    def matches(self, props: dict[str, Any]) -> bool:
        return all(_OPS[c.op](props.get(c.prop), c.value) for c in self.clauses)


def parse_datetime(text: str) -> datetime:
    """An OData DateTimeOffset literal (no offset means UTC)."""
    value = _trim_fraction(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError("BadRequest", f"Invalid date/time value '{text}'.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _trim_fraction(value: str) -> str:
    """fromisoformat takes at most 6 fractional digits; Graph writes 7."""
    return re.sub(r"(\.\d{6})\d+", r"\1", value)


def _literal(prop: str, raw: str, kinds: dict[str, str]) -> Any:
    kind = kinds[prop]
    low = raw.lower()
    if low == "null":
        return None
    if kind == "datetime":
        if raw.startswith("'"):
            raise QueryError(
                "BadRequest", f"A binary operator with incompatible types was detected for {prop}."
            )
        return parse_datetime(raw)
    if kind == "bool":
        if low not in ("true", "false"):
            raise QueryError("BadRequest", f"Invalid filter clause: {prop} needs true or false.")
        return low == "true"
    if not raw.startswith("'"):
        raise QueryError("BadRequest", f"Invalid filter clause: {prop} needs a quoted string.")
    return raw[1:-1].replace("''", "'")


def parse_list_query(
    params: dict[str, str | None],
    filterable: dict[str, str],
    orderable: set[str],
    selectable: set[str],
    entity: str,
) -> ListQuery:
    """The query options of a listing; `filterable` maps property -> datetime|bool|string."""
    query = ListQuery()
    by_lower = {name.lower(): name for name in filterable}
    raw_filter = (params.get("$filter") or "").strip()
    if raw_filter:
        for text in _AND.split(raw_filter):
            found = _CLAUSE.match(text)
            if found is None:
                raise QueryError("BadRequest", f"Invalid filter clause: {text.strip()}")
            prop = by_lower.get(found["prop"].lower())
            if prop is None:
                raise QueryError(
                    "BadRequest",
                    f"Could not find a property named '{found['prop']}' on type "
                    f"'microsoft.graph.{entity}'.",
                )
            op = found["op"].lower()
            query.clauses.append(Clause(prop, op, _literal(prop, found["value"], filterable)))
    raw_order = (params.get("$orderby") or "").strip()
    if raw_order:
        order_lower = {name.lower(): name for name in orderable}
        for item in raw_order.split(","):
            words = item.split()
            prop = order_lower.get(words[0].lower()) if words else None
            if (
                prop is None
                or len(words) > 2
                or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
            ):
                raise QueryError("BadRequest", f"Invalid $orderby: {item.strip()}")
            query.order_by.append((prop, len(words) == 2 and words[1].lower() == "desc"))
        if query.clauses:
            leading = [c.prop for c in query.clauses[: len(query.order_by)]]
            if leading != [p for p, _ in query.order_by]:
                raise QueryError(
                    "InefficientFilter",
                    "The restriction or sort order is too complex for this operation.",
                )
    raw_select = params.get("$select")
    if raw_select:
        # `id` is the base entity's property: valid in every `$select`, as on Graph.
        lower = {name.lower(): name for name in (*selectable, "id")}
        chosen = []
        for name in raw_select.split(","):
            prop = lower.get(name.strip().lower())
            if prop is None:
                raise QueryError(
                    "RequestBroker--ParseUri",
                    f"Could not find a property named '{name.strip()}' on type "
                    f"'microsoft.graph.{entity}'.",
                )
            chosen.append(prop)
        query.select = list(dict.fromkeys(chosen))
    query.top = _int_option(params, "$top", DEFAULT_TOP)
    if not 1 <= query.top <= MAX_TOP:
        raise QueryError(
            "ErrorInvalidArgument", f"The value of $top must be between 1 and {MAX_TOP}."
        )
    query.skip = _int_option(params, "$skip", 0)
    if query.skip < 0:
        raise QueryError("BadRequest", "The value of $skip must not be negative.")
    query.count = (params.get("$count") or "").lower() == "true"
    return query


def _int_option(params: dict[str, str | None], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise QueryError("BadRequest", f"Invalid value '{raw}' for query option {name}.") from None


def project(resource: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
    """Only the selected properties, plus `@odata.etag` and `id` (always returned)."""
    if select is None:
        return resource
    keep = {"@odata.etag", "id", *select}
    return {k: v for k, v in resource.items() if k in keep} | {
        name: resource.get(name) for name in select if name not in resource
    }
