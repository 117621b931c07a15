"""Checks and normalisation of what users hand the registry (slugs, names, addresses, domains,
scopes, times): the one place the CLI and code calling the registry are both refused at.

Lengths match the columns (resources/schema/tables.py) where those are bounded and sensible
limits where they are Text; no value may hold a control character (C0, DEL, C1, line and
paragraph separators), which would break a terminal line, a log line or a header. Error texts
show at most a short, printable excerpt of the refused value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resources.registry.errors import InvalidInputError
from resources.schema.column_types import to_utc
from resources.schema.streams import STREAMS
from vocabulary.status import ConnectionStatus
from vocabulary.text import short_repr

TENANT_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*$")

NAME_MAX = 200
"""A display name (tenant, CRM account or contact): Text columns, a line's worth."""
EMAIL_MAX = 254
"""RFC 5321's longest path (256) less its angle brackets."""
LOCAL_PART_MAX = 64
"""RFC 5321's longest local part."""
DOMAIN_MAX = 253
"""RFC 1035's longest name in text form; each label at most LABEL_MAX."""
LABEL_MAX = 63
SCOPE_MAX = 256
"""An OAuth scope: Google's are URLs of under 70 characters, Graph's short names."""
TIME_ZONE_MAX = 64
"""tenants.time_zone is String(64)."""
CRM_ID_MAX = 128
"""accounts.account_id and contacts.contact_id are String(128)."""
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


def check_text(value: object, what: str, limit: int) -> str:
    """`value` itself when it is a string of at most `limit` characters without control
    characters; otherwise one clear InvalidInputError naming `what`."""
    if not isinstance(value, str):
        raise InvalidInputError(f"invalid {what}: expected text, got {type(value).__name__}")
    if len(value) > limit:
        raise InvalidInputError(
            f"invalid {what} {short_repr(value)}: {len(value)} characters, at most {limit}"
        )
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in value):
        raise InvalidInputError(
            f"invalid {what} {short_repr(value)}: control characters (newline, tab, NUL, ...) "
            "are not allowed"
        )
    return value


def validate_name(value: str, what: str) -> str:
    """A display name, stripped: non-empty, one line, at most NAME_MAX characters."""
    name = check_text("" if value is None else value, what, NAME_MAX).strip()
    if not name:
        raise InvalidInputError(f"a {what} must not be empty")
    return name


def optional_name(value: str | None, what: str) -> str | None:
    """A display name that may be missing (a CRM contact's): None when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return validate_name(value, what)


def validate_tenant_id(tenant_id: str) -> str:
    """A tenant slug: lowercase letters, digits and inner hyphens, 2..63 characters.

    Dagster joins multi-partition keys with `|` and parses `,[]`, so those never appear.
    """
    if (
        not isinstance(tenant_id, str)
        or not 2 <= len(tenant_id) <= 63
        or not TENANT_SLUG_RE.fullmatch(tenant_id)
    ):
        raise InvalidInputError(
            f"invalid tenant slug {short_repr(tenant_id)}: use 2 to 63 lowercase letters, "
            "digits and hyphens, starting and ending with a letter or digit"
        )
    return tenant_id


def validate_time_zone(time_zone: str) -> str:
    check_text(time_zone, "time zone", TIME_ZONE_MAX)
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise InvalidInputError(
            f"unknown time zone {short_repr(time_zone)} (use an IANA name such as Europe/Paris "
            "or UTC)"
        ) from None
    return time_zone


def normalise_email(value: str, what: str) -> str:
    """The address lowercased and stripped; `what` names it in the error."""
    address = check_text((value or "").strip().lower(), what, EMAIL_MAX)
    local, _, domain = address.rpartition("@")
    if not _EMAIL_RE.fullmatch(address) or len(local) > LOCAL_PART_MAX:
        raise InvalidInputError(
            f"invalid {what} {short_repr(value)}: expected an address like name@domain "
            f"(a local part of at most {LOCAL_PART_MAX} characters)"
        )
    _check_labels(domain, what, value)
    return address


def normalise_domains(values: Iterable[str], what: str) -> list[str]:
    """Lowercased domains without a leading @, duplicates dropped, order kept."""
    out: list[str] = []
    for value in values:
        domain = check_text((value or "").strip().lower().lstrip("@"), what, DOMAIN_MAX)
        if not _DOMAIN_RE.fullmatch(domain):
            raise InvalidInputError(
                f"invalid {what} {short_repr(value)}: expected a domain like example.com"
            )
        _check_labels(domain, what, value)
        if domain not in out:
            out.append(domain)
    return out


def _check_labels(domain: str, what: str, value: str) -> None:
    if any(len(label) > LABEL_MAX for label in domain.split(".")):
        raise InvalidInputError(
            f"invalid {what} {short_repr(value)}: a domain label has at most {LABEL_MAX} characters"
        )


def normalise_scopes(values: Iterable[str]) -> list[str]:
    """OAuth scopes, stripped, empty ones and duplicates dropped, order kept."""
    scopes = (check_text(s or "", "scope", SCOPE_MAX).strip() for s in values)
    out = list(dict.fromkeys(s for s in scopes if s))
    for scope in out:
        if any(ch.isspace() for ch in scope):
            raise InvalidInputError(f"invalid scope {short_repr(scope)}: one scope, no spaces")
    return out


def validate_crm_id(value: object, what: str) -> str:
    return check_text(str(value), what, CRM_ID_MAX)


def validate_authorized_at(value: datetime) -> datetime:
    """When the owner granted access, in UTC: aware and not in the future (a future time would
    keep every window "before the authorization" and the mailbox silently unsynced)."""
    try:
        authorized = to_utc(value)
    except (TypeError, ValueError):
        raise InvalidInputError(
            "the authorization time needs a time zone, e.g. 2026-11-01T09:00:00Z"
        ) from None
    current = now()
    if authorized > current:
        raise InvalidInputError(
            f"the authorization time {authorized.isoformat(timespec='seconds')} is in the future "
            f"(now {current.isoformat(timespec='seconds')}): access cannot have been granted yet"
        )
    return authorized


def validate_status(value: ConnectionStatus | str) -> ConnectionStatus:
    try:
        return ConnectionStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ConnectionStatus)
        raise InvalidInputError(f"invalid status {value!r}; one of: {allowed}") from None


def validate_stream(stream: str) -> str:
    if stream not in STREAMS:
        raise InvalidInputError(f"unknown stream {stream!r}; expected one of {', '.join(STREAMS)}")
    return stream


def now() -> datetime:
    return datetime.now(UTC)
