"""The synthetic workload: deterministic, the right size, and as nasty as real mail."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from paths import ROOT
from sandbox.workload import rfc822
from sandbox.workload.generate import floor_hour, generate_workload
from sandbox.workload.model import (
    CALENDAR_READONLY_SCOPE,
    GMAIL_READONLY_SCOPE,
    MICROSOFT_SCOPES,
    SandboxMessage,
    Workload,
)

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def workload() -> Workload:
    return generate_workload(seed=7, now=NOW)


def _digest(w: Workload) -> str:
    h = hashlib.sha256()
    for msg in sorted(w.all_messages(), key=lambda m: (m.mailbox, m.id)):
        h.update(
            f"{msg.mailbox}|{msg.id}|{msg.thread_id}|{msg.label_ids}|{msg.internal_date_ms}".encode()
        )
        h.update(msg.raw)
    h.update(json.dumps(w.to_dict(), sort_keys=True).encode())
    return h.hexdigest()


def test_same_seed_same_bytes_other_seed_other_bytes(workload: Workload) -> None:
    again = generate_workload(seed=7, now=NOW)
    assert _digest(again) == _digest(workload)
    assert _digest(generate_workload(seed=8, now=NOW)) != _digest(workload)


def test_deterministic_across_processes_and_hash_seeds(workload: Workload) -> None:
    code = (
        "from datetime import datetime, UTC; import sys;"
        "sys.path[:0] = ['tests', 'tests/sandbox'];"
        "from test_workload import _digest;"
        "from sandbox.workload.generate import generate_workload;"
        "print(_digest(generate_workload(seed=7, now=datetime(2026, 11, 20, 15, tzinfo=UTC))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == _digest(workload)


def test_shape_and_counts(workload: Workload) -> None:
    assert len(workload.tenants) == 3
    assert len({t.slug for t in workload.tenants}) == 3
    for tenant in workload.tenants:
        assert re.fullmatch(r"[a-z0-9-]+", tenant.slug)
        assert tenant.internal_domains and tenant.blocked_domains and tenant.time_zone
        assert tenant.accounts and tenant.contacts
        account_ids = {a.account_id for a in tenant.accounts}
        assert all(c.account_id in account_ids for c in tenant.contacts)
        assert all(c.email == c.email.lower() for c in tenant.contacts)
        boxes = [m for m in workload.mailboxes if m.tenant == tenant.slug]
        assert len(boxes) == 4
    tokens = [m.refresh_token for m in workload.mailboxes]
    assert len(set(tokens)) == len(tokens)
    for box in workload.mailboxes:
        assert box.provider == "google"
        assert re.fullmatch(r"1//sbx-[0-9a-f]+", box.refresh_token)
        assert box.scopes == [GMAIL_READONLY_SCOPE, CALENDAR_READONLY_SCOPE]
        assert box.aliases and box.address not in box.aliases
        assert box.refresh_token not in repr(box)
    # 14 complete days of 20 per mailbox, plus 15/24 of a day for today (anchored at 15:00).
    assert workload.days[0] == (NOW - timedelta(days=14)).date()
    assert workload.days[-1] == NOW.date()
    for box in workload.mailboxes:
        msgs = workload.messages[box.address]
        assert len(msgs) == 14 * 20 + round(20 * 15 / 24)
        per_day = Counter(
            datetime.fromtimestamp(m.internal_date_ms / 1000, tz=UTC).date() for m in msgs
        )
        assert all(per_day[d] == 20 for d in workload.days[:-1])
        assert all(m.internal_date_ms < NOW.timestamp() * 1000 for m in msgs)
    assert 3000 <= workload.message_count <= 4000
    ids = [m.id for m in workload.all_messages()]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
    json.dumps(workload.to_dict())


def test_default_now_is_the_current_utc_hour() -> None:
    w = generate_workload(days=1, tenants=1, mailboxes_per_tenant=1, messages_per_mailbox_per_day=2)
    assert w.now == floor_hour(datetime.now(UTC)) or w.now == floor_hour(
        datetime.now(UTC) - timedelta(minutes=1)
    )
    assert w.now.minute == 0 and w.now.second == 0 and w.now.tzinfo is not None


def test_truth_fields_agree_with_an_independent_parse(workload: Workload) -> None:
    for msg in workload.all_messages():
        parsed = message_from_bytes(msg.raw, policy=policy.default)
        subject = parsed["Subject"]
        assert (str(subject) if subject is not None else None) == msg.subject, msg.raw[:400]
        assert [a.addr_spec.lower() for a in parsed["From"].addresses] == [msg.from_address]
        to = parsed["To"].addresses if parsed["To"] else ()
        assert [a.addr_spec.lower() for a in to] == msg.to_addresses
        cc = parsed["Cc"].addresses if parsed["Cc"] else ()
        assert [a.addr_spec.lower() for a in cc] == msg.cc_addresses
        assert parsed["Message-ID"] == msg.internet_message_id
        assert b"\r\n" in msg.raw and b"\n" not in msg.raw.replace(b"\r\n", b"")


def _heads(msg: SandboxMessage) -> list[tuple[str, str]]:
    return rfc822.raw_headers(msg.raw)


def test_the_nasty_cases_are_all_present(workload: Workload) -> None:
    msgs = workload.all_messages()
    kinds = Counter(m.kind for m in msgs)
    for kind in (
        "inbound",
        "outbound",
        "from_alias",
        "reply",
        "internal",
        "stranger",
        "blocked",
        "shared",
        "draft",
        "spam",
        "trash",
    ):
        assert kinds[kind] >= 10, kind
    subjects = [rfc822.header(_heads(m), "Subject") or "" for m in msgs]
    assert any(re.search(r"=\?UTF-8\?B\?", s) for s in subjects)
    assert any(re.search(r"=\?ISO-8859-1\?Q\?", s) for s in subjects)
    assert any(m.subject is None for m in msgs if m.kind == "draft")
    # Folded headers: a header line continued on the next line.
    assert sum(1 for m in msgs if re.search(rb"\r\n[ \t]", rfc822.split_head(m.raw)[0])) > 100
    froms = [rfc822.header(_heads(m), "From") or "" for m in msgs]
    assert any(re.match(r'"[^"]*,[^"]*" <', f) for f in froms)  # quoted comma
    assert any('\\"' in f for f in froms)  # escaped quotes in a display name
    assert any(f.startswith("=?utf-8?b?") for f in froms)  # non-ASCII display name
    assert any(m.cc_addresses for m in msgs)
    labels = Counter(label for m in msgs for label in m.label_ids)
    for label in ("INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "Label_1", "Label_3"):
        assert labels[label] > 0, label

    by_box = {box.address: box for box in workload.mailboxes}
    alias_sent = [
        m for m in msgs if m.from_address in by_box[m.mailbox].aliases and "SENT" in m.label_ids
    ]
    assert alias_sent

    for tenant in workload.tenants:
        internal = set(tenant.internal_domains)
        contacts = {c.email for c in tenant.contacts}
        blocked = set(tenant.blocked_domains)
        t_msgs = [m for m in msgs if by_box[m.mailbox].tenant == tenant.slug]

        def parts(m: SandboxMessage) -> set[str]:
            return {m.from_address or "", *m.to_addresses, *m.cc_addresses} - {""}

        assert any(all(a.split("@")[1] in internal for a in parts(m)) for m in t_msgs)
        assert any(any(a.split("@")[1] in blocked for a in parts(m)) for m in t_msgs)
        assert any(parts(m) & contacts for m in t_msgs)
        # The same real message in two mailboxes of the tenant, under different Gmail ids.
        seen: dict[str, set[str]] = defaultdict(set)
        for m in t_msgs:
            seen[m.internet_message_id or ""].add(m.mailbox)
        assert any(len(boxes) >= 2 for boxes in seen.values())

    # Replies: In-Reply-To points at an earlier message of the same thread in the same mailbox.
    index = {(m.mailbox, m.internet_message_id): m for m in msgs}
    replies = [m for m in msgs if m.kind == "reply"]
    for reply in replies:
        parent_id = rfc822.header(_heads(reply), "In-Reply-To")
        refs = (rfc822.header(_heads(reply), "References") or "").split()
        assert parent_id and parent_id in refs
        parent = index[(reply.mailbox, parent_id)]
        assert parent.thread_id == reply.thread_id
        assert parent.internal_date_ms < reply.internal_date_ms
    assert max(len(rfc822.header(_heads(r), "References") or "") for r in replies) > 200


def test_messages_hug_the_utc_day_boundaries(workload: Workload) -> None:
    near_midnight = Counter()
    for msg in workload.all_messages():
        into_day = msg.internal_date_ms % 86_400_000
        if into_day == 0:
            near_midnight["exactly"] += 1
        elif into_day <= 3000:
            near_midnight["after"] += 1
        elif into_day >= 86_400_000 - 3000:
            near_midnight["before"] += 1
    assert near_midnight["exactly"] >= 14
    assert near_midnight["after"] >= 5 and near_midnight["before"] >= 5


def test_five_thousand_messages_fit_one_tenant_day() -> None:
    w = generate_workload(
        seed=1,
        now=NOW,
        tenants=1,
        mailboxes_per_tenant=5,
        days=1,
        messages_per_mailbox_per_day=1000,
        include_today=False,
    )
    assert w.message_count == 5000
    assert w.days == [(NOW - timedelta(days=1)).date()]
    day_start = int(datetime.combine(w.days[0], datetime.min.time(), UTC).timestamp() * 1000)
    assert all(day_start <= m.internal_date_ms < day_start + 86_400_000 for m in w.all_messages())


GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_mixed_providers_round_robin_with_microsoft_identities() -> None:
    w = generate_workload(seed=7, now=NOW, days=3, providers=("google", "microsoft"))
    for tenant in w.tenants:
        boxes = [m for m in w.mailboxes if m.tenant == tenant.slug]
        assert [m.provider for m in boxes] == ["google", "microsoft"] * 2
        assert GUID.fullmatch(tenant.entra_tenant_id)
        for box in boxes:
            msgs = w.messages[box.address]
            if box.provider == "microsoft":
                assert box.refresh_token.startswith("0.AXsbx-")
                assert box.scopes == list(MICROSOFT_SCOPES)
                assert box.entra_tenant_id == tenant.entra_tenant_id
                assert box.user_id and GUID.fullmatch(box.user_id)
                assert all(m.id.startswith("AAMkA") and len(m.id) > 100 for m in msgs)
                assert all(m.thread_id.startswith("AAMQA") for m in msgs)
            else:
                assert box.entra_tenant_id is None and box.user_id is None
                assert all(re.fullmatch(r"[0-9a-f]{16}", m.id) for m in msgs)
            assert w.events[box.address]
        # One real message in a Google and a Microsoft mailbox of the tenant.
        providers_by_mid: dict[str, set[str]] = defaultdict(set)
        for box in boxes:
            for m in w.messages[box.address]:
                providers_by_mid[m.internet_message_id or ""].add(box.provider)
        assert any(p == {"google", "microsoft"} for p in providers_by_mid.values())
    ids = [m.id for m in w.all_messages()]
    assert len(set(ids)) == len(ids)
    assert len({m.user_id for m in w.mailboxes if m.user_id}) == 6
    served = w.to_dict()
    assert served["microsoft_client"]["client_id"]
    assert served["providers"] == ["google", "microsoft"]
    assert all(m["event_count"] > 0 for m in served["mailboxes"])
    with pytest.raises(ValueError):
        generate_workload(seed=7, now=NOW, days=1, providers=("yahoo",))


def test_one_real_message_reaches_two_tenants(workload: Workload) -> None:
    copies = [m for m in workload.all_messages() if m.kind == "cross_tenant"]
    assert len(copies) == 2
    assert len({workload.mailbox(m.mailbox).tenant for m in copies}) == 2
    assert copies[0].internet_message_id == copies[1].internet_message_id
    assert copies[0].raw == copies[1].raw
    assert sorted(copies[0].to_addresses) == sorted(m.mailbox for m in copies)
    tenants_by_mid: dict[str, set[str]] = defaultdict(set)
    for m in workload.all_messages():
        tenants_by_mid[m.internet_message_id or ""].add(workload.mailbox(m.mailbox).tenant)
    shared = [mid for mid, tenants in tenants_by_mid.items() if len(tenants) > 1]
    assert shared == [copies[0].internet_message_id]


def test_mixed_workload_with_calendars_is_deterministic() -> None:
    def digest(w: Workload) -> str:
        h = hashlib.sha256(_digest(w).encode())
        for address, events in sorted(w.events.items()):
            for e in events:
                h.update(f"{address}|{e.uid}|{e.start}|{e.end}|{e.time_zone}|{e.rrule}".encode())
                h.update(repr(sorted(e.exceptions.items())).encode())
                h.update(repr([(a.email, a.response) for a in e.attendees]).encode())
        return h.hexdigest()

    mixed = ("google", "microsoft")
    first = generate_workload(seed=9, now=NOW, days=7, providers=mixed)
    assert digest(first) == digest(generate_workload(seed=9, now=NOW, days=7, providers=mixed))
    assert digest(first) != digest(generate_workload(seed=10, now=NOW, days=7, providers=mixed))
