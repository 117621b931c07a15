"""The subset of Gmail's search language `messages.list?q=` the sandbox understands.

Supported: `after:` / `before:` with epoch seconds or a date (YYYY/MM/DD, taken as 00:00 UTC;
real Gmail uses the account's time zone, so connectors should send epoch seconds), `in:X`,
`-in:X`, `label:X`, `-label:X`, `is:X`, `-is:X`, `category:X`. Windows are half-open like a
partition: `after:T` keeps internalDate >= T*1000 and `before:T` keeps internalDate < T*1000.
Anything else raises `QueryError` (HTTP 400) rather than silently matching everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

_IN = {
    "inbox": "INBOX",
    "sent": "SENT",
    "draft": "DRAFT",
    "drafts": "DRAFT",
    "spam": "SPAM",
    "trash": "TRASH",
    "starred": "STARRED",
    "important": "IMPORTANT",
    "unread": "UNREAD",
    "chats": "CHAT",
    "chat": "CHAT",
}
_DATE = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})\Z")


class QueryError(ValueError):
    pass


@dataclass
class GmailQuery:
    after_ms: int | None = None
    before_ms: int | None = None
    required: set[str] = field(default_factory=set)
    excluded: set[str] = field(default_factory=set)
    anywhere: bool = False
    unknown_label: bool = False

    def targets_spam_or_trash(self) -> bool:
        return self.anywhere or bool({"SPAM", "TRASH"} & self.required)

    def matches(self, labels: list[str]) -> bool:
        if self.unknown_label:
            return False
        present = set(labels)
        return self.required <= present and not (self.excluded & present)


def _instant_ms(value: str) -> int:
    if value.isdigit():
        return int(value) * 1000
    match = _DATE.match(value)
    if match is None:
        raise QueryError(f"Invalid date in query: {value}")
    year, month, day = (int(g) for g in match.groups())
    return int(datetime(year, month, day, tzinfo=UTC).timestamp() * 1000)


def parse_query(q: str, label_ids_by_name: dict[str, str]) -> GmailQuery:
    """Parses `q`; `label_ids_by_name` maps lower-cased label names and ids to label ids."""
    query = GmailQuery()
    for token in q.split():
        negated = token.startswith("-")
        term = token[1:] if negated else token
        operator, sep, value = term.partition(":")
        operator = operator.lower()
        if not sep or not value:
            raise QueryError(f"Unsupported search term in sandbox: {token}")
        if operator in ("after", "before") and not negated:
            instant = _instant_ms(value)
            if operator == "after":
                query.after_ms = max(query.after_ms or instant, instant)
            else:
                query.before_ms = min(query.before_ms or instant, instant)
            continue
        label = _label_for(operator, value.lower(), label_ids_by_name)
        if label == "*anywhere*":
            query.anywhere = query.anywhere or not negated
            continue
        if label is None:
            if not negated:
                query.unknown_label = True
            continue
        (query.excluded if negated else query.required).add(label)
    return query


def _label_for(operator: str, value: str, label_ids_by_name: dict[str, str]) -> str | None:
    if operator in ("in", "is"):
        if operator == "in" and value == "anywhere":
            return "*anywhere*"
        if value in _IN:
            return _IN[value]
        return label_ids_by_name.get(value)
    if operator == "label":
        return label_ids_by_name.get(value) or label_ids_by_name.get(value.replace("-", " "))
    if operator == "category":
        return f"CATEGORY_{value.upper()}"
    raise QueryError(f"Unsupported search operator in sandbox: {operator}:")
