"""When an incident opens, changes and closes: pure rules over a connection's state.

An incident is a connection's time away from `active` plus the time until its gap is recovered:
it opens at the first failing status (or the first missed window) and closes only when the
connection is active again AND no missed window of it is open. A connection stopped on purpose
closes its incident: nobody is to be alerted about a mailbox that was disconnected.
"""

from __future__ import annotations

from enum import StrEnum

from vocabulary.status import ConnectionStatus

FAILING_STATUSES = frozenset(ConnectionStatus) - {ConnectionStatus.ACTIVE, ConnectionStatus.STOPPED}
"""Statuses that open (or keep open) an incident."""


class IncidentAction(StrEnum):
    NONE = "none"
    OPEN = "open"
    UPDATE = "update"  # still failing: status/cause if they changed, last_seen_at always
    CLOSE = "close"


class ClosedReason(StrEnum):
    RECOVERED = "recovered"
    STOPPED = "stopped"


class NotificationKind(StrEnum):
    FIRST = "first"
    REMINDER_24H = "reminder_24h"
    REMINDER_72H = "reminder_72h"
    ESCALATION = "escalation"  # tenant admins, after 72 h
    TRANSIENT_PERSISTING = "transient_persisting"  # a throttled/unreachable mailbox, after 6 h
    OPERATORS = "operators"  # request_invalid, sync_error, a provider-wide failure
    RESOLVED = "resolved"


class NotificationChannel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class NotificationResult(StrEnum):
    SENT = "sent"
    FAILED = "failed"


def incident_action(
    *, incident_open: bool, status: ConnectionStatus, open_windows: int
) -> IncidentAction:
    """What a connection's current state does to its incident.

    Called after every status change or report, and after every missed or recovered window, with
    the state as it is then (`open_windows`: the connection's unrecovered windows, all streams).
    """
    if status is ConnectionStatus.STOPPED:
        return IncidentAction.CLOSE if incident_open else IncidentAction.NONE
    if status in FAILING_STATUSES:
        return IncidentAction.UPDATE if incident_open else IncidentAction.OPEN
    # Active again: the incident stays open until the last missed window is recovered.
    if incident_open:
        return IncidentAction.CLOSE if open_windows == 0 else IncidentAction.NONE
    # Active with a gap and no incident: a window was missed without a status change being
    # seen first (a database from before incidents); the gap still needs its incident.
    return IncidentAction.OPEN if open_windows > 0 else IncidentAction.NONE
