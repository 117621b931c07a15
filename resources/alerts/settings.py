"""Alert timings and addresses, read from the environment (stdlib only, shared by the sensor and
the alert job so both see the same numbers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

TRANSIENT_HOURS_ENV = "TOUCHPOINT_TRANSIENT_ALERT_HOURS"
ESCALATION_HOURS_ENV = "TOUCHPOINT_ESCALATION_HOURS"
MASS_SHARE_ENV = "TOUCHPOINT_MASS_FAILURE_SHARE"
MASS_MIN_ENV = "TOUCHPOINT_MASS_FAILURE_MIN_CONNECTIONS"
TENANT_ADMINS_ENV = "TOUCHPOINT_TENANT_ADMINS"


class AlertSettingsError(ValueError):
    """A setting cannot be read; the text names the variable."""


@dataclass(frozen=True)
class AlertSettings:
    """When owners, admins and operators hear about an incident."""

    transient_after: timedelta = timedelta(hours=6)
    """A throttled or unreachable mailbox alerts its owner only after this long."""
    reminders: tuple[timedelta, timedelta] = (timedelta(hours=24), timedelta(hours=72))
    escalation_after: timedelta = timedelta(hours=72)
    """An incident open this long also goes to the tenant's admins (when it has some)."""
    mass_share: float = 0.5
    """Share of a provider's connections failing with one cause within `mass_window` that makes
    one operators' incident (and holds the owners' emails)."""
    mass_min_connections: int = 5
    """Below this many failing connections nothing is a mass failure (3 of 4 is not an outage)."""
    mass_window: timedelta = timedelta(hours=1)
    tenant_admins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def admins(self, tenant_id: str) -> tuple[str, ...]:
        return tuple(self.tenant_admins.get(tenant_id, ()))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertSettings:
        env = os.environ if environ is None else environ
        return cls(
            transient_after=timedelta(hours=_number(env, TRANSIENT_HOURS_ENV, 6)),
            escalation_after=timedelta(hours=_number(env, ESCALATION_HOURS_ENV, 72)),
            mass_share=_number(env, MASS_SHARE_ENV, 0.5),
            mass_min_connections=int(_number(env, MASS_MIN_ENV, 5)),
            tenant_admins=parse_tenant_admins(env.get(TENANT_ADMINS_ENV, "")),
        )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise AlertSettingsError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise AlertSettingsError(f"{name}={text!r} must not be negative")
    return value


def parse_tenant_admins(text: str) -> dict[str, tuple[str, ...]]:
    """`acme=it@acme.com,cfo@acme.com;globex=ops@globex.com` -> tenant -> addresses.

    Kept in configuration rather than the tenants table: who is escalated to is a deployment's
    choice, and it spares a schema change."""
    admins: dict[str, tuple[str, ...]] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        tenant, sep, addresses = entry.partition("=")
        found = tuple(a.strip() for a in addresses.split(",") if a.strip())
        if not sep or not tenant.strip() or not found or not all("@" in a for a in found):
            raise AlertSettingsError(
                f"{TENANT_ADMINS_ENV}: {entry!r} is not tenant=address[,address]"
            )
        admins[tenant.strip()] = found
    return admins
