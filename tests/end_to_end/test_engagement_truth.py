"""Done when: on the sandbox workload, `email_engagements` and `meeting_engagements` hold exactly
what the rules say, as an oracle written here from docs/analytics.md computes it from the
sandbox's truth rows (`/_sandbox/truth`, `/_sandbox/truth/events`) and the workload's CRM.

The oracle is plain set logic on purpose; it calls nothing of vocabulary/engagement.py. The
connections are authorized in the middle of the synced days, the first day is recovered by an
explicit backfill (so it counts), and every case that must be left out (internal only, blocked
only, no contact, before authorization, cancelled, not organised by the owner, not started, no
contact accepted) is asserted to occur in the workload and to be absent from the tables.
Real Dagster runs over real HTTP to the sandbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from assets.emails import emails, raw_emails
from assets.engagement_tables import rebuild_engagements
from assets.engagements import engagements
from assets.meetings import meetings, raw_meetings
from sandbox.workload.model import Tenant, Workload
from stack import WORKLOAD_NOW, Stack, running_stack

AUTHORIZED = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
"""In the middle of the synced days: the morning of 2026-11-18 is before it."""
BACKFILLED = date(2026, 11, 17)
"""Synced by an explicit backfill: before the authorization, yet its mail counts."""
DAYS = [BACKFILLED, date(2026, 11, 18), date(2026, 11, 19), WORKLOAD_NOW.date()]
ASSETS = [raw_emails, emails, raw_meetings, meetings, engagements]


# ---- the oracle, from the rule text -----------------------------------------------------------


@dataclass
class TenantFacts:
    """Who is who in one tenant, from the workload."""

    owners: set[str]
    internal_domains: list[str]
    blocked_domains: list[str]
    zone: ZoneInfo
    accounts_of: dict[str, set[str]]
    """contact address -> its accounts"""
    contact_id: dict[str, str]

    def on(self, address: str, domains: list[str]) -> bool:
        domain = address.rpartition("@")[2]
        return any(domain == d or domain.endswith("." + d) for d in domains)

    def internal(self, address: str) -> bool:
        return address in self.owners or self.on(address, self.internal_domains)

    def blocked(self, address: str) -> bool:
        return not self.internal(address) and self.on(address, self.blocked_domains)

    def contacts(self, addresses: set[str], account: str) -> list[str]:
        """Ids of the account's contacts among the addresses (internal or blocked never count)."""
        return sorted(
            self.contact_id[a]
            for a in addresses
            if account in self.accounts_of.get(a, set())
            and not self.internal(a)
            and not self.blocked(a)
        )

    def accounts(self) -> set[str]:
        return set().union(*self.accounts_of.values())


def facts(workload: Workload, tenant: Tenant) -> TenantFacts:
    owners = {
        a.lower()
        for m in workload.mailboxes
        if m.tenant == tenant.slug
        for a in (m.address, *m.aliases)
    }
    return TenantFacts(
        owners,
        tenant.internal_domains,
        tenant.blocked_domains,
        ZoneInfo(tenant.time_zone),
        {c.email.lower(): set(c.account_ids) for c in tenant.contacts},
        {c.email.lower(): c.contact_id for c in tenant.contacts},
    )


@dataclass
class Expected:
    """Oracle's rows (key -> compared columns) and the items each rule kept out."""

    rows: dict[tuple, tuple] = field(default_factory=dict)
    left_out: dict[str, set[tuple]] = field(default_factory=lambda: defaultdict(set))
    counted_back_synced: set[tuple] = field(default_factory=set)
    """Engaged messages received on the back-synced day, before the authorization."""


def window() -> tuple[datetime, datetime]:
    start = datetime.combine(DAYS[0], datetime.min.time(), UTC)
    return start, datetime.combine(DAYS[-1], datetime.min.time(), UTC) + timedelta(days=1)


def expected_emails(stack: Stack) -> Expected:
    out = Expected()
    for tenant in stack.workload.tenants:
        who = facts(stack.workload, tenant)
        copies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for box in stack.workload.mailboxes:
            if box.tenant == tenant.slug:
                for row in stack.sandbox.state.truth(box.address, *window()):
                    copies[row["internet_message_id"]].append(row)
        for message_id, seen in copies.items():
            first = min(seen, key=lambda r: r["internal_date_ms"])
            received = datetime.fromisoformat(first["internal_date"])
            people = {first["from"], *first["to"], *first["cc"]}
            external = {p for p in people if not who.internal(p)}
            key = (tenant.slug, message_id)
            if received < AUTHORIZED and received.date() != BACKFILLED:
                out.left_out["before_authorization"].add(key)
            elif not external:
                out.left_out["internal_only"].add(key)
            elif all(who.blocked(p) for p in external):
                out.left_out["blocked_only"].add(key)
            else:
                engaged = {a: who.contacts(people, a) for a in who.accounts()}
                engaged = {a: ids for a, ids in engaged.items() if ids}
                if not engaged:
                    out.left_out["no_contact_of_account"].add(key)
                elif received.date() == BACKFILLED:
                    out.counted_back_synced.add(key)
                direction = "outbound" if who.internal(first["from"]) else "inbound"
                internal = sorted(p for p in people if who.internal(p))
                for account, ids in engaged.items():
                    out.rows[(*key, account)] = (received.date(), ids, direction, internal)
    return out


def expected_meetings(stack: Stack, now: datetime) -> Expected:
    out = Expected()
    for tenant in stack.workload.tenants:
        who = facts(stack.workload, tenant)
        copies: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for box in stack.workload.mailboxes:
            if box.tenant == tenant.slug:
                for row in stack.sandbox.state.truth_events(box.address, *window()):
                    start = datetime.fromisoformat(row["start"]).astimezone(UTC)
                    copies[(row["ical_uid"], start.isoformat())].append(row)
        for (uid, start_text), seen in copies.items():
            event = seen[0]
            start = datetime.fromisoformat(start_text)
            responses: dict[str, set[str]] = defaultdict(set)
            for attendee in event["attendees"]:
                responses[attendee["response"]].add(attendee["email"].lower())
            invited = set().union(*responses.values())
            key = (tenant.slug, f"{uid}|{start_text}")
            if any(r["status"] == "cancelled" for r in seen):
                out.left_out["cancelled"].add(key)
            elif event["organizer"].lower() not in who.owners:
                out.left_out["not_organised_by_owner"].add(key)
            elif start > now:
                out.left_out["not_started"].add(key)
            else:
                accepted = {a: who.contacts(responses["accepted"], a) for a in who.accounts()}
                if not any(accepted.values()):
                    reason = (
                        "no_contact_accepted"
                        if any(who.contacts(invited, a) for a in who.accounts())
                        else "no_contact_of_account"
                    )
                    out.left_out[reason].add(key)
                end = datetime.fromisoformat(event["end"])
                local_day = start.date() if event["all_day"] else start.astimezone(who.zone).date()
                for account, ids in accepted.items():
                    if ids:
                        out.rows[(*key, account)] = (
                            start.date(),
                            local_day,
                            ids,
                            who.contacts(responses["declined"], account),
                            who.contacts(responses["tentative"], account),
                            int((end - start).total_seconds() // 60),
                            event["recurring"],
                        )
    return out


# ---- what Touchpoint wrote ---------------------------------------------------------------------


def email_table(stack: Stack) -> dict[tuple, tuple]:
    out = {}
    for tenant in stack.workload.tenants:
        zone = ZoneInfo(tenant.time_zone)
        for r in stack.rows("email_engagements", tenant.slug):
            assert r["local_day"] == r["sent_at"].astimezone(zone).date()
            assert r["local_week"] == r["local_day"] - timedelta(days=r["local_day"].weekday())
            out[(r["tenant_id"], r["email_key"], r["account_id"])] = (
                r["partition_day"],
                r["contact_ids"],
                r["direction"],
                r["internal_participants"],
            )
    return out


def meeting_table(stack: Stack) -> dict[tuple, tuple]:
    return {
        (r["tenant_id"], r["meeting_key"], r["account_id"]): (
            r["partition_day"],
            r["local_day"],
            r["accepted_contact_ids"],
            r["declined_contact_ids"],
            r["tentative_contact_ids"],
            r["duration_minutes"],
            r["recurring"],
        )
        for tenant in stack.workload.tenants
        for r in stack.rows("meeting_engagements", tenant.slug)
    }


def excluded(results: list[dg.ExecuteInProcessResult], asset: str) -> dict[str, int]:
    """The runs' `excluded_*` metadata of `asset` (each run reports its totals on every one of
    its partitions' materializations: one of them is counted per run)."""
    out: dict[str, int] = defaultdict(int)
    for result in results:
        mats = [
            m
            for m in result.asset_materializations_for_node("engagements")
            if m.asset_key.to_user_string() == asset
        ]
        assert len({tuple(sorted((k, v.value) for k, v in m.metadata.items())) for m in mats}) == 1
        for name, value in mats[0].metadata.items():
            if name.startswith("excluded_") and value.value:
                out[name.removeprefix("excluded_")] += value.value
    return dict(out)


@pytest.fixture
def stack(warehouse_url: str, tmp_path: Path):
    with running_stack(
        warehouse_url,
        authorized_at=AUTHORIZED,
        providers=("google", "microsoft"),
        tenants=2,
        mailboxes_per_tenant=3,
        days=3,
        messages_per_mailbox_per_day=12,
    ) as s:
        s.load_crm(tmp_path / "crm")
        yield s


def test_engagement_tables_equal_the_rules_applied_to_the_truth(stack: Stack) -> None:
    runs = [
        stack.materialize_days(ASSETS, DAYS[0], DAYS[0], {"dagster/backfill": "truth-test"}),
        stack.materialize_days(ASSETS, DAYS[1], DAYS[-1], {"touchpoint/trigger": "test"}),
    ]
    built_after = datetime.now(UTC)

    mail = expected_emails(stack)
    for rule in (
        "before_authorization",
        "internal_only",
        "blocked_only",
        "no_contact_of_account",
    ):
        assert mail.left_out[rule], f"the workload has no message for {rule}"
    assert mail.counted_back_synced
    table = email_table(stack)
    assert table == mail.rows
    written = {key[:2] for key in table}
    assert not set().union(*mail.left_out.values()) & written
    assert mail.counted_back_synced <= written
    # the contact the CRM puts in two accounts engages both
    assert any(n == 2 for n in Counter(key[:2] for key in table).values())
    assert len(table) >= 40
    # the run's metadata counts each rule as the oracle does
    assert excluded(runs, "email_engagements") == {
        rule: len(mail.left_out[rule])
        for rule in (
            "before_authorization",
            "internal_only",
            "blocked_only",
            "no_contact_of_account",
        )
    }

    # every workload meeting started before the runs: none is left out as not started
    meetings_then = expected_meetings(stack, built_after)
    assert not meetings_then.left_out["not_started"]
    assert meeting_table(stack) == meetings_then.rows

    # as of the workload's own now, today's later meetings have not started
    for tenant in stack.workload.tenants:
        for day in DAYS:
            rebuild_engagements(stack.warehouse, tenant.slug, day, WORKLOAD_NOW)
    at_now = expected_meetings(stack, WORKLOAD_NOW)
    for rule in ("cancelled", "not_organised_by_owner", "not_started", "no_contact_accepted"):
        assert at_now.left_out[rule], f"the workload has no meeting for {rule}"
    table = meeting_table(stack)
    assert table == at_now.rows
    assert len(table) >= 10
    assert not set().union(*at_now.left_out.values()) & {key[:2] for key in table}
    assert email_table(stack) == mail.rows
