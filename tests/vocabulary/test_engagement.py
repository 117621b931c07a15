"""The sync rules (vocabulary/engagement.py): one example test per rule, and properties that
hold for any participant set (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from vocabulary.engagement import (
    Authorization,
    Direction,
    Exclusion,
    Meeting,
    MeetingAttendee,
    Message,
    TenantPeople,
    email_direction,
    email_verdicts,
    engaged_accounts,
    is_blocked,
    is_internal,
    meeting_verdicts,
)

AUTHORIZED = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
AFTER = AUTHORIZED + timedelta(days=1)
PEOPLE = TenantPeople.of(
    internal_domains=["acme.example", "acme-corp.example"],
    blocked_domains=["rival.example", "personal.example"],
    owner_addresses=["Owner@acme.example", "o@Owner-Alias.example"],
)
CRM = {
    "ann@globex.example": frozenset({"globex"}),
    "bob@initech.example": frozenset({"initech"}),
    "eve@both.example": frozenset({"globex", "initech"}),
    "spy@rival.example": frozenset({"initech"}),
}
ACCOUNTS = ("globex", "initech")
AUTH = Authorization(AUTHORIZED)


def verdicts(message: Message, auth: Authorization = AUTH) -> dict[str, Exclusion | None]:
    return {v.account_id: v.exclusion for v in email_verdicts(message, PEOPLE, auth, CRM, ACCOUNTS)}


def mail(*to: str, sender: str = "owner@acme.example", **kw) -> Message:
    return Message(sender, tuple(to), received_at=kw.pop("received_at", AFTER), **kw)


def test_a_contact_on_the_message_engages_its_account_and_only_it() -> None:
    message = mail("Ann@Globex.example ")
    result = email_verdicts(message, PEOPLE, AUTH, CRM, ACCOUNTS)
    assert engaged_accounts(result) == {"globex": ("ann@globex.example",)}
    assert verdicts(message)["initech"] is Exclusion.NO_CONTACT


def test_contacts_of_two_accounts_or_one_contact_in_two_accounts_engage_both() -> None:
    assert verdicts(mail("ann@globex.example", "bob@initech.example")) == dict.fromkeys(ACCOUNTS)
    assert verdicts(mail("eve@both.example")) == dict.fromkeys(ACCOUNTS)


def test_cc_and_seen_bcc_count_like_to() -> None:
    assert verdicts(mail(cc_addresses=("bob@initech.example",)))["initech"] is None
    assert verdicts(mail(bcc_addresses=("bob@initech.example",)))["initech"] is None


def test_internal_only_mail_engages_nothing() -> None:
    for message in [
        mail("colleague@acme.example", "x@acme-corp.example"),
        mail("o@owner-alias.example", sender="someone@sub.acme.example"),
        mail(),
    ]:
        assert set(verdicts(message).values()) == {Exclusion.INTERNAL_ONLY}


def test_a_colleague_who_is_not_the_owner_still_logs_mail_with_a_contact() -> None:
    assert verdicts(mail("ann@globex.example", sender="colleague@acme.example"))["globex"] is None
    assert verdicts(mail("colleague@acme.example", sender="ann@globex.example"))["globex"] is None


def test_blocked_participants_are_ignored_and_blocked_only_mail_engages_nothing() -> None:
    assert is_blocked("x@mail.rival.example", PEOPLE) and not is_blocked(
        "owner@acme.example", PEOPLE
    )
    assert set(verdicts(mail("a@rival.example", "b@personal.example")).values()) == {
        Exclusion.BLOCKED_ONLY
    }
    # a contact on a blocked domain does not count, and the verdict says so
    mixed = verdicts(mail("spy@rival.example", "stranger@elsewhere.example"))
    assert mixed == {"globex": Exclusion.NO_CONTACT, "initech": Exclusion.BLOCKED_CONTACT}
    assert verdicts(mail("spy@rival.example", "bob@initech.example"))["initech"] is None


def test_mail_before_authorization_engages_nothing_unless_its_day_was_back_synced() -> None:
    early = mail("ann@globex.example", received_at=AUTHORIZED - timedelta(seconds=1))
    assert verdicts(early)["globex"] is Exclusion.BEFORE_AUTHORIZATION
    back_synced = Authorization(AUTHORIZED, frozenset({date(2026, 11, 10)}))
    assert verdicts(early, back_synced)["globex"] is None
    other_day = Authorization(AUTHORIZED, frozenset({date(2026, 11, 9)}))
    assert verdicts(early, other_day)["globex"] is Exclusion.BEFORE_AUTHORIZATION
    assert verdicts(mail("ann@globex.example", received_at=AUTHORIZED))["globex"] is None


def test_drafts_spam_and_trash_never_engage() -> None:
    for label in ("DRAFT", "SPAM", "TRASH"):
        message = mail("ann@globex.example", labels=("INBOX", label))
        assert set(verdicts(message).values()) == {Exclusion.NOT_SYNCABLE}
    assert verdicts(mail("ann@globex.example", labels=("INBOX", "SENT")))["globex"] is None


def test_direction_follows_the_sender() -> None:
    assert email_direction("Owner@Acme.example", PEOPLE) is Direction.OUTBOUND
    assert email_direction("o@owner-alias.example", PEOPLE) is Direction.OUTBOUND
    assert email_direction("colleague@acme-corp.example", PEOPLE) is Direction.OUTBOUND
    assert email_direction("ann@globex.example", PEOPLE) is Direction.INBOUND
    assert email_direction(None, PEOPLE) is Direction.INBOUND
    assert is_internal("o@owner-alias.example", PEOPLE)


NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MEETING = Meeting(
    start_at=NOW - timedelta(hours=1),
    organized_by_owner=True,
    attendees=(
        MeetingAttendee("owner@acme.example", "organizer"),
        MeetingAttendee("ANN@globex.example", "accepted"),
        MeetingAttendee("bob@initech.example", "declined"),
    ),
)


def meeting(m: Meeting = MEETING) -> dict[str, Exclusion | None]:
    return {v.account_id: v.exclusion for v in meeting_verdicts(m, NOW, PEOPLE, CRM, ACCOUNTS)}


def test_a_started_meeting_the_owner_organised_engages_accounts_whose_contact_accepted() -> None:
    assert meeting() == {"globex": None, "initech": Exclusion.NO_CONTACT_ACCEPTED}
    tentative = replace(MEETING, attendees=(MeetingAttendee("ann@globex.example", "tentative"),))
    assert meeting(tentative) == {
        "globex": Exclusion.NO_CONTACT_ACCEPTED,
        "initech": Exclusion.NO_CONTACT,
    }


def test_cancelled_not_organised_by_owner_and_future_meetings_engage_nothing() -> None:
    for changed, reason in [
        (replace(MEETING, status="cancelled"), Exclusion.CANCELLED),
        (replace(MEETING, organized_by_owner=False), Exclusion.NOT_ORGANISED_BY_OWNER),
        (replace(MEETING, start_at=NOW + timedelta(minutes=1)), Exclusion.NOT_STARTED),
    ]:
        assert set(meeting(changed).values()) == {reason}
    assert meeting(replace(MEETING, start_at=NOW))["globex"] is None


# Properties over generated participant sets

LOCALS = st.sampled_from(["ann", "bob", "eve", "spy", "x", "owner", "o"])
DOMAINS = st.sampled_from(
    ["globex.example", "initech.example", "both.example", "rival.example", "personal.example",
     "acme.example", "acme-corp.example", "owner-alias.example", "elsewhere.example"]
)  # fmt: skip
ADDRESSES = st.builds(lambda local, domain: f"{local}@{domain}", LOCALS, DOMAINS)
INTERNAL = st.builds(
    lambda local, domain: f"{local}@{domain}",
    LOCALS,
    st.sampled_from(["acme.example", "acme-corp.example", "sub.acme.example"]),
)
BLOCKED = st.builds(
    lambda local, domain: f"{local}@{domain}",
    LOCALS,
    st.sampled_from(["rival.example", "personal.example", "mail.rival.example"]),
)
MESSAGES = st.builds(
    lambda sender, to, cc, bcc: Message(sender, tuple(to), tuple(cc), tuple(bcc), (), AFTER),
    ADDRESSES,
    st.lists(ADDRESSES, max_size=4),
    st.lists(ADDRESSES, max_size=3),
    st.lists(ADDRESSES, max_size=2),
)


def engaged(message: Message) -> dict[str, tuple[str, ...]]:
    return engaged_accounts(email_verdicts(message, PEOPLE, AUTH, CRM, ACCOUNTS))


@settings(max_examples=300, deadline=None)
@given(st.lists(INTERNAL, min_size=1, max_size=6), st.data())
def test_internal_only_mail_never_engages(internal: list[str], data: st.DataObject) -> None:
    split = data.draw(st.integers(0, len(internal) - 1))
    message = Message(internal[split], tuple(internal[:split]), tuple(internal[split + 1 :]))
    message = replace(message, received_at=AFTER)
    assert engaged(message) == {}


@settings(max_examples=300, deadline=None)
@given(MESSAGES, BLOCKED, st.sampled_from(["to", "cc", "bcc"]))
def test_adding_a_blocked_participant_never_adds_an_engagement(
    message: Message, blocked: str, where: str
) -> None:
    field_name = f"{where}_addresses"
    widened = replace(message, **{field_name: (*getattr(message, field_name), blocked)})
    before, after = engaged(message), engaged(widened)
    assert set(after) <= set(before)
    assert all(set(after[a]) <= set(before[a]) for a in after)


@settings(max_examples=300, deadline=None)
@given(MESSAGES, st.randoms(use_true_random=False))
def test_the_result_ignores_address_case_and_header_order(message: Message, rng) -> None:
    def shuffle_case(addresses: tuple[str, ...]) -> tuple[str, ...]:
        changed = ["".join(c.upper() if rng.random() < 0.5 else c for c in a) for a in addresses]
        rng.shuffle(changed)
        return tuple(f" {a} " for a in changed)

    variant = replace(
        message,
        from_address=shuffle_case((message.from_address or "",))[0],
        to_addresses=shuffle_case(message.to_addresses),
        cc_addresses=shuffle_case(message.cc_addresses),
        bcc_addresses=shuffle_case(message.bcc_addresses),
    )
    assert email_verdicts(variant, PEOPLE, AUTH, CRM, ACCOUNTS) == email_verdicts(
        message, PEOPLE, AUTH, CRM, ACCOUNTS
    )
    assert email_direction(variant.from_address, PEOPLE) == email_direction(
        message.from_address, PEOPLE
    )
