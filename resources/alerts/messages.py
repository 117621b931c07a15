"""Notifications in plain words: the owner's email (text and HTML) and the operators' JSON.

Every sentence is ours, chosen by status and cause code; nothing a provider said is quoted.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from resources.alerts.facts import AlertFacts
from resources.registry.incident_rules import NotificationKind as K
from vocabulary.status import TOKEN_OWNER_MISMATCH
from vocabulary.status import ConnectionStatus as S

ATTENTION_SUBJECT = "Your Mailbox and Calendar integration needs attention"

SUBJECTS = {
    K.FIRST: ATTENTION_SUBJECT,
    K.TRANSIENT_PERSISTING: ATTENTION_SUBJECT,
    K.REMINDER_24H: f"Reminder: {ATTENTION_SUBJECT}",
    K.REMINDER_72H: f"Second reminder: {ATTENTION_SUBJECT}",
    K.ESCALATION: "Still not fixed after 3 days: a Mailbox and Calendar integration",
    K.RESOLVED: "Your Mailbox and Calendar integration is working again",
}

_CAUSES = {
    S.INVALID_CREDENTIALS: (
        "{label} refused Touchpoint's sign-in for this mailbox. The password was probably "
        "changed, or the sign-in expired or was revoked (for example after months without use, "
        "or when an administrator signed the account out everywhere)."
    ),
    S.INSUFFICIENT_PERMISSIONS: (
        "Touchpoint no longer has permission to read this mailbox and calendar. Third-party "
        "access was probably removed from the account, or your organisation's administrator "
        "blocked consent for the app."
    ),
    S.ACCOUNT_SUSPENDED: (
        "{label} reports this account as suspended or disabled, most often because a "
        "subscription payment is overdue or an administrator suspended it."
    ),
    S.NO_SERVICE_CONNECTION: (
        "{label} has not been reachable for Touchpoint: the provider is probably having "
        "downtime. Nothing was changed on your side."
    ),
    S.THROTTLED: (
        "{label} is limiting how much Touchpoint may read, because too much traffic reaches "
        "this mailbox from the apps connected to it."
    ),
}
_OTHER_CAUSE = "Touchpoint cannot sync this mailbox at the moment."
_OWNER_MISMATCH = (
    "The sign-in Touchpoint holds belongs to another account than {mailbox}: reconnect while "
    "signed in as {mailbox}."
)

_HELPS = {
    S.THROTTLED: (
        "What helps, as {label} advises: disconnect the apps you no longer use from your "
        "account, so fewer connected apps share its limits. Syncing resumes on its own when "
        "the traffic drops; reconnecting does not speed it up."
    ),
    S.NO_SERVICE_CONNECTION: (
        "Syncing resumes on its own when {label} is back; if it does not, reconnect below."
    ),
}
_RECONNECT_HELPS = "Reconnecting takes a minute: open the link below and sign in to {mailbox}."


def when(moment: datetime) -> str:
    return f"{moment:%d %B %Y, %H:%M} UTC"


def cause_words(facts: AlertFacts) -> str:
    """The likely cause in plain words, from our status and cause code only."""
    if facts.cause_code == TOKEN_OWNER_MISMATCH:
        return _OWNER_MISMATCH.format(mailbox=facts.mailbox)
    return _CAUSES.get(facts.status, _OTHER_CAUSE).format(label=facts.provider_label)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def missing_words(facts: AlertFacts) -> str:
    mail, calendar = facts.missing_days.get("mail", 0), facts.missing_days.get("calendar", 0)
    return f"Missing so far: {_days(mail)} of mail and {_days(calendar)} of meetings."


def recovered_words(facts: AlertFacts) -> str:
    if facts.recovered is None:
        return ""
    return (
        f"Recovered: {facts.recovered.get('mail', 0)} messages and "
        f"{facts.recovered.get('calendar', 0)} meetings synced again for the days it missed."
    )


def paragraphs(facts: AlertFacts, kind: K, link: str | None) -> list[str]:
    """The body, one string per paragraph; the link, when given, is the last one."""
    mailbox = facts.mailbox
    if kind is K.RESOLVED:
        found = [
            f"Touchpoint syncs the {facts.provider_label} mailbox {mailbox} and its calendar "
            f"again. The problem began on {when(facts.opened_at)}"
            + (f" and was fixed on {when(facts.closed_at)}." if facts.closed_at else "."),
        ]
        if words := recovered_words(facts):
            found.append(words)
        return found
    opening = (
        f"Touchpoint has not been able to sync the {facts.provider_label} mailbox {mailbox} "
        f"(tenant {facts.tenant_name}) since {when(facts.opened_at)}."
    )
    if kind is K.ESCALATION:
        opening = (
            f"You receive this as an administrator of {facts.tenant_name}: the "
            f"{facts.provider_label} mailbox {mailbox} has not synced since "
            f"{when(facts.opened_at)}, and its owner has not reconnected it yet."
        )
    found = [
        opening,
        f"Likely cause: {cause_words(facts)}",
        "Not syncing: mail and calendar. Nothing is lost: the missed days are synced again "
        "once the connection works.",
        missing_words(facts),
    ]
    helps = _HELPS.get(facts.status)
    found.append((helps or _RECONNECT_HELPS).format(label=facts.provider_label, mailbox=mailbox))
    if link:
        found.append(f"Reconnect: {link}")
    return found


def compose_email(
    facts: AlertFacts,
    kind: K,
    *,
    sender: str,
    to: str,
    cc: Sequence[str] = (),
    link: str | None,
) -> EmailMessage:
    """The owner's email: plain text, with an HTML alternative whose one button is the link."""
    message = EmailMessage()
    message["Subject"] = SUBJECTS[kind]
    message["From"] = sender
    message["To"] = to
    if cc:
        message["Cc"] = ", ".join(cc)
    body = paragraphs(facts, kind, link)
    message.set_content("\n\n".join(body) + "\n")
    html_parts = []
    for text in body:
        if link and text == f"Reconnect: {link}":
            html_parts.append(f'<p><a href="{html.escape(link)}">Reconnect</a></p>')
        else:
            html_parts.append(f"<p>{html.escape(text)}</p>")
    message.add_alternative(
        "<!doctype html><html><body>" + "".join(html_parts) + "</body></html>", subtype="html"
    )
    return message


def incident_payload(facts: AlertFacts, kind: K) -> dict[str, Any]:
    """The operators' JSON about one incident: the same facts as an email, as data."""
    return {
        "event": "touchpoint.incident",
        "kind": kind.value,
        "incident_id": facts.incident_id,
        "tenant_id": facts.tenant_id,
        "connection_id": facts.connection_id,
        "mailbox": facts.mailbox,
        "provider": facts.provider_label,
        "status": facts.status.value,
        "cause_code": facts.cause_code,
        "cause": cause_words(facts),
        "opened_at": facts.opened_at.isoformat(),
        "closed_at": facts.closed_at.isoformat() if facts.closed_at else None,
        "missing_days": dict(facts.missing_days),
        "recovered": dict(facts.recovered) if facts.recovered is not None else None,
    }


def mass_failure_payload(
    *, provider_label: str, cause: str, incident_ids: Sequence[int], share: float, hour: str
) -> dict[str, Any]:
    """One operators' incident for many connections failing alike (owners' emails held)."""
    return {
        "event": "touchpoint.mass_failure",
        "kind": K.OPERATORS.value,
        "provider": provider_label,
        "cause_code": cause,
        "connections": len(incident_ids),
        "share": round(share, 3),
        "hour": hour,
        "incident_ids": list(incident_ids),
        "owners_notified": False,
        "note": (
            "Many connections of one provider failed with one cause within the hour: likely the "
            "deployment's client credentials or a provider outage. Owners' emails are held "
            "while it lasts."
        ),
    }
