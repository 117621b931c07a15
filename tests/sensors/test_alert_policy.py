"""The alert policy, pure: what is due for an incident at a given time (no Dagster, no DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resources.alerts.settings import AlertSettings, AlertSettingsError, parse_tenant_admins
from resources.registry import Incident, NotificationKind
from sensors.alert_policy import (
    MAX_RUNS_PER_NOTIFICATION,
    Audience,
    History,
    due_notifications,
    mass_failures,
)
from vocabulary.status import ConnectionStatus as S

K = NotificationKind
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
SETTINGS = AlertSettings()


def hours(h: float) -> datetime:
    return T0 + timedelta(hours=h)


def incident(
    status: S = S.INVALID_CREDENTIALS,
    cause: str | None = "invalid_grant",
    *,
    incident_id: int = 1,
    opened: datetime = T0,
    closed: datetime | None = None,
    reason: str | None = None,
) -> Incident:
    return Incident(
        incident_id,
        "acme",
        f"c{incident_id}",
        status,
        cause,
        opened,
        opened,
        opened,
        closed,
        reason,
    )


def kinds(found) -> list[tuple[K, Audience]]:
    return [(d.kind, d.audience) for d in found]


def sent(*done: K) -> History:
    return History(frozenset(done))


@pytest.mark.parametrize(
    "status", [S.INVALID_CREDENTIALS, S.INSUFFICIENT_PERMISSIONS, S.ACCOUNT_SUSPENDED]
)
def test_credential_failures_alert_the_owner_at_once(status: S) -> None:
    found = due_notifications(incident(status), History(), T0, SETTINGS, has_admins=False)
    assert kinds(found) == [(K.FIRST, Audience.OWNER)]
    assert found[0].run_key == "alert:1:first"
    # once sent, nothing more until the first reminder
    assert (
        due_notifications(incident(status), sent(K.FIRST), hours(23.9), SETTINGS, has_admins=False)
        == []
    )


def test_reminders_at_24_and_72_hours_while_open() -> None:
    i = incident()
    assert kinds(due_notifications(i, sent(K.FIRST), hours(24), SETTINGS, has_admins=False)) == [
        (K.REMINDER_24H, Audience.OWNER)
    ]
    told = sent(K.FIRST, K.REMINDER_24H)
    assert due_notifications(i, told, hours(71.9), SETTINGS, has_admins=False) == []
    assert kinds(due_notifications(i, told, hours(72), SETTINGS, has_admins=False)) == [
        (K.REMINDER_72H, Audience.OWNER)
    ]
    assert (
        due_notifications(
            i, sent(K.FIRST, K.REMINDER_24H, K.REMINDER_72H), hours(200), SETTINGS, has_admins=False
        )
        == []
    )
    # a sensor down for days does not send a stale 24 h reminder next to the 72 h one
    assert kinds(due_notifications(i, sent(K.FIRST), hours(80), SETTINGS, has_admins=False)) == [
        (K.REMINDER_72H, Audience.OWNER)
    ]


def test_the_72_hour_escalation_copies_the_admins_instead_of_a_second_reminder() -> None:
    i = incident()
    told = sent(K.FIRST, K.REMINDER_24H)
    assert kinds(due_notifications(i, told, hours(71), SETTINGS, has_admins=True)) == []
    assert kinds(due_notifications(i, told, hours(72), SETTINGS, has_admins=True)) == [
        (K.ESCALATION, Audience.OWNER)
    ]
    assert (
        due_notifications(
            i, sent(K.FIRST, K.REMINDER_24H, K.ESCALATION), hours(90), SETTINGS, has_admins=True
        )
        == []
    )
    # escalating later than 72 h: the reminder first, the escalation when it falls due
    late = AlertSettings(escalation_after=timedelta(hours=96))
    assert kinds(due_notifications(i, told, hours(72), late, has_admins=True)) == [
        (K.REMINDER_72H, Audience.OWNER)
    ]
    assert kinds(
        due_notifications(
            i, sent(K.FIRST, K.REMINDER_24H, K.REMINDER_72H), hours(96), late, has_admins=True
        )
    ) == [(K.ESCALATION, Audience.OWNER)]


@pytest.mark.parametrize("status", [S.THROTTLED, S.NO_SERVICE_CONNECTION])
def test_transient_failures_alert_the_owner_only_when_they_persist(status: S) -> None:
    i = incident(status, "rate_limited")
    assert due_notifications(i, History(), hours(5.9), SETTINGS, has_admins=True) == []
    assert kinds(due_notifications(i, History(), hours(6), SETTINGS, has_admins=True)) == [
        (K.TRANSIENT_PERSISTING, Audience.OWNER)
    ]
    two = AlertSettings(transient_after=timedelta(hours=2))
    assert kinds(due_notifications(i, History(), hours(2), two, has_admins=False)) == [
        (K.TRANSIENT_PERSISTING, Audience.OWNER)
    ]
    # told it persists: reminders follow like any owner notice
    assert kinds(
        due_notifications(i, sent(K.TRANSIENT_PERSISTING), hours(24), SETTINGS, has_admins=False)
    ) == [(K.REMINDER_24H, Audience.OWNER)]


def test_a_transient_incident_that_turns_into_a_credential_failure_alerts_at_once() -> None:
    i = incident(S.INVALID_CREDENTIALS, "invalid_grant")
    found = due_notifications(i, sent(K.TRANSIENT_PERSISTING), hours(7), SETTINGS, has_admins=False)
    assert kinds(found) == [(K.FIRST, Audience.OWNER)]


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (S.REQUEST_INVALID, "bad_request"),
        (S.SYNC_ERROR, "unexpected"),
        (S.SYNC_ERROR, "token_undecryptable"),
    ],
)
def test_operator_failures_go_to_the_webhook_never_the_owner(status: S, cause: str) -> None:
    i = incident(status, cause)
    assert kinds(due_notifications(i, History(), T0, SETTINGS, has_admins=True)) == [
        (K.OPERATORS, Audience.OPERATORS)
    ]
    # no owner reminders or escalation, however long it lasts
    assert due_notifications(i, sent(K.OPERATORS), hours(100), SETTINGS, has_admins=True) == []


def test_resolved_goes_once_to_whoever_was_told() -> None:
    closed = incident(closed=hours(30), reason="recovered")
    assert kinds(
        due_notifications(closed, sent(K.FIRST), hours(30), SETTINGS, has_admins=False)
    ) == [(K.RESOLVED, Audience.OWNER)]
    assert (
        due_notifications(closed, sent(K.FIRST, K.RESOLVED), hours(31), SETTINGS, has_admins=False)
        == []
    )
    # nobody heard of it: nothing to resolve; stopped on purpose: nothing either
    assert due_notifications(closed, History(), hours(30), SETTINGS, has_admins=False) == []
    stopped = incident(closed=hours(30), reason="stopped")
    assert due_notifications(stopped, sent(K.FIRST), hours(30), SETTINGS, has_admins=False) == []
    operators = incident(S.SYNC_ERROR, "x", closed=hours(3), reason="recovered")
    assert kinds(
        due_notifications(operators, sent(K.OPERATORS), hours(3), SETTINGS, has_admins=False)
    ) == [(K.RESOLVED, Audience.OPERATORS)]


def test_failed_runs_are_asked_again_with_a_new_run_key_up_to_a_limit() -> None:
    i = incident()
    once = History(failed_runs={K.FIRST: 1})
    (due,) = due_notifications(i, once, T0, SETTINGS, has_admins=False)
    assert due.run_key == "alert:1:first:1"
    given_up = History(failed_runs={K.FIRST: MAX_RUNS_PER_NOTIFICATION})
    assert due_notifications(i, given_up, T0, SETTINGS, has_admins=False) == []


def test_a_mass_failure_is_one_operators_notice_and_holds_the_owners_emails() -> None:
    google = [(incident(incident_id=n, opened=hours(0.1 * n)), "google") for n in range(1, 7)]
    picture = mass_failures(google, {"google": 10, "microsoft": 10}, hours(1), SETTINGS)
    (burst,) = picture.bursts
    assert (burst.provider, burst.cause, burst.incident_ids) == (
        "google",
        "invalid_grant",
        (1, 2, 3, 4, 5, 6),
    )
    assert burst.run_key == "mass:google:invalid_grant:2026-11-20T10"
    assert ("google", "invalid_grant") in picture.held
    held = due_notifications(
        google[0][0], History(), hours(1), SETTINGS, has_admins=False, held=True
    )
    assert held == []
    # hours later nothing new opens, but while the share stays high owners still wait
    later = mass_failures(google, {"google": 10}, hours(5), SETTINGS)
    assert later.bursts == [] and ("google", "invalid_grant") in later.held


def test_few_or_a_small_share_is_no_mass_failure() -> None:
    four = [(incident(incident_id=n), "google") for n in range(1, 5)]
    assert mass_failures(four, {"google": 4}, hours(0.5), SETTINGS).bursts == []  # under 5
    six = [(incident(incident_id=n), "google") for n in range(1, 7)]
    picture = mass_failures(six, {"google": 13}, hours(0.5), SETTINGS)  # 46 % < 50 %
    assert picture.bursts == [] and not picture.held
    mixed = [(incident(incident_id=n, cause=f"c{n % 2}"), "google") for n in range(1, 11)]
    assert mass_failures(mixed, {"google": 12}, hours(0.5), SETTINGS).bursts == []


def test_settings_from_the_environment() -> None:
    settings = AlertSettings.from_env(
        {
            "TOUCHPOINT_TRANSIENT_ALERT_HOURS": "2",
            "TOUCHPOINT_MASS_FAILURE_SHARE": "0.25",
            "TOUCHPOINT_TENANT_ADMINS": "acme=it@acme.com, cfo@acme.com; globex=ops@globex.com",
        }
    )
    assert settings.transient_after == timedelta(hours=2)
    assert settings.mass_share == 0.25
    assert settings.admins("acme") == ("it@acme.com", "cfo@acme.com")
    assert settings.admins("other") == ()
    with pytest.raises(AlertSettingsError, match="TOUCHPOINT_TENANT_ADMINS"):
        parse_tenant_admins("acme")
    with pytest.raises(AlertSettingsError, match="TOUCHPOINT_TRANSIENT_ALERT_HOURS"):
        AlertSettings.from_env({"TOUCHPOINT_TRANSIENT_ALERT_HOURS": "soon"})
