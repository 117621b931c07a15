"""The sync rules: when an email or a meeting is an engagement of a CRM account, and its
direction. Pure and standard-library only, so the engagement assets, their checks and
`touchpoint explain` all apply the same rules; docs/analytics.md says them in plain words.

Every decision names the rule that kept something out (`Exclusion`), never only yes or no.
Addresses are compared after `normalize_address` (case and surrounding spaces never matter), and
participant lists are treated as sets (header order never matters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from vocabulary.records import SKIPPED_LABELS
from vocabulary.text import normalize_address


class Exclusion(StrEnum):
    """Why a message or meeting is not an engagement of an account (the rule that said no)."""

    NOT_SYNCABLE = "draft_spam_or_trash"
    BEFORE_AUTHORIZATION = "before_authorization"
    INTERNAL_ONLY = "internal_only"
    BLOCKED_ONLY = "blocked_only"
    NO_CONTACT = "no_contact_of_account"
    BLOCKED_CONTACT = "contact_on_blocked_domain"
    CANCELLED = "cancelled"
    NOT_ORGANISED_BY_OWNER = "not_organised_by_owner"
    NOT_STARTED = "not_started"
    NO_CONTACT_ACCEPTED = "no_contact_accepted"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True)
class TenantPeople:
    """Who is internal and who is ignored in one tenant: its internal and blocked domains and
    every connected mailbox owner with their aliases (all normalised on construction)."""

    internal_domains: frozenset[str] = frozenset()
    blocked_domains: frozenset[str] = frozenset()
    owner_addresses: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        internal_domains: Iterable[str],
        blocked_domains: Iterable[str],
        owner_addresses: Iterable[str],
    ) -> TenantPeople:
        return cls(
            frozenset(d.strip().lower().lstrip("@") for d in internal_domains),
            frozenset(d.strip().lower().lstrip("@") for d in blocked_domains),
            frozenset(normalised(owner_addresses)),
        )


@dataclass(frozen=True)
class Authorization:
    """What one connection allows to count: mail received from `authorized_at` on, and mail of
    the UTC days in `back_synced_days`, which an operator recovered on purpose with a back-sync
    (`touchpoint backfill`); the engagement assets pass those days in."""

    authorized_at: datetime
    back_synced_days: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Message:
    """What the email rules read of one message as one mailbox saw it."""

    from_address: str | None
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    bcc_addresses: tuple[str, ...] = ()
    """Only the Bcc the mailbox saw (the sender's copy, or a recipient's own address)."""
    labels: tuple[str, ...] = ()
    received_at: datetime | None = None


@dataclass(frozen=True)
class MeetingAttendee:
    email: str
    response: str = "none"
    """One of vocabulary.records.RESPONSES."""


@dataclass(frozen=True)
class Meeting:
    """What the meeting rules read of one occurrence on the connected owner's calendar."""

    start_at: datetime
    status: str = "confirmed"
    organized_by_owner: bool = False
    attendees: tuple[MeetingAttendee, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """One account's answer for one message or meeting: engaged (with the matched contact
    addresses, sorted) or the rule that kept it out."""

    account_id: str
    exclusion: Exclusion | None = None
    contacts: tuple[str, ...] = field(default=())

    @property
    def engaged(self) -> bool:
        return self.exclusion is None


def normalised(addresses: Iterable[str | None]) -> set[str]:
    """The usable addresses, lower-cased and stripped, as a set (order and repeats dropped)."""
    out = set()
    for address in addresses:
        clean = normalize_address(address) if address else None
        if clean:
            out.add(clean)
    return out


def _on_domain(address: str, domains: frozenset[str]) -> bool:
    domain = address.rpartition("@")[2]
    return any(domain == d or domain.endswith("." + d) for d in domains)


def is_internal(address: str, people: TenantPeople) -> bool:
    """An address is internal when it is on one of the tenant's internal domains (or a
    subdomain) or is a connected owner or one of their aliases: the tenant's own staff, whose
    talk among themselves is not customer engagement."""
    return address in people.owner_addresses or _on_domain(address, people.internal_domains)


def is_blocked(address: str, people: TenantPeople) -> bool:
    """An address on one of the tenant's blocked domains (or a subdomain) is ignored: the tenant
    said mail with those parties (competitors, personal mail, recruiters) is never engagement.
    Internal wins over blocked, so the tenant's own staff are never lost to a blocked domain."""
    return not is_internal(address, people) and _on_domain(address, people.blocked_domains)


def email_participants(message: Message) -> set[str]:
    """From, To, Cc and the Bcc the mailbox saw, normalised, as a set: everyone the message
    was between, whatever the header order or spelling of case."""
    return normalised(
        [
            message.from_address,
            *message.to_addresses,
            *message.cc_addresses,
            *message.bcc_addresses,
        ]
    )


def folder_exclusion(labels: Iterable[str]) -> Exclusion | None:
    """Drafts, spam and trash never engage: a draft was not sent, spam was not asked for, and
    trash was thrown away by its owner."""
    return Exclusion.NOT_SYNCABLE if SKIPPED_LABELS.intersection(labels) else None


def authorization_exclusion(
    received_at: datetime | None, authorization: Authorization
) -> Exclusion | None:
    """Mail received before the connection's authorization engages nothing: the owner agreed
    to log mail from then on, never their history. A day an operator explicitly back-synced is
    the exception: recovering it was a decision, and its mail counts."""
    if received_at is None or received_at >= authorization.authorized_at:
        return None
    if received_at.date() in authorization.back_synced_days:
        return None
    return Exclusion.BEFORE_AUTHORIZATION


def participant_exclusion(participants: set[str], people: TenantPeople) -> Exclusion | None:
    """Mail whose participants are all internal engages nothing (colleagues talking among
    themselves); mail whose only external participants are on blocked domains engages nothing
    (they are ignored). Mail with at least one other external participant may engage."""
    external = {p for p in participants if not is_internal(p, people)}
    if not external:
        return Exclusion.INTERNAL_ONLY
    if all(is_blocked(p, people) for p in external):
        return Exclusion.BLOCKED_ONLY
    return None


def message_exclusion(
    message: Message, people: TenantPeople, authorization: Authorization
) -> Exclusion | None:
    """The first message-wide rule that keeps the message from engaging any account, checked
    in this order: drafts/spam/trash, before authorization, internal only, blocked only."""
    return (
        folder_exclusion(message.labels)
        or authorization_exclusion(message.received_at, authorization)
        or participant_exclusion(email_participants(message), people)
    )


def account_contacts_among(
    addresses: set[str],
    account_id: str,
    accounts_by_email: Mapping[str, frozenset[str]],
    people: TenantPeople,
) -> tuple[tuple[str, ...], bool]:
    """(the addresses that are contacts of the account and count, sorted; whether a contact of
    the account was there but ignored for its blocked domain). A contact matches on its email
    exactly after normalisation, never on its domain: a domain does not say who is a customer."""
    members = {a for a in addresses if account_id in accounts_by_email.get(a, frozenset())}
    counted = {a for a in members if not is_internal(a, people) and not is_blocked(a, people)}
    return tuple(sorted(counted)), bool(members - counted)


def email_verdicts(
    message: Message,
    people: TenantPeople,
    authorization: Authorization,
    accounts_by_email: Mapping[str, frozenset[str]],
    account_ids: Iterable[str],
) -> list[Verdict]:
    """An email engages an account when it passes the message-wide rules and at least one of
    its participants (From, To, Cc, seen Bcc) is a contact of that account; a message with
    contacts of two accounts engages both. Whether the internal side is the mailbox owner or a
    colleague does not matter. One verdict per account, sorted by account id."""
    accounts = sorted(set(account_ids))
    excluded = message_exclusion(message, people, authorization)
    if excluded is not None:
        return [Verdict(a, excluded) for a in accounts]
    participants = email_participants(message)
    verdicts = []
    for account_id in accounts:
        contacts, blocked = account_contacts_among(
            participants, account_id, accounts_by_email, people
        )
        if contacts:
            verdicts.append(Verdict(account_id, None, contacts))
        else:
            reason = Exclusion.BLOCKED_CONTACT if blocked else Exclusion.NO_CONTACT
            verdicts.append(Verdict(account_id, reason))
    return verdicts


def engaged_accounts(verdicts: Iterable[Verdict]) -> dict[str, tuple[str, ...]]:
    """account id -> matched contacts, for the verdicts that engage."""
    return {v.account_id: v.contacts for v in verdicts if v.engaged}


def email_direction(from_address: str | None, people: TenantPeople) -> Direction:
    """Outbound when the sender is the owner, an alias or any internal address (staff wrote
    to the customer); inbound otherwise, including a message without a usable sender."""
    sender = normalize_address(from_address) if from_address else None
    if sender and is_internal(sender, people):
        return Direction.OUTBOUND
    return Direction.INBOUND


def meeting_exclusion(meeting: Meeting, now: datetime) -> Exclusion | None:
    """A meeting engages nothing when it is cancelled (it did not happen), when the connected
    owner did not organise it (an invitation received is not the owner's engagement, and the
    organiser's own copy logs it once), or when it has not started yet (it may still be moved
    or cancelled). Checked in that order."""
    if meeting.status == "cancelled":
        return Exclusion.CANCELLED
    if not meeting.organized_by_owner:
        return Exclusion.NOT_ORGANISED_BY_OWNER
    if meeting.start_at > now:
        return Exclusion.NOT_STARTED
    return None


def meeting_verdicts(
    meeting: Meeting,
    now: datetime,
    people: TenantPeople,
    accounts_by_email: Mapping[str, frozenset[str]],
    account_ids: Iterable[str],
) -> list[Verdict]:
    """A meeting engages an account when it passes `meeting_exclusion` and at least one
    attendee who is a contact of that account accepted: an invitation only declined or left
    unanswered shows no engagement. One verdict per account, sorted by account id."""
    accounts = sorted(set(account_ids))
    excluded = meeting_exclusion(meeting, now)
    if excluded is not None:
        return [Verdict(a, excluded) for a in accounts]
    accepted = normalised(a.email for a in meeting.attendees if a.response == "accepted")
    invited = normalised(a.email for a in meeting.attendees)
    verdicts = []
    for account_id in accounts:
        contacts, _ = account_contacts_among(accepted, account_id, accounts_by_email, people)
        if contacts:
            verdicts.append(Verdict(account_id, None, contacts))
            continue
        any_invited, blocked = account_contacts_among(
            invited, account_id, accounts_by_email, people
        )
        if any_invited:
            verdicts.append(Verdict(account_id, Exclusion.NO_CONTACT_ACCEPTED))
        else:
            reason = Exclusion.BLOCKED_CONTACT if blocked else Exclusion.NO_CONTACT
            verdicts.append(Verdict(account_id, reason))
    return verdicts
