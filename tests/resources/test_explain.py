"""resources/explain/ on both backends: the verdict of every engagement rule, what each mailbox
did with its copy (synced, trashed, quarantined), a message no mailbox has, and the engagement
tables disagreeing with the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from explain_world import (
    DAY,
    NOW,
    PAST_MEETING,
    SCENARIOS,
    TENANT,
    attendee,
    build_world,
    log_sync,
    mid,
    put_email,
    put_meeting,
    quarantine_email,
    raw_email,
)

from resources.explain.deciding import normalize_message_id
from resources.explain.records import CopyState, Explanation, Hint
from resources.explain.rendering import render_json, render_text
from resources.explain.service import explain_meeting, explain_message
from resources.registry import Registry, UnknownTenantError
from vocabulary.engagement import Exclusion


def explain(world, kind: str, item_id: str) -> Explanation:
    if kind == "message":
        return explain_message(world.warehouse, TENANT, item_id)
    return explain_meeting(world.warehouse, TENANT, item_id, now=NOW)


def verdicts(explanation: Explanation) -> dict[str, str | None]:
    (item,) = explanation.items
    return {a.account_id: a.exclusion.value if a.exclusion else None for a in item.accounts}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rule_is_named_for_each_account(registry: Registry, scenario: str) -> None:
    world = build_world(registry)
    kind, item_id, expected = SCENARIOS[scenario](world)
    explanation = explain(world, kind, item_id)
    assert explanation.found
    assert verdicts(explanation) == expected
    (item,) = explanation.items
    # The scenarios build tables that agree with the rules: logged exactly when engaged.
    assert {a.account_id for a in item.accounts if a.in_table} == {
        a for a, exclusion in expected.items() if exclusion is None
    }
    assert not any(n.hint is Hint.ENGAGEMENTS_NOT_REBUILT for n in explanation.notes)


def test_logged_email_in_plain_words(registry: Registry) -> None:
    world = build_world(registry)
    SCENARIOS["logged_email"](world)
    text = render_text(explain_message(world.warehouse, TENANT, "logged@mail.example"))
    assert text.splitlines() == [
        f"Message {mid('logged')} in tenant acme",
        "  Seen by: ann@acme.com (google) received 2026-11-30 14:02 UTC, synced",
        "  Accounts:",
        "    globex  logged (contacts: jo@globex.com)",
        "    initech not logged: no participant is a contact of this account",
    ]


def test_before_authorization_names_the_connection_time(registry: Registry) -> None:
    world = build_world(registry)
    SCENARIOS["before_authorization"](world)
    text = render_text(explain_message(world.warehouse, TENANT, mid("early")))
    assert (
        "globex  not logged: it was received before its mailbox was connected (from "
        "2026-11-10 09:00 UTC) and that day was not back-synced" in text
    )


def test_a_copy_moved_to_trash_is_shown_and_the_live_copy_decides(registry: Registry) -> None:
    world = build_world(registry)
    trashed_at = DAY + timedelta(hours=1, minutes=8)
    copies = [
        raw_email(world.ann, mid("m"), DAY, "jo@globex.com", ["ann@acme.com", "bo@acme.com"]),
        raw_email(world.bo, mid("m"), DAY + timedelta(minutes=1), "jo@globex.com",
                  ["ann@acme.com", "bo@acme.com"], removed_at=trashed_at,
                  removed_reason="trashed"),
    ]  # fmt: skip
    put_email(world, copies, engaged=["globex"])
    explanation = explain_message(world.warehouse, TENANT, mid("m"))
    assert [(c.owner_email, c.state) for c in explanation.copies] == [
        ("ann@acme.com", CopyState.SYNCED),
        ("bo@acme.com", CopyState.REMOVED),
    ]
    assert verdicts(explanation)["globex"] is None
    assert (
        "bo@acme.com (microsoft) received 2026-11-30 14:03 UTC, synced, then moved to trash "
        "2026-11-30 15:10 UTC" in render_text(explanation)
    )


def test_a_message_deleted_from_every_mailbox_is_decided_by_no_rule(registry: Registry) -> None:
    world = build_world(registry)
    copy = raw_email(world.ann, mid("gone"), DAY, "jo@globex.com", ["ann@acme.com"],
                     removed_at=DAY + timedelta(hours=1), removed_reason="deleted")  # fmt: skip
    put_email(world, [copy])
    explanation = explain_message(world.warehouse, TENANT, mid("gone"))
    assert explanation.items == ()
    assert [n.hint for n in explanation.notes] == [Hint.NO_LIVE_COPY]
    assert "(deleted)" in render_text(explanation)


def test_a_quarantined_copy_is_matched_by_its_excerpt_and_others_are_said_unknown(
    registry: Registry,
) -> None:
    world = build_world(registry)
    quarantine_email(world, world.bo, "AAMk-1", f'{{"internetMessageId": "{mid("bad")}", "x')
    quarantine_email(world, world.ann, "18c-2", '{"raw": "RnJvbTog')
    explanation = explain_message(world.warehouse, TENANT, mid("bad"))
    (copy,) = explanation.copies
    assert (copy.owner_email, copy.state, copy.reason) == (
        "bo@acme.com",
        CopyState.QUARANTINED,
        "invalid_json",
    )
    assert explanation.items == ()
    assert [(g.owner_email, g.count) for g in explanation.unmatched_quarantine] == [
        ("ann@acme.com", 1)
    ]
    assert {Hint.NO_LIVE_COPY, Hint.MAYBE_QUARANTINED} <= {n.hint for n in explanation.notes}
    text = render_text(explanation)
    assert "bo@acme.com (microsoft) quarantined 2026-11-30 14:07 UTC, unreadable: invalid_json" in (
        text
    )
    assert "quarantined, id not shown: ann@acme.com 2026-11-30: 1 (invalid_json)" in text


def test_a_message_no_mailbox_has_lists_the_possible_causes(registry: Registry) -> None:
    world = build_world(registry)
    log_sync(world, world.ann, DAY.date())
    explanation = explain_message(world.warehouse, TENANT, mid("nowhere"))
    assert not explanation.found
    assert [n.hint for n in explanation.notes] == [
        Hint.NOT_IN_SYNCED_FOLDER,
        Hint.MAILBOX_NOT_CONNECTED,
        Hint.NOT_YET_SYNCED,
        Hint.BEFORE_AUTHORIZATION,
    ]
    text = render_text(explanation)
    assert "Seen by: no connected mailbox" in text
    assert "Possible causes:" in text
    assert "ann@acme.com up to 2026-11-30; bo@acme.com not synced yet" in text
    assert "only ann@acme.com, bo@acme.com are connected" in text


def test_the_table_is_flagged_when_it_disagrees_with_the_rules(registry: Registry) -> None:
    world = build_world(registry)
    # Logged for initech by an older CRM; globex's row was never built.
    put_email(world, [raw_email(world.ann, mid("m"), DAY, "jo@globex.com", ["ann@acme.com"])],
              engaged=["initech"])  # fmt: skip
    explanation = explain_message(world.warehouse, TENANT, mid("m"))
    (item,) = explanation.items
    assert [(a.account_id, a.engaged, a.in_table, a.stale) for a in item.accounts] == [
        ("globex", True, False, True),
        ("initech", False, True, True),
    ]
    (note,) = explanation.notes
    assert note.hint is Hint.ENGAGEMENTS_NOT_REBUILT
    assert "materialize email_engagements for tenant acme, day 2026-11-30" in note.text
    text = render_text(explanation)
    assert "globex  not logged yet: the rules log it (contacts: jo@globex.com)" in text
    assert "initech logged, but the rules now say no: no participant is a contact" in text


def test_copies_not_merged_yet_are_judged_and_the_rebuild_named(registry: Registry) -> None:
    world = build_world(registry)
    put_email(world, [raw_email(world.ann, mid("m"), DAY, "jo@globex.com", ["ann@acme.com"])],
              deduplicate=False)  # fmt: skip
    explanation = explain_message(world.warehouse, TENANT, mid("m"))
    (item,) = explanation.items
    assert not item.deduplicated
    assert verdicts(explanation)["globex"] is None
    assert "emails has no row for it yet: materialize emails for tenant acme, day 2026-11-30" in {
        n.text for n in explanation.notes
    }


def test_each_held_occurrence_of_a_series_is_judged_on_its_own(registry: Registry) -> None:
    world = build_world(registry)
    accepted = [attendee("jo@globex.com", "accepted"), attendee("ann@acme.com", "accepted")]
    first = put_meeting(world, "uid-series", PAST_MEETING, accepted, engaged=["globex"])
    later = PAST_MEETING + timedelta(days=7)
    put_meeting(world, "uid-series", later, accepted)
    explanation = explain_meeting(world.warehouse, TENANT, "uid-series", now=NOW)
    assert [(i.key, i.start_at) for i in explanation.items] == [
        (first, PAST_MEETING),
        (f"uid-series|{later.isoformat()}", later),
    ]
    assert [a.exclusion for a in explanation.items[1].accounts] == [Exclusion.NOT_STARTED] * 2
    text = render_text(explanation)
    assert "  Occurrence 2026-11-30 15:00 UTC (" in text
    assert "    Calendars: ann@acme.com (google) synced 2026-12-01 12:00 UTC" in text
    assert "      globex  logged (contacts: jo@globex.com)" in text
    assert "      initech not logged: the meeting has not started yet" in text


def test_meeting_rules_in_plain_words(registry: Registry) -> None:
    world = build_world(registry)
    for name in ("organised_by_someone_else", "no_contact_accepted"):
        SCENARIOS[name](world)
    invited = render_text(explain_meeting(world.warehouse, TENANT, "uid-invited", now=NOW))
    assert "not organised by a connected owner (organiser: jo@globex.com)" in invited
    declined = render_text(explain_meeting(world.warehouse, TENANT, "uid-declined", now=NOW))
    assert "globex  not logged: this account's contacts were invited but none accepted" in declined
    assert "initech not logged: no attendee is a contact of this account" in declined


def test_json_has_stable_keys_and_exclusion_values(registry: Registry) -> None:
    world = build_world(registry)
    SCENARIOS["blocked_contact"](world)
    data = render_json(explain_message(world.warehouse, TENANT, mid("spy")))
    assert set(data) == {
        "kind", "tenant_id", "message_id", "found", "copies", "messages", "notes",
        "unmatched_quarantine",
    }  # fmt: skip
    (message,) = data["messages"]
    assert message["email_key"] == mid("spy")
    assert message["accounts"][1] == {
        "account_id": "initech",
        "name": "Initech",
        "engaged_by_rules": False,
        "exclusion": "contact_on_blocked_domain",
        "contacts": [],
        "logged": False,
        "table_disagrees": False,
    }


def test_message_ids_are_matched_with_or_without_brackets() -> None:
    assert normalize_message_id(" abc@host ") == "<abc@host>"
    assert normalize_message_id("<abc@host>") == "<abc@host>"


def test_an_unknown_tenant_is_an_error(registry: Registry) -> None:
    build_world(registry)
    with pytest.raises(UnknownTenantError):
        explain_message(registry.warehouse, "nobody", mid("x"))


def test_nothing_is_explained_across_tenants(registry: Registry) -> None:
    world = build_world(registry)
    SCENARIOS["logged_email"](world)
    registry.tenants.add_tenant("globex", "Globex")
    assert not explain_message(registry.warehouse, "globex", mid("logged")).found


def test_an_occurrence_no_calendar_holds_any_more_names_the_rebuild(registry: Registry) -> None:
    world = build_world(registry)
    SCENARIOS["logged_meeting"](world)
    raw = world.warehouse.table("raw_meetings")
    with world.warehouse.write() as db:
        db.execute(raw.delete())
    explanation = explain_meeting(world.warehouse, TENANT, "uid-held", now=NOW)
    assert verdicts(explanation)["globex"] is None
    assert [n.hint for n in explanation.notes] == [Hint.DEDUPLICATED_NOT_REBUILT]
    assert "materialize meetings for tenant acme, day 2026-11-30" in explanation.notes[0].text
