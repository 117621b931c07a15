"""Checks and normalisation of what users hand the registry (slugs, addresses, domains, ...)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from resources.registry.errors import InvalidInputError
from resources.schema.streams import STREAMS
from vocabulary.status import ConnectionStatus

TENANT_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*$")


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
            f"invalid tenant slug {tenant_id!r}: use 2 to 63 lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )
    return tenant_id


def validate_time_zone(time_zone: str) -> str:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInputError(
            f"unknown time zone {time_zone!r} (use an IANA name such as Europe/Paris or UTC)"
        ) from None
    return time_zone


def normalise_email(value: str, what: str) -> str:
    """The address lowercased and stripped; `what` names it in the error."""
    address = (value or "").strip().lower()
    if not _EMAIL_RE.fullmatch(address):
        raise InvalidInputError(f"invalid {what} {value!r}: expected an address like name@domain")
    return address


def normalise_domains(values: Iterable[str], what: str) -> list[str]:
    """Lowercased domains without a leading @, duplicates dropped, order kept."""
    out: list[str] = []
    for value in values:
        domain = (value or "").strip().lower().lstrip("@")
        if not _DOMAIN_RE.fullmatch(domain):
            raise InvalidInputError(f"invalid {what} {value!r}: expected a domain like example.com")
        if domain not in out:
            out.append(domain)
    return out


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
