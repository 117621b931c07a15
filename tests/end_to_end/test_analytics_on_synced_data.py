"""Done when: every example question of docs/analytics.md (and its pandas snippet), run as written
on SQLite and PostgreSQL against the engagement tables the real assets build from the demo's
workload, gives the answer computed in Python (tests/docs/analytics_answers.py) from the rows
those assets wrote, and most questions answer something.

tests/docs/test_analytics_queries.py checks the same queries on a hand-built dataset made to hold
every case; this one checks them on data nobody shaped for them: the demo's seed and providers,
synced from the sandbox over real HTTP by real Dagster runs (sync, dedupe, engagements and the
daily rollup, as the hourly job runs them), connections authorized at noon of the first day as
the demo authorizes them, the workload's CRM loaded as `touchpoint crm load` loads it, and
`contact_engagement` rebuilt as of a fixed moment (its asset would take the wall clock). The
expected answers read only the detail tables and the CRM read back from the warehouse, so a
query over a rollup is checked against the detail rows it summarises.

The questions are asked at four moments: the workload's today, the day before and the first
synced day (so `:as_of` cuts synced rows off, and few enough people act for an account that the
bus factor finds some), and 45 days later (so the 30-day questions find something).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from docs.analytics_answers import (
    EXPECTED,
    PANDAS_EXPECTED,
    Params,
    assert_rows,
    doc_params,
    run_question,
    run_snippet,
    snippet_for,
)

from assets.emails import emails, raw_emails
from assets.engagement_rollup_tables import rebuild_contact_engagement
from assets.engagement_rollups import account_engagement_daily
from assets.engagements import engagements
from assets.meetings import meetings, raw_meetings
from bench.engagement.doc_queries import questions
from orchestration.demo import DEMO_MAILBOXES_PER_TENANT, DEMO_PROVIDERS, DEMO_SEED
from orchestration.demo_engagement import demo_authorization
from stack import WORKLOAD_NOW, Stack, running_stack

DAYS = [WORKLOAD_NOW.date() - timedelta(days=n) for n in (2, 1, 0)]
"""The synced UTC days, today last, as the demo syncs its last days."""
AUTHORIZED = demo_authorization(DAYS[0].isoformat())
SYNC_ASSETS = [raw_emails, emails, raw_meetings, meetings, engagements, account_engagement_daily]
"""The hourly job's tenant x day assets (tenant_sync_job)."""
READ_BACK = ("accounts", "contacts", "email_engagements", "meeting_engagements")
MOMENTS = {
    "today": timedelta(0),
    "a day earlier": timedelta(days=-1),
    "the first day": timedelta(days=-2),
    "45 days later": timedelta(days=45),
}
"""When the questions are asked, from the workload's now: `:as_of` is that moment's local date
in the tenant's zone, and contact_engagement is rebuilt as of the same moment."""
MAY_BE_EMPTY_TODAY = {
    "Which accounts had no touch in the last 30 days, including accounts never touched?": (
        "every account of the demo's CRM is touched in the three synced days"
    ),
    "Which accounts depend on one internal person (bus factor)?": (
        "over three days several of the tenant's six mailboxes act for every account"
    ),
    "Which contacts have gone quiet?": "every touch is within the last 30 days",
}
"""Questions whose answer today may be empty on this data, and why; each answers something at
another moment (the first day, 45 days later)."""


@dataclass
class SyncedRows:
    """The rows the assets wrote, read back from the warehouse: the `EngagementData` the
    expected answers read, as of one moment."""

    zones: dict[str, str]
    rows: dict[tuple[str, str], list[dict[str, Any]]]
    moment: datetime

    def of(self, table: str, tenant_id: str) -> list[dict[str, Any]]:
        return self.rows[(table, tenant_id)]

    def contacts_as_of(self, tenant_id: str) -> date:
        """The moment's local date: contact_engagement is rebuilt as of it."""
        return self.moment.astimezone(ZoneInfo(self.zones[tenant_id])).date()

    def params(self, tenant_id: str, as_of: date | None = None) -> Params:
        """As an analyst asks on that day: `:as_of` is the moment's local date."""
        return doc_params(tenant_id, as_of or self.contacts_as_of(tenant_id))


def read_back(stack: Stack, moment: datetime) -> SyncedRows:
    tenants = stack.workload.tenants
    return SyncedRows(
        {t.slug: t.time_zone for t in tenants},
        {(table, t.slug): stack.rows(table, t.slug) for table in READ_BACK for t in tenants},
        moment,
    )


@pytest.fixture
def stack(warehouse_url: str, tmp_path: Path) -> Iterator[Stack]:
    """The demo's workload (its seed, providers and mailboxes; two tenants over three days to
    keep it quick), synced by one ranged run as the hourly job or a backfill runs it."""
    with running_stack(
        warehouse_url,
        authorized_at=AUTHORIZED,
        seed=DEMO_SEED,
        providers=DEMO_PROVIDERS,
        mailboxes_per_tenant=DEMO_MAILBOXES_PER_TENANT,
        tenants=2,
        days=len(DAYS),
        messages_per_mailbox_per_day=20,
    ) as s:
        s.load_crm(tmp_path / "crm")
        s.materialize_days(SYNC_ASSETS, DAYS[0], DAYS[-1], {"touchpoint/trigger": "test"})
        yield s


def test_every_doc_question_answers_right_on_synced_data(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = questions()
    assert {q.title for q in doc} == {*EXPECTED, *PANDAS_EXPECTED}
    # question -> moment -> its number of rows for each tenant
    answered: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for name, offset in MOMENTS.items():
        moment = WORKLOAD_NOW + offset
        for tenant in stack.workload.tenants:
            rebuild_contact_engagement(stack.warehouse, tenant.slug, moment)
        data = read_back(stack, moment)
        for tenant in stack.workload.tenants:
            params = data.params(tenant.slug)
            assert {r["as_of"] for r in stack.rows("contact_engagement", tenant.slug)} == {
                data.contacts_as_of(tenant.slug)
            }
            for q in doc:
                what = f"{q.title} ({tenant.slug}, {name}, as of {params['as_of']})"
                if q.python is None:
                    actual = run_question(stack.warehouse, q, params)
                    expected = EXPECTED[q.title](data, tenant.slug, params)
                else:
                    as_of = date.fromisoformat(params["as_of"])
                    python = snippet_for(q.python, tenant.slug, as_of)
                    actual, bound = run_snippet(stack.warehouse, python, monkeypatch)
                    assert bound == {k: params[k] for k in bound}, what
                    expected = PANDAS_EXPECTED[q.title](data, tenant.slug, params)
                assert_rows(actual, expected, what)
                answered[q.title][name].append(len(actual))
    for title, counts in answered.items():
        if title not in MAY_BE_EMPTY_TODAY:
            assert all(counts["today"]), f"{title}: empty today for a tenant ({counts})"
        assert any(any(n) for n in counts.values()), f"{title}: empty at every moment"
