"""Every example question in docs/analytics.md runs as written on SQLite and PostgreSQL and gives
the answer computed here in Python from the same hand-built dataset (analytics_dataset.py).

The queries are read from the doc itself (bench/engagement/doc_queries.py, which the benchmark
shares), so a question added to the doc without an expected answer here, or a block outside a
question, fails. Each question runs for both tenants: the dataset's tenants share account and
contact ids, so a query whose tenant filter leaks gives the wrong answer.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from docs.analytics_dataset import build_dataset

from bench.engagement.doc_queries import Question, parameters, questions
from resources import settings
from resources.warehouse import Warehouse

Rows = list[tuple[Any, ...]]
Params = dict[str, str]
DATASET = build_dataset()
TENANTS = tuple(DATASET.zones)
MIN_QUESTIONS = 8


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _details(tenant: str) -> tuple[list[dict], list[dict]]:
    return DATASET.of("email_engagements", tenant), DATASET.of("meeting_engagements", tenant)


def _in_window(rows: list[dict], p: Params, start: str = "start_90d") -> list[dict]:
    return [r for r in rows if _day(p[start]) <= r["local_day"] <= _day(p["as_of"])]


def _account_names(tenant: str) -> dict[str, str]:
    return {a["account_id"]: a["name"] for a in DATASET.of("accounts", tenant)}


def no_touch_30d(tenant: str, p: Params) -> Rows:
    emails, meetings = _details(tenant)
    last: dict[str, date] = {}
    for r in emails + meetings:
        if r["local_day"] <= _day(p["as_of"]):
            last[r["account_id"]] = max(last.get(r["account_id"], r["local_day"]), r["local_day"])
    return [
        (a, name, last.get(a))
        for a, name in sorted(_account_names(tenant).items())
        if a not in last or last[a] < _day(p["start_30d"])
    ]


def csm_meetings_per_week(tenant: str, p: Params) -> Rows:
    meetings = {m["meeting_key"]: m for m in _in_window(_details(tenant)[1], p)}.values()
    weeks: dict[tuple[str, date], list[int]] = defaultdict(list)
    for m in meetings:
        weeks[(m["organizer_email"], m["local_week"])].append(m["duration_minutes"])
    return [(who, week, len(d), sum(d)) for (who, week), d in sorted(weeks.items())]


def median_reply_minutes(tenant: str, p: Params) -> Rows:
    emails = _details(tenant)[0]
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
            waits[asked["account_id"]].append(
                (min(replies) - asked["sent_at"]).total_seconds() / 60
            )
    return [(a, len(w), round(statistics.median(w), 1)) for a, w in sorted(waits.items())]


def _contact_touches(tenant: str) -> dict[str, dict[str, list[dict]]]:
    """contact -> its distinct messages and accepted meetings up to the table's as_of."""
    emails, meetings = _details(tenant)
    touches: dict[str, dict[str, list[dict]]] = {
        c["contact_id"]: {"mail": [], "met": []} for c in DATASET.of("contacts", tenant)
    }
    for kind, rows, column, key in (
        ("mail", emails, "contact_ids", "email_key"),
        ("met", meetings, "accepted_contact_ids", "meeting_key"),
    ):
        seen: set[tuple[str, str]] = set()
        for r in rows:
            for c in r[column]:
                if r["local_day"] <= DATASET.as_of and (c, r[key]) not in seen:
                    seen.add((c, r[key]))
                    touches[c][kind].append(r)
    return touches


def _last(rows: list[dict], column: str, direction: str | None = None) -> datetime | None:
    return max(
        (r[column] for r in rows if direction is None or r["direction"] == direction),
        default=None,
    )


def _email_of(tenant: str) -> dict[str, str]:
    return {c["contact_id"]: c["email"] for c in DATASET.of("contacts", tenant)}


def emailed_never_met(tenant: str, p: Params) -> Rows:
    email = _email_of(tenant)
    return [
        (
            c,
            email[c],
            _last(t["mail"], "sent_at", "inbound"),
            _last(t["mail"], "sent_at", "outbound"),
        )
        for c, t in sorted(_contact_touches(tenant).items())
        if t["mail"] and not t["met"]
    ]


def _per_account_week(tenant: str, p: Params) -> dict[tuple[str, date], dict[str, int]]:
    emails, meetings = _details(tenant)
    cells: dict[tuple[str, date], dict[str, int]] = defaultdict(
        lambda: {"inbound": 0, "outbound": 0, "meetings": 0, "minutes": 0}
    )
    for e in _in_window(emails, p):
        cells[(e["account_id"], e["local_week"])][e["direction"]] += 1
    for m in _in_window(meetings, p):
        cells[(m["account_id"], m["local_week"])]["meetings"] += 1
        cells[(m["account_id"], m["local_week"])]["minutes"] += m["duration_minutes"]
    return cells


def weekly_trend(tenant: str, p: Params) -> Rows:
    return [
        (a, week, c["inbound"] + c["outbound"], c["meetings"])
        for (a, week), c in sorted(_per_account_week(tenant, p).items())
    ]


def _per_account(tenant: str, p: Params) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (account, _), cell in _per_account_week(tenant, p).items():
        for name, value in cell.items():
            totals[account][name] += value
    return totals


def top_accounts_90d(tenant: str, p: Params) -> Rows:
    names = _account_names(tenant)
    rows = [
        (a, names[a], c["inbound"] + c["outbound"], c["meetings"])
        for a, c in _per_account(tenant, p).items()
        if a in names
    ]
    ranked = sorted(rows, key=lambda r: (-(r[2] + r[3]), r[0]))[:10]
    return [(*r, r[2] + r[3]) for r in ranked]


def inbound_outbound_balance(tenant: str, p: Params) -> Rows:
    return [
        (a, c["inbound"], c["outbound"], round(c["outbound"] / (c["inbound"] + c["outbound"]), 2))
        for a, c in sorted(_per_account(tenant, p).items())
        if c["inbound"] + c["outbound"]
    ]


def meeting_minutes_per_week(tenant: str, p: Params) -> Rows:
    return [
        (a, week, c["meetings"], c["minutes"])
        for (a, week), c in sorted(_per_account_week(tenant, p).items())
        if c["meetings"]
    ]


def bus_factor(tenant: str, p: Params) -> Rows:
    emails, meetings = _details(tenant)
    acts: dict[str, list[str]] = defaultdict(list)
    for e in _in_window(emails, p):
        if e["direction"] == "outbound":
            acts[e["account_id"]].append(e["from_address"])
    for m in _in_window(meetings, p):
        acts[m["account_id"]].append(m["organizer_email"])
    return [(a, who[0], len(who)) for a, who in sorted(acts.items()) if len(set(who)) == 1]


def gone_quiet(tenant: str, p: Params) -> Rows:
    email = _email_of(tenant)

    def within(rows: list[dict], days: int) -> int:
        return sum(1 for r in rows if r["local_day"] > DATASET.as_of - timedelta(days=days))

    rows = []
    for c, t in sorted(_contact_touches(tenant).items()):
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


def weekly_touches(tenant: str, p: Params) -> Rows:
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_, week), c in _per_account_week(tenant, p).items():
        for index, name in enumerate(("inbound", "outbound", "meetings")):
            weeks[week][index] += c[name]
    return [(week, *counts) for week, counts in sorted(weeks.items())]


EXPECTED: dict[str, Callable[[str, Params], Rows]] = {
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
PANDAS_EXPECTED: dict[str, Callable[[str, Params], Rows]] = {
    "In pandas: the tenant's weekly touches": weekly_touches,
}
DOC_QUESTIONS = questions()
SQL_QUESTIONS = [q for q in DOC_QUESTIONS if q.python is None]
PYTHON_QUESTIONS = [q for q in DOC_QUESTIONS if q.python is not None]


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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """The dataset in a migrated warehouse on each backend, shared by the module's tests (they
    only read), as `warehouse_url` would make it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analytics') / 'warehouse.db'}"
    else:
        url = request.getfixturevalue("postgres_database_factory")()
    warehouse = Warehouse(url)
    warehouse.migrate()
    DATASET.insert(warehouse)
    yield warehouse
    warehouse.dispose()


def test_the_doc_asks_enough_questions_and_each_has_its_check() -> None:
    sql_titles = [q.title for q in SQL_QUESTIONS]
    assert len(sql_titles) >= MIN_QUESTIONS, sql_titles
    assert len(set(sql_titles)) == len(sql_titles), "two questions share a heading"
    assert set(sql_titles) == set(EXPECTED), "each question in the doc needs its expected answer"
    assert {q.title for q in PYTHON_QUESTIONS} == set(PANDAS_EXPECTED)
    for q in SQL_QUESTIONS:
        for dialect in ("sqlite", "postgresql"):
            sql = q.sql(dialect)
            assert sql is not None, (q.title, dialect)
            assert set(parameters(sql)) <= set(DATASET.params("acme")), (q.title, sql)
            assert "tenant" in parameters(sql), f"{q.title}: not filtered by :tenant"


def test_the_dataset_makes_every_question_answer_something() -> None:
    """The checks below could pass on empty answers; the dataset is built so none is empty."""
    for title, expected in {**EXPECTED, **PANDAS_EXPECTED}.items():
        assert expected("acme", DATASET.params("acme")), title
    # The tenants share ids, so a leaking tenant filter changes the answer.
    ids = [{r["account_id"] for r in DATASET.of("accounts", t)} for t in TENANTS]
    assert set.intersection(*ids)


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("question", SQL_QUESTIONS, ids=lambda q: q.title[:40])
def test_each_question_gives_the_expected_answer(
    loaded: Warehouse, question: Question, tenant: str
) -> None:
    sql = question.sql(loaded.dialect)
    assert sql is not None
    all_params = DATASET.params(tenant)
    params = {name: all_params[name] for name in parameters(sql)}
    with loaded.engine.connect() as conn:
        result = conn.execute(sa.text(sql), params)
        actual = [tuple(row) for row in result]
    assert_rows(actual, EXPECTED[question.title](tenant, all_params), question.title)


@pytest.mark.parametrize("question", PYTHON_QUESTIONS, ids=lambda q: q.title[:40])
def test_the_pandas_snippet_runs_as_written(
    loaded: Warehouse, question: Question, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(settings.WAREHOUSE_URL_ENV, loaded.url.render_as_string(hide_password=False))
    namespace: dict[str, Any] = {"__name__": "analytics_snippet"}
    assert question.python is not None
    exec(compile(question.python, "docs/analytics.md", "exec"), namespace)  # noqa: S102
    namespace["engine"].dispose()
    frame, params = namespace["weekly"], namespace["params"]
    assert list(frame.columns) == ["local_week", "emails_in", "emails_out", "meetings"]
    actual = [tuple(row) for row in frame.itertuples(index=False)]
    assert_rows(actual, PANDAS_EXPECTED[question.title](params["tenant"], params), question.title)
