"""The answers docs/analytics.md's example questions should give, computed in Python from engagement
rows, and how to run the doc's queries and compare.

Two tests use them: tests/docs/test_analytics_queries.py on a hand-built dataset with every case a
question needs, and tests/end_to_end/test_analytics_on_synced_data.py on what the real assets
write from the sandbox workload. So each expected answer reads its rows from the source it is
given (`EngagementData`), never from a fixed dataset. They read only the detail tables
(`email_engagements`, `meeting_engagements`) and the CRM: a query that reads a rollup is checked
against the detail rows the rollup summarises.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

import pytest
import sqlalchemy as sa

from bench.engagement.doc_queries import Question, parameters
from resources import settings
from resources.warehouse import Warehouse

Rows = list[tuple[Any, ...]]
Params = dict[str, str]
MICROSECOND = timedelta(microseconds=1)


class EngagementData(Protocol):
    """Where the expected answers read from: a tenant's rows of a table, as dicts of Python
    values (dates, aware UTC datetimes, JSON lists as lists)."""

    zones: dict[str, str]
    """tenant -> its time zone."""

    def of(self, table: str, tenant_id: str) -> list[dict[str, Any]]: ...

    def params(self, tenant_id: str, as_of: date | None = None) -> Params:
        """The doc's parameters for the tenant, as of its usual day unless `as_of` is given."""
        ...

    def contacts_as_of(self, tenant_id: str) -> date:
        """The local day the tenant's `contact_engagement` was built as of: its questions
        answer up to that day, whatever `:as_of` says (the doc's note)."""
        ...


def doc_params(tenant_id: str, as_of: date) -> Params:
    """The doc's parameters (its table under "Example questions"), as ISO date strings."""
    return {
        "tenant": tenant_id,
        "as_of": as_of.isoformat(),
        "start_30d": (as_of - timedelta(days=29)).isoformat(),
        "start_90d": (as_of - timedelta(days=89)).isoformat(),
    }


def half_up(value: Fraction, places: int) -> float:
    """SQL's ROUND of an exact value, halves away from zero as both databases round (Python's
    round() takes halves to even: 0.125 gives 0.12 where SQL gives 0.13)."""
    scale = 10**places
    return math.floor(value * scale + Fraction(1, 2)) / scale


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _details(data: EngagementData, tenant: str) -> tuple[list[dict], list[dict]]:
    return data.of("email_engagements", tenant), data.of("meeting_engagements", tenant)


def _in_window(rows: list[dict], p: Params, start: str = "start_90d") -> list[dict]:
    return [r for r in rows if _day(p[start]) <= r["local_day"] <= _day(p["as_of"])]


def _account_names(data: EngagementData, tenant: str) -> dict[str, str]:
    return {a["account_id"]: a["name"] for a in data.of("accounts", tenant)}


def no_touch_30d(data: EngagementData, tenant: str, p: Params) -> Rows:
    emails, meetings = _details(data, tenant)
    last: dict[str, date] = {}
    for r in emails + meetings:
        if r["local_day"] <= _day(p["as_of"]):
            last[r["account_id"]] = max(last.get(r["account_id"], r["local_day"]), r["local_day"])
    return [
        (a, name, last.get(a))
        for a, name in sorted(_account_names(data, tenant).items())
        if a not in last or last[a] < _day(p["start_30d"])
    ]


def csm_meetings_per_week(data: EngagementData, tenant: str, p: Params) -> Rows:
    meetings = {m["meeting_key"]: m for m in _in_window(_details(data, tenant)[1], p)}.values()
    weeks: dict[tuple[str, date], list[int]] = defaultdict(list)
    for m in meetings:
        weeks[(m["organizer_email"], m["local_week"])].append(m["duration_minutes"])
    return [(who, week, len(d), sum(d)) for (who, week), d in sorted(weeks.items())]


def median_reply_minutes(data: EngagementData, tenant: str, p: Params) -> Rows:
    emails = _details(data, tenant)[0]
    waits: dict[str, list[float]] = defaultdict(list)
    for asked in _in_window(emails, p):
        if asked["direction"] != "inbound" or asked["thread_id"] is None:
            continue
        replies = [
            e["sent_at"]
            for e in emails
            if e["account_id"] == asked["account_id"]
            and e["thread_id"] == asked["thread_id"]
            and e["direction"] == "outbound"
            and e["sent_at"] > asked["sent_at"]
        ]
        if replies:
            wait = min(replies) - asked["sent_at"]
            waits[asked["account_id"]].append(Fraction(wait // MICROSECOND, 60_000_000))
    return [(a, len(w), half_up(statistics.median(w), 1)) for a, w in sorted(waits.items())]


def _contact_touches(data: EngagementData, tenant: str) -> dict[str, dict[str, list[dict]]]:
    """contact -> its distinct messages and accepted meetings up to the table's as_of."""
    emails, meetings = _details(data, tenant)
    as_of = data.contacts_as_of(tenant)
    touches: dict[str, dict[str, list[dict]]] = {
        c["contact_id"]: {"mail": [], "met": []} for c in data.of("contacts", tenant)
    }
    for kind, rows, column, key in (
        ("mail", emails, "contact_ids", "email_key"),
        ("met", meetings, "accepted_contact_ids", "meeting_key"),
    ):
        seen: set[tuple[str, str]] = set()
        for r in rows:
            for c in r[column]:
                if r["local_day"] <= as_of and (c, r[key]) not in seen:
                    seen.add((c, r[key]))
                    touches[c][kind].append(r)
    return touches


def _last(rows: list[dict], column: str, direction: str | None = None) -> datetime | None:
    return max(
        (r[column] for r in rows if direction is None or r["direction"] == direction),
        default=None,
    )


def _email_of(data: EngagementData, tenant: str) -> dict[str, str]:
    return {c["contact_id"]: c["email"] for c in data.of("contacts", tenant)}


def emailed_never_met(data: EngagementData, tenant: str, p: Params) -> Rows:
    email = _email_of(data, tenant)
    return [
        (
            c,
            email[c],
            _last(t["mail"], "sent_at", "inbound"),
            _last(t["mail"], "sent_at", "outbound"),
        )
        for c, t in sorted(_contact_touches(data, tenant).items())
        if t["mail"] and not t["met"]
    ]


def _per_account_week(
    data: EngagementData, tenant: str, p: Params
) -> dict[tuple[str, date], dict[str, int]]:
    emails, meetings = _details(data, tenant)
    cells: dict[tuple[str, date], dict[str, int]] = defaultdict(
        lambda: {"inbound": 0, "outbound": 0, "meetings": 0, "minutes": 0}
    )
    for e in _in_window(emails, p):
        cells[(e["account_id"], e["local_week"])][e["direction"]] += 1
    for m in _in_window(meetings, p):
        cells[(m["account_id"], m["local_week"])]["meetings"] += 1
        cells[(m["account_id"], m["local_week"])]["minutes"] += m["duration_minutes"]
    return cells


def weekly_trend(data: EngagementData, tenant: str, p: Params) -> Rows:
    return [
        (a, week, c["inbound"] + c["outbound"], c["meetings"])
        for (a, week), c in sorted(_per_account_week(data, tenant, p).items())
    ]


def _per_account(data: EngagementData, tenant: str, p: Params) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (account, _), cell in _per_account_week(data, tenant, p).items():
        for name, value in cell.items():
            totals[account][name] += value
    return totals


def top_accounts_90d(data: EngagementData, tenant: str, p: Params) -> Rows:
    names = _account_names(data, tenant)
    rows = [
        (a, names[a], c["inbound"] + c["outbound"], c["meetings"])
        for a, c in _per_account(data, tenant, p).items()
        if a in names
    ]
    ranked = sorted(rows, key=lambda r: (-(r[2] + r[3]), r[0]))[:10]
    return [(*r, r[2] + r[3]) for r in ranked]


def inbound_outbound_balance(data: EngagementData, tenant: str, p: Params) -> Rows:
    return [
        (
            a,
            c["inbound"],
            c["outbound"],
            half_up(Fraction(c["outbound"], c["inbound"] + c["outbound"]), 2),
        )
        for a, c in sorted(_per_account(data, tenant, p).items())
        if c["inbound"] + c["outbound"]
    ]


def meeting_minutes_per_week(data: EngagementData, tenant: str, p: Params) -> Rows:
    return [
        (a, week, c["meetings"], c["minutes"])
        for (a, week), c in sorted(_per_account_week(data, tenant, p).items())
        if c["meetings"]
    ]


def bus_factor(data: EngagementData, tenant: str, p: Params) -> Rows:
    emails, meetings = _details(data, tenant)
    acts: dict[str, list[str]] = defaultdict(list)
    for e in _in_window(emails, p):
        if e["direction"] == "outbound":
            acts[e["account_id"]].append(e["from_address"])
    for m in _in_window(meetings, p):
        acts[m["account_id"]].append(m["organizer_email"])
    return [(a, who[0], len(who)) for a, who in sorted(acts.items()) if len(set(who)) == 1]


def gone_quiet(data: EngagementData, tenant: str, p: Params) -> Rows:
    email = _email_of(data, tenant)
    as_of = data.contacts_as_of(tenant)

    def within(rows: list[dict], days: int) -> int:
        return sum(1 for r in rows if r["local_day"] > as_of - timedelta(days=days))

    rows = []
    for c, t in sorted(_contact_touches(data, tenant).items()):
        if within(t["mail"] + t["met"], 90) and not within(t["mail"] + t["met"], 30):
            rows.append(
                (
                    c,
                    email[c],
                    within(t["mail"], 90),
                    within(t["met"], 90),
                    _last(t["mail"], "sent_at", "inbound"),
                    _last(t["mail"], "sent_at", "outbound"),
                    _last(t["met"], "start_at"),
                )
            )
    return rows


def weekly_touches(data: EngagementData, tenant: str, p: Params) -> Rows:
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_, week), c in _per_account_week(data, tenant, p).items():
        for index, name in enumerate(("inbound", "outbound", "meetings")):
            weeks[week][index] += c[name]
    return [(week, *counts) for week, counts in sorted(weeks.items())]


Expected = Callable[[EngagementData, str, Params], Rows]
EXPECTED: dict[str, Expected] = {
    "Which accounts had no touch in the last 30 days, including accounts never touched?": (
        no_touch_30d
    ),
    "How many meetings did each CSM organise per week?": csm_meetings_per_week,
    "What is the median time to reply to a customer's inbound email, per account?": (
        median_reply_minutes
    ),
    "Which contacts have been emailed but never met?": emailed_never_met,
    "How does each account's engagement trend, week by week?": weekly_trend,
    "Which accounts were touched most in the last 90 days?": top_accounts_90d,
    "Is each account's email balanced between inbound and outbound?": inbound_outbound_balance,
    "How many meeting minutes did each account get per week?": meeting_minutes_per_week,
    "Which accounts depend on one internal person (bus factor)?": bus_factor,
    "Which contacts have gone quiet?": gone_quiet,
}
PANDAS_EXPECTED: dict[str, Expected] = {
    "In pandas: the tenant's weekly touches": weekly_touches,
}


def _same(actual: Any, expected: Any) -> bool:
    """One cell: the database's value against the Python one, read the way the expected value's
    type says (SQLite answers dates and timestamps as text, PostgreSQL numerics as Decimal)."""
    if expected is None:
        return actual is None or (isinstance(actual, float) and actual != actual)
    if isinstance(expected, bool | str):
        return actual == expected
    if isinstance(expected, int | float):
        return isinstance(actual, int | float | Decimal) and abs(float(actual) - expected) < 0.006
    if isinstance(expected, datetime):
        if isinstance(actual, str):
            actual = datetime.fromisoformat(actual)
        if not isinstance(actual, datetime):
            return False
        actual = actual.replace(tzinfo=UTC) if actual.tzinfo is None else actual
        return actual == expected
    if isinstance(expected, date):
        if isinstance(actual, datetime):
            return actual.time() == datetime.min.time() and actual.date() == expected
        if isinstance(actual, str):
            return actual == expected.isoformat()
        return actual == expected
    raise TypeError(f"no comparison for {type(expected).__name__}")


def assert_rows(actual: Rows, expected: Rows, what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {actual} != expected {expected}"
    for got, want in zip(actual, expected, strict=True):
        assert len(got) == len(want) and all(_same(a, e) for a, e in zip(got, want, strict=True)), (
            f"{what}: row {got} != expected {want}\nall rows: {actual}"
        )


def run_question(warehouse: Warehouse, question: Question, params: Params) -> Rows:
    """The question's query for the warehouse's database, as written in the doc, bound to the
    parameters it names."""
    sql = question.sql(warehouse.dialect)
    assert sql is not None, (question.title, warehouse.dialect)
    with warehouse.engine.connect() as conn:
        result = conn.execute(sa.text(sql), {name: params[name] for name in parameters(sql)})
        return [tuple(row) for row in result]


_SNIPPET_TENANT = re.compile(r'("tenant": )"[^"]*"')
_SNIPPET_AS_OF = re.compile(r"(as_of = )date\(\d+, \d+, \d+\)")


def snippet_for(python: str, tenant_id: str, as_of: date) -> str:
    """The pandas snippet with the tenant and the day an analyst would type in its two literals
    (the doc shows the example tenant's); fails when the doc no longer spells them so."""
    python, tenants = _SNIPPET_TENANT.subn(rf'\1"{tenant_id}"', python)
    python, days = _SNIPPET_AS_OF.subn(rf"\1date({as_of.year}, {as_of.month}, {as_of.day})", python)
    assert (tenants, days) == (1, 1), "the snippet's tenant or as_of literal changed"
    return python


def run_snippet(
    warehouse: Warehouse, python: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[Rows, Params]:
    """Runs the pandas snippet against the warehouse the way an analyst would (its URL in the
    environment); gives its `weekly` frame's rows and the parameters it bound."""
    monkeypatch.setenv(
        settings.WAREHOUSE_URL_ENV, warehouse.url.render_as_string(hide_password=False)
    )
    namespace: dict[str, Any] = {"__name__": "analytics_snippet"}
    exec(compile(python, "docs/analytics.md", "exec"), namespace)  # noqa: S102
    namespace["engine"].dispose()
    frame, params = namespace["weekly"], namespace["params"]
    assert list(frame.columns) == ["local_week", "emails_in", "emails_out", "meetings"]
    return [tuple(row) for row in frame.itertuples(index=False)], params
