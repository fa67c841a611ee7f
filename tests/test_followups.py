"""Follow-up questions and questions asked back, on the demo and on small SQLite schemas.

A follow-up ("what about 2024?") is the previous question with one part changed; a
dimension reached two ways ("revenue by region": the customer's or the store's) is asked
back, and answered along the way the question or the reply names.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_business_questions import REVENUE, comparable, demo_rows

from dana.integrations.sqlite_schema import introspect_sqlite
from dana.nl2sql.base import Request, Translation, Turn
from dana.nl2sql.followups import CANNOT_MERGE
from dana.nl2sql.offline import OfflineTranslator
from dana.schema import Context

# --- the demo, through the pipeline -----------------------------------------------------

BY_CUSTOMER_REGION = (
    f"SELECT r.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
    f" JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id"
    f" GROUP BY r.name"
)
BY_STORE_REGION = (
    f"SELECT r.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
    f" JOIN stores s ON s.id = o.store_id JOIN regions r ON r.id = s.region_id GROUP BY r.name"
)
IN_2024 = "o.ordered_at >= '2024-01-01' AND o.ordered_at < '2025-01-01'"

# (title, question)
DEMO_CLARIFY = [
    ("a measure by a dimension reached two ways", "Revenue by region"),
    ("a count by a dimension reached two ways", "Number of orders by region"),
    ("a ranking of a dimension reached two ways", "Top 3 regions by revenue"),
]


@pytest.mark.parametrize(("title", "question"), DEMO_CLARIFY, ids=[c[0] for c in DEMO_CLARIFY])
async def test_asks_which_way_a_dimension_is_meant(
    runtime: Any, demo_actor: Any, title: str, question: str
) -> None:
    answer = await runtime.pipeline.ask(demo_actor, "demo", question)

    assert answer.status == "clarify", f"{title}: {answer.message}"
    assert answer.message.startswith("Do you mean ")
    assert "by the customer's region" in answer.message
    assert "by the store's region" in answer.message
    assert answer.sql is None


# (title, question, SQL by hand)
DEMO_NAMED_PATH = [
    ("store region", "Revenue by store region", BY_STORE_REGION),
    ("customer region", "Revenue by customer region", BY_CUSTOMER_REGION),
    ("the store's region", "Revenue by the store's region", BY_STORE_REGION),
    ("region of the customer", "Revenue by region of the customer", BY_CUSTOMER_REGION),
]


@pytest.mark.parametrize(
    ("title", "question", "sql"), DEMO_NAMED_PATH, ids=[c[0] for c in DEMO_NAMED_PATH]
)
async def test_a_named_way_answers_along_it(
    runtime: Any, demo_actor: Any, title: str, question: str, sql: str
) -> None:
    expected = comparable(demo_rows(runtime, sql), False)

    answer = await runtime.pipeline.ask(demo_actor, "demo", question)

    assert answer.status == "ok", f"{title}: {answer.message}"
    assert comparable(answer.rows, False) == expected, answer.sql


# (title, previous question, follow-up, SQL by hand, whether row order is part of the answer)
DEMO_FOLLOWUPS = [
    ("a year replaces the year", "What was the revenue per month in 2025?", "what about 2024?",
     f"SELECT date_trunc('month', o.ordered_at), sum({REVENUE}) FROM order_items oi"
     f" JOIN orders o ON o.id = oi.order_id WHERE {IN_2024} GROUP BY 1 ORDER BY 1", True),
    ("a period grouping replaces the grouping", "Revenue by category in 2024", "now by month",
     f"SELECT date_trunc('month', o.ordered_at), sum({REVENUE}) FROM order_items oi"
     f" JOIN orders o ON o.id = oi.order_id WHERE {IN_2024} GROUP BY 1 ORDER BY 1", True),
    ("a value adds a filter", "Revenue by category in 2024", "only for Electronics",
     f"SELECT c.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN products p ON p.id = oi.product_id JOIN categories c ON c.id = p.category_id"
     f" WHERE {IN_2024} AND c.name = 'Electronics' GROUP BY c.name", False),
    ("a limit replaces the limit", "What are the top 5 products by revenue?", "top 10 instead",
     f"SELECT p.name, sum({REVENUE}) FROM products p JOIN order_items oi ON oi.product_id = p.id"
     f" GROUP BY p.id, p.name ORDER BY 2 DESC LIMIT 10", True),
    ("an aggregate replaces the total", "Revenue by category", "and the average?",
     f"SELECT c.name, avg({REVENUE}) FROM order_items oi JOIN products p ON p.id = oi.product_id"
     f" JOIN categories c ON c.id = p.category_id GROUP BY c.name", False),
    ("a named way replaces the dimension", "Revenue by category in 2024",
     "and for the store region?",
     f"SELECT r.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN stores s ON s.id = o.store_id JOIN regions r ON r.id = s.region_id"
     f" WHERE {IN_2024} GROUP BY r.name", False),
    ("a grouping is added beside a period", "Orders per month in 2024", "and by status?",
     "SELECT date_trunc('month', ordered_at), status, count(*) FROM orders"
     " WHERE ordered_at >= '2024-01-01' AND ordered_at < '2025-01-01' GROUP BY 1, 2", False),
    ("a full question is read on its own", "Revenue by category", "How many customers are there?",
     "SELECT count(*) FROM customers", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "previous", "question", "sql", "ordered"),
    DEMO_FOLLOWUPS,
    ids=[c[0] for c in DEMO_FOLLOWUPS],
)
async def test_follow_up_changes_one_part_of_the_previous_question(
    runtime: Any,
    demo_actor: Any,
    title: str,
    previous: str,
    question: str,
    sql: str,
    ordered: bool,
) -> None:
    first = await runtime.pipeline.ask(demo_actor, "demo", previous)
    expected = comparable(demo_rows(runtime, sql), ordered)

    answer = await runtime.pipeline.ask(
        demo_actor, "demo", question, history=(Turn(previous, first.sql),)
    )

    assert first.status == "ok", first.message
    assert answer.status == "ok", f"{title}: {answer.message}"
    assert comparable(answer.rows, ordered) == expected, answer.sql


# (title, earlier turns, reply, SQL by hand)
DEMO_REPLIES = [
    ("the store's region", (Turn("Revenue by region"),), "the store's region", BY_STORE_REGION),
    ("by customer", (Turn("Revenue by region"),), "by customer", BY_CUSTOMER_REGION),
    ("a reply to a follow-up asked back",
     (Turn("Revenue by category in 2024", "SELECT 1"), Turn("and by region?")), "by store",
     f"SELECT r.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN stores s ON s.id = o.store_id JOIN regions r ON r.id = s.region_id"
     f" WHERE {IN_2024} GROUP BY r.name"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "history", "reply", "sql"), DEMO_REPLIES, ids=[c[0] for c in DEMO_REPLIES]
)
async def test_reply_to_a_question_asked_back_answers_the_original(
    runtime: Any, demo_actor: Any, title: str, history: tuple, reply: str, sql: str
) -> None:
    expected = comparable(demo_rows(runtime, sql), False)

    answer = await runtime.pipeline.ask(demo_actor, "demo", reply, history=history)

    assert answer.status == "ok", f"{title}: {answer.message}"
    assert comparable(answer.rows, False) == expected, answer.sql


async def test_follow_up_to_a_dimension_reached_two_ways_asks_back(
    runtime: Any, demo_actor: Any
) -> None:
    history = (Turn("Total revenue per store", "SELECT 1"),)

    answer = await runtime.pipeline.ask(demo_actor, "demo", "and by region?", history=history)

    assert answer.status == "clarify"
    assert (
        answer.message == "Do you mean revenue by the customer's region or by the store's region?"
    )


async def test_fragment_that_fits_nothing_is_declined_plainly(
    runtime: Any, demo_actor: Any
) -> None:
    history = (Turn("Revenue by category", "SELECT 1"),)

    answer = await runtime.pipeline.ask(demo_actor, "demo", "and the weather?", history=history)

    assert answer.status == "unanswerable"
    assert answer.message == CANNOT_MERGE + "."


async def test_context_of_a_follow_up_request_translates_it(runtime: Any, demo_actor: Any) -> None:
    registered = await runtime.registry.get(demo_actor.organization_id, "demo")
    context = await runtime.pipeline.context_for(demo_actor, registered, "what about 2024?")
    request = Request("what about 2024?", context, "postgres",
                      history=(Turn("What was the revenue per month in 2025?", "SELECT 1"),))  # fmt: skip

    translation = OfflineTranslator().translate_now(request)

    assert translation.kind == "sql", translation.explanation
    assert "2024" in translation.sql
    assert "2025" not in translation.sql


# --- small SQLite schemas, translator only ----------------------------------------------

SALES = """
CREATE TABLE regions (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, region_id INTEGER REFERENCES regions(id));
CREATE TABLE stores (id INTEGER PRIMARY KEY, name TEXT, region_id INTEGER REFERENCES regions(id));
CREATE TABLE sales (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
  store_id INTEGER REFERENCES stores(id), amount REAL, sold_on DATE);
CREATE TABLE shipments (id INTEGER PRIMARY KEY, weight REAL,
  billing_region_id INTEGER REFERENCES regions(id),
  shipping_region_id INTEGER REFERENCES regions(id));
INSERT INTO regions VALUES (1, 'North'), (2, 'South');
INSERT INTO customers VALUES (1, 'Ann', 1), (2, 'Bob', 2);
INSERT INTO stores VALUES (1, 'Harbour', 2), (2, 'Hilltop', 1);
INSERT INTO sales VALUES (1, 1, 1, 10, '2024-03-01'), (2, 1, 2, 20, '2025-03-01'),
  (3, 2, 1, 40, '2025-04-01'), (4, 2, 2, 80, '2024-05-01');
INSERT INTO shipments VALUES (1, 1, 1, 2), (2, 2, 1, 1), (3, 4, 2, 2);
"""


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    path = tmp_path / "sales.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(SALES)
    return path


def translate(path: Path, question: str, history: tuple[Turn, ...] = ()) -> Translation:
    request = Request(question, Context(schema=introspect_sqlite(path)), "sqlite", history=history)
    return OfflineTranslator().translate_now(request)


def rows(path: Path, translation: Translation) -> list[tuple]:
    assert translation.kind == "sql", translation.explanation
    with sqlite3.connect(path) as connection:
        return sorted(connection.execute(translation.sql).fetchall())


# (title, question, the two options named)
SQLITE_CLARIFY = [
    ("through two tables", "Total amount by region", ("the customer's region", "the store's region")),
    ("a count through two tables", "How many sales by region?",
     ("the customer's region", "the store's region")),
    ("through two keys of one table", "Total weight by region",
     ("billing region", "shipping region")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "question", "options"), SQLITE_CLARIFY, ids=[c[0] for c in SQLITE_CLARIFY]
)
def test_asks_back_naming_each_way(sales: Path, title: str, question: str, options: tuple) -> None:
    translation = translate(sales, question)

    assert translation.kind == "clarify", title
    assert translation.sql is None
    assert translation.explanation.startswith("Do you mean ")
    for option in options:
        assert f"by {option}" in translation.explanation


# (title, earlier questions, question, expected rows sorted)
SQLITE_ANSWERS = [
    ("the way named in the question", (), "Total amount by store region",
     [("North", 100.0), ("South", 50.0)]),
    ("a key named in the question", (), "Total weight by billing region",
     [("North", 3.0), ("South", 4.0)]),
    ("a reply naming a table", ("Total amount by region",), "the store's region",
     [("North", 100.0), ("South", 50.0)]),
    ("a reply naming a key", ("Total weight by region",), "by shipping region",
     [("North", 2.0), ("South", 5.0)]),
    ("a year replaces the year", ("Total amount by customer region in 2025",), "what about 2024?",
     [("North", 10.0), ("South", 80.0)]),
    ("a dimension replaces the grouping", ("Total amount per store",), "and by customer region?",
     [("North", 30.0), ("South", 120.0)]),
    ("a limit replaces the limit", ("Top 2 stores by amount",), "top 1 instead",
     [("Hilltop", 100.0)]),
    ("an aggregate replaces the total", ("Total amount per store",), "and the average?",
     [("Harbour", 25.0), ("Hilltop", 50.0)]),
    ("a value adds a filter", ("Total amount per store",), "only for Ann",
     [("Harbour", 10.0), ("Hilltop", 20.0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "earlier", "question", "expected"), SQLITE_ANSWERS, ids=[c[0] for c in SQLITE_ANSWERS]
)
def test_answers_along_the_way_named(
    sales: Path, title: str, earlier: tuple[str, ...], question: str, expected: list
) -> None:
    history = tuple(Turn(q) for q in earlier)

    translation = translate(sales, question, history)

    assert rows(sales, translation) == expected, title


def test_fragment_that_changes_nothing_known_is_declined(sales: Path) -> None:
    history = (Turn("Total amount per store", "SELECT 1"),)

    translation = translate(sales, "and the weather?", history)

    assert translation.kind == "unanswerable"
    assert translation.explanation == CANNOT_MERGE + "."
