"""What an explanation holds: plain, frozen facts, so the text and the JSON say the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from vocabulary.engagement import Exclusion


class Kind(StrEnum):
    EMAIL = "email"
    MEETING = "meeting"


class CopyState(StrEnum):
    """What became of one mailbox's (or calendar's) copy."""

    SYNCED = "synced"
    REMOVED = "removed"
    """Synced, then moved out of the synced folders (a tombstone: trash, spam, deleted...)."""
    QUARANTINED = "quarantined"
    """Listed by the provider but unreadable: kept aside with the reason."""


class Hint(StrEnum):
    """A fact worth acting on, or a possible cause when nothing was found (stable codes)."""

    NOT_IN_SYNCED_FOLDER = "not_in_synced_folder"
    NOT_YET_SYNCED = "not_yet_synced"
    MAILBOX_NOT_CONNECTED = "mailbox_not_connected"
    CONNECTION_NOT_ACTIVE = "connection_not_active"
    BEFORE_AUTHORIZATION = "before_authorization"
    MAYBE_QUARANTINED = "maybe_quarantined"
    DEDUPLICATED_NOT_REBUILT = "deduplicated_not_rebuilt"
    ENGAGEMENTS_NOT_REBUILT = "engagements_not_rebuilt"
    NO_LIVE_COPY = "no_live_copy"
    CRM_EMPTY = "crm_empty"


@dataclass(frozen=True)
class Note:
    hint: Hint
    text: str


@dataclass(frozen=True)
class Copy:
    """One connected mailbox's or calendar's copy, as the warehouse holds it."""

    connection_id: str
    owner_email: str
    provider: str
    state: CopyState
    partition_day: date
    at: datetime
    """When it was synced (or quarantined)."""
    received_at: datetime | None = None
    start_at: datetime | None = None
    removed_at: datetime | None = None
    reason: str | None = None
    """The tombstone's removed_reason, or the quarantine reason."""


@dataclass(frozen=True)
class AccountLine:
    """One CRM account's answer: what the rules say now, and whether the engagement table
    actually holds the row (they disagree when the table was built on older inputs)."""

    account_id: str
    name: str
    exclusion: Exclusion | None
    contacts: tuple[str, ...] = ()
    in_table: bool = False

    @property
    def engaged(self) -> bool:
        return self.exclusion is None

    @property
    def stale(self) -> bool:
        """The table disagrees with the rules."""
        return self.engaged != self.in_table


@dataclass(frozen=True)
class Item:
    """One real message (email_key) or one held occurrence (meeting_key) and its verdicts."""

    key: str | None
    """None for an occurrence the deduplicated table does not hold yet."""
    partition_day: date
    deduplicated: bool
    """Whether emails/meetings holds the row; when not, the verdicts read the raw copies."""
    accounts: tuple[AccountLine, ...] = ()
    start_at: datetime | None = None
    """The meeting's start, or when the message was first received."""
    authorized_at: datetime | None = None
    """Emails: from when the mailboxes that saw it allow mail to count."""
    status: str | None = None
    organizer_email: str | None = None
    copies: tuple[Copy, ...] = ()
    """Meetings: the calendars holding this occurrence."""


@dataclass(frozen=True)
class QuarantineGroup:
    """Quarantined items of one mailbox and day that cannot be matched to the id asked about:
    their excerpt does not show it, so they may or may not be the item."""

    owner_email: str
    partition_day: date
    count: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    kind: Kind
    tenant_id: str
    item_id: str
    """The Message-ID or the iCalUID asked about."""
    copies: tuple[Copy, ...] = ()
    items: tuple[Item, ...] = ()
    notes: tuple[Note, ...] = ()
    unmatched_quarantine: tuple[QuarantineGroup, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.copies)
