"""Which notifications an incident is due, given what was already sent and the time: pure rules.

Routing by the incident's current status and cause:
- credential statuses -> the owner at once (`first`);
- transient statuses -> the owner once the incident has lasted `transient_after`
  (`transient_persisting`);
- `request_invalid`, `sync_error` and operator causes -> the operators' webhook only (`operators`).
An owner who was told gets reminders at 24 h and 72 h while the incident is open, the tenant's
admins are copied once it has lasted `escalation_after` (`escalation`, which stands in for the
72 h reminder when both fall due together), and whoever was told hears `resolved` once when it
closes as recovered.

A mass failure (one provider, one cause, a large share of its connections within an hour: an
expired client secret, an outage) is one operators' notification per provider, cause and hour;
the owners' notices of its incidents are held while the share stays that high.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from resources.alerts.settings import AlertSettings
from resources.registry.incident_rules import ClosedReason, NotificationKind, NotificationResult
from resources.registry.records import Incident, Notification
from vocabulary.status import CREDENTIAL_STATUSES, OPERATOR_CAUSES, TRANSIENT_STATUSES
from vocabulary.status import ConnectionStatus as S

K = NotificationKind

MAX_RUNS_PER_NOTIFICATION = 3
"""A notification whose run failed (after its op's retries) is asked again in a new run, at most
this many runs in all, so an SMTP outage of an hour does not lose it nor retry it forever."""

OWNER_FIRST_NOTICES = frozenset({K.FIRST, K.TRANSIENT_PERSISTING})


class Audience(StrEnum):
    OWNER = "owner"
    OPERATORS = "operators"


def audience(status: S, cause_code: str | None) -> Audience | None:
    """Who can fix an incident of this status and cause (None: nobody is to be told)."""
    if cause_code in OPERATOR_CAUSES or status in (S.REQUEST_INVALID, S.SYNC_ERROR):
        return Audience.OPERATORS
    if status in CREDENTIAL_STATUSES or status in TRANSIENT_STATUSES:
        return Audience.OWNER
    return None


@dataclass(frozen=True)
class History:
    """What was done about one incident: kinds sent, and failed runs per kind."""

    sent: frozenset[NotificationKind] = frozenset()
    failed_runs: Mapping[NotificationKind, int] = field(default_factory=dict)

    @classmethod
    def of(cls, notifications: Iterable[Notification]) -> History:
        """From the incident's notification rows. The job records one failed row per failed run
        and recipient, so failures are counted per distinct run attempt time."""
        sent: set[NotificationKind] = set()
        failed: dict[NotificationKind, set[datetime]] = defaultdict(set)
        for n in notifications:
            kind = NotificationKind(n.kind)
            if n.result == NotificationResult.SENT:
                sent.add(kind)
            else:
                failed[kind].add(n.sent_at)
        return cls(frozenset(sent), {k: len(v) for k, v in failed.items()})

    def asked(self, kind: NotificationKind) -> bool:
        """Sent, or given up on after its runs failed: either way not to be asked again."""
        return kind in self.sent or self.failed_runs.get(kind, 0) >= MAX_RUNS_PER_NOTIFICATION


@dataclass(frozen=True)
class Due:
    """One notification to send: a run of the alert job."""

    incident_id: int
    kind: NotificationKind
    audience: Audience
    attempt: int = 0
    """Runs of this notification that failed before; part of the run key so a new run may go."""

    @property
    def run_key(self) -> str:
        key = f"alert:{self.incident_id}:{self.kind.value}"
        return f"{key}:{self.attempt}" if self.attempt else key


def due_notifications(
    incident: Incident,
    history: History,
    now: datetime,
    settings: AlertSettings,
    *,
    has_admins: bool,
    held: bool = False,
) -> list[Due]:
    """The notifications `incident` is due at `now`; `held`: its owner notices wait (a mass
    failure is under way)."""

    def due(kind: NotificationKind, to: Audience) -> Due:
        return Due(incident.incident_id, kind, to, history.failed_runs.get(kind, 0))

    owner_told = any(k in history.sent for k in OWNER_FIRST_NOTICES)
    if not incident.is_open:
        # Stopped on purpose: nobody to tell. Recovered: whoever heard of it hears it is over.
        if incident.closed_reason != ClosedReason.RECOVERED or history.asked(K.RESOLVED):
            return []
        if owner_told:
            return [due(K.RESOLVED, Audience.OWNER)]
        if K.OPERATORS in history.sent:
            return [due(K.RESOLVED, Audience.OPERATORS)]
        return []

    to = audience(incident.status, incident.cause_code)
    age = now - incident.opened_at
    found: list[Due] = []
    if to is Audience.OPERATORS:
        if not history.asked(K.OPERATORS) and not held:
            found.append(due(K.OPERATORS, Audience.OPERATORS))
        return found
    if to is not Audience.OWNER or held:
        return found
    if incident.status in CREDENTIAL_STATUSES:
        # Credential failures need the owner at once, even if a transient notice came first:
        # the cause changed and only they can fix it.
        if not history.asked(K.FIRST):
            found.append(due(K.FIRST, Audience.OWNER))
    elif (
        not owner_told
        and age >= settings.transient_after
        and not history.asked(K.TRANSIENT_PERSISTING)
    ):
        found.append(due(K.TRANSIENT_PERSISTING, Audience.OWNER))
    if not owner_told:
        # Reminders follow a notice the owner has had, never stand in for it.
        return found
    first_reminder, second_reminder = settings.reminders
    escalating = has_admins and age >= settings.escalation_after
    if age >= first_reminder and not history.asked(K.REMINDER_24H) and age < second_reminder:
        found.append(due(K.REMINDER_24H, Audience.OWNER))
    if escalating and not history.asked(K.ESCALATION):
        found.append(due(K.ESCALATION, Audience.OWNER))
    # The escalation (owner, admins in copy) is the 72 h reminder when it came by then.
    escalation_covers = has_admins and settings.escalation_after <= second_reminder
    if (
        age >= second_reminder
        and not history.asked(K.REMINDER_72H)
        and not (escalation_covers and (escalating or history.asked(K.ESCALATION)))
    ):
        found.append(due(K.REMINDER_72H, Audience.OWNER))
    return found


@dataclass(frozen=True)
class MassFailure:
    """Many connections of one provider failing with one cause at once."""

    provider: str
    cause: str
    incident_ids: tuple[int, ...]
    share: float
    bucket: datetime
    """The hour it was noticed in: one operators' notification per provider, cause and hour."""

    @property
    def run_key(self) -> str:
        return f"mass:{self.provider}:{self.cause}:{self.bucket:%Y-%m-%dT%H}"


def cause_of(incident: Incident) -> str:
    return incident.cause_code or incident.status.value


@dataclass(frozen=True)
class MassPicture:
    bursts: list[MassFailure]
    """Provider and cause pairs whose share of new incidents within the window is high: each is
    one operators' notification."""
    held: frozenset[tuple[str, str]]
    """Provider and cause pairs whose open incidents still make a high share: owners wait."""


def mass_failures(
    open_incidents: Sequence[tuple[Incident, str]],
    connections_per_provider: Mapping[str, int],
    now: datetime,
    settings: AlertSettings,
) -> MassPicture:
    """From the open incidents (each with its connection's provider) and each provider's number
    of connections that could fail (not stopped)."""

    def massive(count: int, provider: str) -> bool:
        total = connections_per_provider.get(provider, 0)
        return (
            total > 0
            and count >= settings.mass_min_connections
            and count / total >= settings.mass_share
        )

    open_counts = Counter((p, cause_of(i)) for i, p in open_incidents)
    held = frozenset(key for key, count in open_counts.items() if massive(count, key[0]))
    recent: dict[tuple[str, str], list[int]] = defaultdict(list)
    for incident, provider in open_incidents:
        if now - settings.mass_window < incident.opened_at <= now:
            recent[(provider, cause_of(incident))].append(incident.incident_id)
    bucket = now.replace(minute=0, second=0, microsecond=0)
    bursts = [
        MassFailure(
            provider,
            cause,
            tuple(sorted(ids)),
            len(ids) / connections_per_provider[provider],
            bucket,
        )
        for (provider, cause), ids in sorted(recent.items())
        if massive(len(ids), provider)
    ]
    return MassPicture(bursts, held)
