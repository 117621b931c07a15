"""Every example question in docs/analytics.md runs as written on SQLite and PostgreSQL and gives
the answer computed in Python (analytics_answers.py) from the same hand-built dataset
(analytics_dataset.py), made to hold every case the questions have to get right.
tests/end_to_end/test_analytics_on_synced_data.py checks the same answers on synced demo data.

The queries are read from the doc itself (bench/engagement/doc_queries.py, which the benchmark
shares), so a question added to the doc without an expected answer here, or a block outside a
question, fails. Each question runs for both tenants: the dataset's tenants share account and
contact ids, so a query whose tenant filter leaks gives the wrong answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from docs.analytics_answers import (
    EXPECTED,
    PANDAS_EXPECTED,
    assert_rows,
    run_question,
    run_snippet,
)
from docs.analytics_dataset import build_dataset

from bench.engagement.doc_queries import Question, parameters, questions
from resources.warehouse import Warehouse

DATASET = build_dataset()
TENANTS = tuple(DATASET.zones)
MIN_QUESTIONS = 8
DOC_QUESTIONS = questions()
SQL_QUESTIONS = [q for q in DOC_QUESTIONS if q.python is None]
PYTHON_QUESTIONS = [q for q in DOC_QUESTIONS if q.python is not None]


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
        assert expected(DATASET, "acme", DATASET.params("acme")), title
    # The tenants share ids, so a leaking tenant filter changes the answer.
    ids = [{r["account_id"] for r in DATASET.of("accounts", t)} for t in TENANTS]
    assert set.intersection(*ids)


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize("question", SQL_QUESTIONS, ids=lambda q: q.title[:40])
def test_each_question_gives_the_expected_answer(
    loaded: Warehouse, question: Question, tenant: str
) -> None:
    params = DATASET.params(tenant)
    expected = EXPECTED[question.title](DATASET, tenant, params)
    assert_rows(run_question(loaded, question, params), expected, question.title)


@pytest.mark.parametrize("question", PYTHON_QUESTIONS, ids=lambda q: q.title[:40])
def test_the_pandas_snippet_runs_as_written(
    loaded: Warehouse, question: Question, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert question.python is not None
    actual, params = run_snippet(loaded, question.python, monkeypatch)
    expected = PANDAS_EXPECTED[question.title](DATASET, params["tenant"], params)
    assert_rows(actual, expected, question.title)
