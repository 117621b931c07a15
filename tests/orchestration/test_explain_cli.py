"""`touchpoint explain` on both backends: every rule through the command's JSON, the plain
words for an email and a meeting, a message no mailbox has, an unknown tenant, and no token in
any output."""

from __future__ import annotations

import json

import pytest
from explain_world import SCENARIOS, TOKEN, World, build_world, log_sync, mid

from orchestration.cli import main
from resources.registry import Registry


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--warehouse-url", url, "explain", "--tenant", "acme", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def ask(kind: str, item_id: str) -> list[str]:
    return ["--message-id" if kind == "message" else "--meeting", item_id]


@pytest.fixture
def world(registry: Registry) -> World:
    return build_world(registry)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_rule_through_the_json(
    world: World, warehouse_url: str, capsys: pytest.CaptureFixture[str], scenario: str
) -> None:
    kind, item_id, expected = SCENARIOS[scenario](world)
    code, out, err = run(capsys, warehouse_url, *ask(kind, item_id), "--json")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert data["found"] is True
    items = data["messages" if kind == "message" else "occurrences"]
    (item,) = items
    assert {a["account_id"]: a["exclusion"] for a in item["accounts"]} == expected
    assert {a["account_id"]: a["logged"] for a in item["accounts"]} == {
        a: exclusion is None for a, exclusion in expected.items()
    }
    assert TOKEN not in out


def test_an_email_in_plain_words(
    world: World, warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SCENARIOS["logged_email"](world)
    code, out, _ = run(capsys, warehouse_url, "--message-id", mid("logged"))
    assert code == 0
    assert out.splitlines() == [
        "Message <logged@mail.example> in tenant acme",
        "  Seen by: ann@acme.com (google) received 2026-11-30 14:02 UTC, synced",
        "  Accounts:",
        "    globex  logged (contacts: jo@globex.com)",
        "    initech not logged: no participant is a contact of this account",
    ]


def test_a_meeting_in_plain_words(
    world: World, warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SCENARIOS["cancelled"](world)
    code, out, _ = run(capsys, warehouse_url, "--meeting", "uid-cancelled")
    assert code == 0
    assert out.splitlines()[:2] == [
        "Meeting uid-cancelled in tenant acme",
        "  Occurrence 2026-11-30 15:00 UTC (uid-cancelled|2026-11-30T15:00:00+00:00), "
        "cancelled, organised by ann@acme.com",
    ]
    assert "      globex  not logged: the meeting was cancelled" in out


def test_a_message_no_mailbox_has(
    world: World, warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    log_sync(world, world.bo, world.bo.authorized_at.date())
    code, out, _ = run(capsys, warehouse_url, "--message-id", "nowhere@mail.example")
    assert code == 0
    assert "Message <nowhere@mail.example> in tenant acme" in out
    assert "Seen by: no connected mailbox" in out
    assert "bo@acme.com up to 2026-11-20" in out
    assert "drafts, spam/junk and trash/deleted items are never synced" in out
    code, out, _ = run(capsys, warehouse_url, "--message-id", "nowhere@mail.example", "--json")
    data = json.loads(out)
    assert (data["found"], data["messages"]) == (False, [])
    assert "not_yet_synced" in {n["code"] for n in data["notes"]}


def test_an_unknown_tenant_exits_2_with_one_line(
    world: World, warehouse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--warehouse-url", warehouse_url, "explain", "--tenant", "nobody",
                 "--message-id", mid("x")])  # fmt: skip
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1
    assert err.startswith("touchpoint: error:") and "nobody" in err


def test_one_of_message_id_or_meeting_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--tenant", "acme"])
    assert exit_.value.code == 2
    assert "one of the arguments --message-id --meeting is required" in capsys.readouterr().err
