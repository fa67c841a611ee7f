"""Questions people type into a chat-with-your-data product, answered on real databases.

The demo retail database, with its glossary term "revenue", goes through the whole
pipeline and each answer is compared with SQL written by hand. The cases of
shared/cases/questions.md run on PostgreSQL and MariaDB databases made here and dropped
afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fixtures_targets import scratch_mysql, scratch_postgres

from dana.db import embedded
from dana.integrations.connectors import make_connector
from dana.integrations.connectors.base import jsonable
from dana.integrations.urls import ConnectionConfig
from dana.nl2sql.base import Request, Translation
from dana.nl2sql.offline import OfflineTranslator
from dana.schema import Column, Context, Schema, Table

# --- the demo, through the pipeline -----------------------------------------------------

REVENUE = "oi.quantity * oi.unit_price * (1 - oi.discount)"

# (title, question, SQL by hand, whether the order of rows is part of the answer)
DEMO = [
    ("top n by a measure of related rows", "What are the top 5 products by revenue?",
     f"SELECT p.name, sum({REVENUE}) FROM products p JOIN order_items oi ON oi.product_id = p.id"
     f" GROUP BY p.id, p.name ORDER BY 2 DESC LIMIT 5", True),
    ("bottom n by a measure of related rows", "What are the bottom 3 stores by revenue?",
     f"SELECT s.name, sum({REVENUE}) FROM stores s JOIN orders o ON o.store_id = s.id"
     f" JOIN order_items oi ON oi.order_id = o.id GROUP BY s.id, s.name ORDER BY 2 LIMIT 3", True),
    ("top n by a count of related rows", "Top 3 customers by number of orders",
     "SELECT c.first_name, c.last_name, count(*) FROM customers c"
     " JOIN orders o ON o.customer_id = c.id"
     " GROUP BY c.id ORDER BY 3 DESC, c.id LIMIT 3", False),
    ("a person is labelled by name, not job title", "Top 3 employees by number of orders",
     "SELECT e.first_name, e.last_name, count(*) FROM employees e"
     " JOIN orders o ON o.employee_id = e.id GROUP BY e.id ORDER BY 3 DESC LIMIT 3", False),
    ("order value is the money column, summed", "Top 5 customers by total order value",
     "SELECT c.first_name, c.last_name, sum(o.total) FROM customers c"
     " JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY 3 DESC LIMIT 5", True),
    ("spend is the money column of the related rows", "Top 5 customers by total spend",
     "SELECT c.first_name, c.last_name, sum(o.total) FROM customers c"
     " JOIN orders o ON o.customer_id = c.id GROUP BY c.id ORDER BY 3 DESC LIMIT 5", True),
    ("which x had the most of a measure", "Which store had the most revenue in 2025?",
     f"SELECT s.name, sum({REVENUE}) FROM stores s JOIN orders o ON o.store_id = s.id"
     f" JOIN order_items oi ON oi.order_id = o.id WHERE o.ordered_at >= '2025-01-01'"
     f" AND o.ordered_at < '2026-01-01' GROUP BY s.id ORDER BY 2 DESC LIMIT 1", True),
    ("a chart word is presentation only", "Chart revenue by month",
     f"SELECT date_trunc('month', o.ordered_at), sum({REVENUE}) FROM order_items oi"
     f" JOIN orders o ON o.id = oi.order_id GROUP BY 1 ORDER BY 1", True),
    ("as a bar chart is presentation only", "Show orders per month in 2024 as a bar chart",
     "SELECT date_trunc('month', ordered_at), count(*) FROM orders"
     " WHERE ordered_at >= '2024-01-01' AND ordered_at < '2025-01-01' GROUP BY 1 ORDER BY 1",
     True),
    ("groups come largest first", "Number of orders by status",
     "SELECT status, count(*) FROM orders GROUP BY status ORDER BY 2 DESC", True),
    ("top n by the entity's own column", "Top 5 products by price",
     "SELECT name, price FROM products ORDER BY price DESC LIMIT 5", False),
    ("measure per month of a year, dated by its order", "What was the revenue per month in 2025?",
     f"SELECT date_trunc('month', o.ordered_at), sum({REVENUE}) FROM order_items oi"
     f" JOIN orders o ON o.id = oi.order_id WHERE o.ordered_at >= '2025-01-01'"
     f" AND o.ordered_at < '2026-01-01' GROUP BY 1 ORDER BY 1", True),
    ("measure by a dimension in a year, dated by its order", "Revenue by category in 2024",
     f"SELECT c.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN products p ON p.id = oi.product_id JOIN categories c ON c.id = p.category_id"
     f" WHERE o.ordered_at >= '2024-01-01' AND o.ordered_at < '2025-01-01' GROUP BY c.name",
     False),
    ("bare measure by a dimension is its sum", "Revenue by customer region",
     f"SELECT r.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN customers c ON c.id = o.customer_id JOIN regions r ON r.id = c.region_id"
     f" GROUP BY r.name", False),
    ("total measure per entity", "Total revenue per store",
     f"SELECT s.name, sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" JOIN stores s ON s.id = o.store_id GROUP BY s.name", False),
    ("average of a column by entity", "What is the average order total by store?",
     "SELECT s.name, avg(o.total) FROM orders o JOIN stores s ON s.id = o.store_id"
     " GROUP BY s.name", False),
    ("bare entity per month is its count", "Orders per month in 2024",
     "SELECT date_trunc('month', ordered_at), count(*) FROM orders"
     " WHERE ordered_at >= '2024-01-01' AND ordered_at < '2025-01-01' GROUP BY 1 ORDER BY 1",
     True),
    ("yearly measure", "Yearly revenue",
     f"SELECT extract(year FROM o.ordered_at), sum({REVENUE}) FROM order_items oi"
     f" JOIN orders o ON o.id = oi.order_id GROUP BY 1 ORDER BY 1", True),
    ("monthly count over the last months", "Monthly order count for the last 6 months",
     "SELECT date_trunc('month', ordered_at), count(*) FROM orders"
     " WHERE ordered_at >= current_date - interval '6 months' GROUP BY 1 ORDER BY 1", True),
    ("a business term alone is its total", "Revenue this year",
     f"SELECT sum({REVENUE}) FROM order_items oi JOIN orders o ON o.id = oi.order_id"
     f" WHERE o.ordered_at >= date_trunc('year', current_date)", False),
    ("superlative count", "Which region has the most customers?",
     "SELECT r.name FROM regions r JOIN customers c ON c.region_id = r.id"
     " GROUP BY r.id, r.name ORDER BY count(*) DESC LIMIT 1", False),
    ("count", "How many customers are there?", "SELECT count(*) FROM customers", False),
]  # fmt: skip


def demo_rows(runtime: Any, sql: str) -> list[tuple]:
    server = runtime.urls.embedded
    with psycopg.connect(server.url(embedded.OWNER_ROLE, embedded.DEMO_DATABASE)) as connection:
        return connection.execute(sql).fetchall()


def comparable(rows: list, ordered: bool) -> list[tuple]:
    """Rows with numbers rounded to cents and dates as text, sorted unless `ordered`."""

    def value(v: Any) -> Any:
        v = jsonable(v) if isinstance(v, (Decimal, dt.date)) else v
        return round(float(v), 2) if isinstance(v, (int, float)) else v

    result = [tuple(value(v) for v in row) for row in rows]
    return result if ordered else sorted(result, key=repr)


@pytest.mark.parametrize(("title", "question", "sql", "ordered"), DEMO, ids=[d[0] for d in DEMO])
async def test_demo_answer_matches_sql_by_hand(
    runtime: Any, demo_actor: Any, title: str, question: str, sql: str, ordered: bool
) -> None:
    expected = comparable(demo_rows(runtime, sql), ordered)

    answer = await runtime.pipeline.ask(demo_actor, "demo", question)

    assert answer.status == "ok", f"{title}: {answer.message}"
    assert comparable(answer.rows, ordered) == expected, answer.sql


async def test_top_products_by_revenue_are_not_a_plain_list(runtime: Any, demo_actor: Any) -> None:
    answer = await runtime.pipeline.ask(
        demo_actor, "demo", "What are the top 5 products by revenue?"
    )

    assert "SUM(" in answer.sql.upper()
    assert "ORDER BY" in answer.sql.upper()
    assert len(answer.rows[0]) == 2


async def test_revenue_in_a_year_is_dated_by_the_order_not_the_customer(
    runtime: Any, demo_actor: Any
) -> None:
    answer = await runtime.pipeline.ask(demo_actor, "demo", "Revenue by category in 2024")

    assert "ordered_at" in answer.sql
    assert "created_at" not in answer.sql


# --- shared/cases/questions.md, on PostgreSQL and MariaDB -----------------------------


def days_ago(days: int) -> dt.datetime:
    return dt.datetime.combine(dt.date.today(), dt.time(12)) - dt.timedelta(days=days)


ORDER_DATES = [days_ago(d) for d in range(0, 400, 9)]
JOINED = [dt.datetime(2023, 12, 31, 22), dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 6, 1),
          dt.datetime(2024, 12, 31, 10), dt.datetime(2025, 1, 2)]  # fmt: skip
USERS = ["ann", "bob", "ann", "carl", "ann", "bob"]

PG_TABLES = """
CREATE TABLE orders (id integer PRIMARY KEY, created_at timestamp, total numeric(10, 2));
CREATE TABLE "Customers" ("id" integer PRIMARY KEY, "createdAt" timestamptz);
CREATE TABLE "order" ("id" integer PRIMARY KEY, "user" text, "amount" numeric(10, 2));
"""
MYSQL_TABLES = [
    "CREATE TABLE orders (id int PRIMARY KEY, created_at datetime, total decimal(10, 2))",
    "CREATE TABLE `Customers` (`id` int PRIMARY KEY, `createdAt` datetime)",
    "CREATE TABLE `order` (`id` int PRIMARY KEY, `user` varchar(20), `amount` decimal(10, 2))",
]
INSERTS = [
    ("INSERT INTO orders VALUES (%s, %s, %s)",
     [(i, d, 10 + i) for i, d in enumerate(ORDER_DATES, start=1)]),
    ("INSERT INTO {customers} VALUES (%s, %s)", list(enumerate(JOINED, start=1))),
    ("INSERT INTO {order} VALUES (%s, %s, %s)",
     [(i, u, 5 * i) for i, u in enumerate(USERS, start=1)]),
]  # fmt: skip


def load(cursor: Any, quote: str) -> None:
    names = {"customers": f"{quote}Customers{quote}", "order": f"{quote}order{quote}"}
    for statement, rows in INSERTS:
        cursor.executemany(statement.format(**names), rows)


@pytest.fixture(scope="module")
def pg_cases() -> Iterator[ConnectionConfig]:
    def fill(connection: psycopg.Connection) -> None:
        connection.execute(PG_TABLES)  # type: ignore[arg-type]
        with connection.cursor() as cursor:
            load(cursor, '"')

    with scratch_postgres("dana_cases", fill) as config:
        yield config


@pytest.fixture(scope="module")
def mysql_cases() -> Iterator[ConnectionConfig]:
    def fill(cursor: Any) -> None:
        for statement in MYSQL_TABLES:
            cursor.execute(statement)
        load(cursor, "`")

    with scratch_mysql("dana_cases", fill) as config:
        yield config


@pytest.fixture(params=["postgres", "mysql"])
def cases(request: pytest.FixtureRequest) -> ConnectionConfig:
    """The cases database on each server in turn."""
    return request.getfixturevalue({"postgres": "pg_cases", "mysql": "mysql_cases"}[request.param])


async def ask(
    config: ConnectionConfig, question: str, table: str
) -> tuple[Translation, list[tuple]]:
    """Translate `question` against the introspected `table` (each case has its own
    schema) and run the SQL it gives."""
    async with make_connector(config) as connector:
        schema = await connector.introspect()
        tables = tuple(t for t in schema.tables if t.name == table)
        request = Request(question, Context(schema=Schema(tables)), config.dialect)
        translation = await OfflineTranslator().translate(request)
        assert translation.kind == "sql", translation.explanation
        result = await connector.execute(translation.sql, timeout_s=5, max_rows=100)
    return translation, result.rows


async def by_hand(config: ConnectionConfig, sql: str) -> list[tuple]:
    async with make_connector(config) as connector:
        return (await connector.execute(sql, timeout_s=5, max_rows=100)).rows


MONTHLY_BY_HAND = {
    "postgres": "SELECT date_trunc('month', created_at), count(*) FROM orders"
    " WHERE created_at >= current_date - interval '6 months' GROUP BY 1 ORDER BY 1",
    "mysql": "SELECT DATE_FORMAT(created_at, '%Y-%m'), count(*) FROM orders"
    " WHERE created_at >= DATE_SUB(CURDATE(), INTERVAL 6 MONTH) GROUP BY 1 ORDER BY 1",
}
DATE_FUNCTION = {"postgres": "DATE_TRUNC('MONTH'", "mysql": "DATE_FORMAT("}


async def test_monthly_count_uses_the_target_dialect_and_runs(cases: ConnectionConfig) -> None:
    expected = await by_hand(cases, MONTHLY_BY_HAND[cases.dialect])

    translation, rows = await ask(cases, "Monthly order count for the last 6 months", "orders")

    assert DATE_FUNCTION[cases.dialect] in translation.sql
    assert len(expected) >= 6
    assert rows == expected


QUOTED = {"postgres": ('"Customers"', '"createdAt"'), "mysql": ("`Customers`", "`createdAt`")}


async def test_mixed_case_names_are_quoted_and_counted(cases: ConnectionConfig) -> None:
    translation, rows = await ask(cases, "How many customers joined in 2024?", "Customers")

    for name in QUOTED[cases.dialect]:
        assert name in translation.sql
    assert rows == [(3,)]


RESERVED = {"postgres": ('"order"', '"user"'), "mysql": ("`order`", "`user`")}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many orders does each user have?", [("ann", 3), ("bob", 2), ("carl", 1)]),
        ("Which user placed the most orders?", [("ann",)]),
    ],
)
async def test_reserved_names_read_the_column(
    cases: ConnectionConfig, question: str, expected: list
) -> None:
    translation, rows = await ask(cases, question, "order")

    for name in RESERVED[cases.dialect]:
        assert name in translation.sql
    assert sorted(tuple(r) for r in rows) == expected


def test_question_about_missing_data_is_declined_without_sql() -> None:
    orders = Table("orders", (Column("id", "integer", primary_key=True), Column("total", "numeric"),
                              Column("customer_id", "integer")))  # fmt: skip
    customers = Table("customers", (Column("id", "integer", primary_key=True),
                                    Column("name", "text")))  # fmt: skip
    request = Request(
        "What was the ROI of the spring marketing campaign?",
        Context(schema=Schema((orders, customers))),
        "postgres",
    )

    translation = OfflineTranslator().translate_now(request)

    assert translation.kind == "unanswerable"
    assert translation.sql is None
    assert translation.explanation.startswith("I can't answer that from this data: there is no")
    assert "campaign" in translation.explanation


def test_two_tables_named_alike_are_a_guess_and_declined() -> None:
    order = Table("order", (Column("id", "integer", primary_key=True), Column("user", "text")))
    orders = Table("orders", (Column("id", "integer", primary_key=True),
                              Column("created_at", "timestamp")))  # fmt: skip
    request = Request(
        "How many orders are there?", Context(schema=Schema((order, orders))), "postgres"
    )

    translation = OfflineTranslator().translate_now(request)

    assert translation.kind == "unanswerable"
    assert "could mean order, orders" in translation.explanation


# --- a table without a declared key, and a column named "total" -----------------------

NO_KEY = """
CREATE TABLE "order" (id integer, "user" text, amount numeric, created_at timestamptz);
INSERT INTO "order" VALUES (1, 'alice', 2.50, '2024-01-01'), (2, 'bob', 10, '2024-01-02'),
  (3, 'alice', 7.50, '2024-02-01'), (4, 'carol', 4, '2024-03-01'), (5, 'bob', 1, '2024-03-05');
"""
TOTALS = [
    "CREATE TABLE orders (id int PRIMARY KEY, customer varchar(20), total decimal(10, 2),"
    " created_at datetime, status varchar(20))",
    "INSERT INTO orders VALUES (1, 'ann', 10, '2024-01-01', 'completed'),"
    " (2, 'bob', 20, '2024-01-05', 'pending'), (3, 'ann', 30, '2024-02-01', 'completed'),"
    " (4, 'carl', 5, '2024-02-03', 'completed'), (5, 'dan', 50, '2024-03-01', 'cancelled')",
]


@pytest.fixture(scope="module")
def pg_no_key() -> Iterator[ConnectionConfig]:
    with scratch_postgres(
        "dana_nokey",
        lambda connection: connection.execute(NO_KEY),  # type: ignore[arg-type]
    ) as config:
        yield config


@pytest.fixture(scope="module")
def mysql_totals() -> Iterator[ConnectionConfig]:
    def fill(cursor: Any) -> None:
        for statement in TOTALS:
            cursor.execute(statement)

    with scratch_mysql("dana_totals", fill) as config:
        yield config


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("What is the total amount of orders?", 'SELECT sum(amount) FROM "order"'),
        ("How many orders did alice place?", """SELECT count(*) FROM "order" WHERE "user" = 'alice'"""),
        ("Average order amount by user",
         'SELECT "user", avg(amount) FROM "order" GROUP BY "user" ORDER BY 2 DESC'),
    ],
)  # fmt: skip
async def test_table_without_a_key_groups_by_the_shown_column(
    pg_no_key: ConnectionConfig, question: str, sql: str
) -> None:
    expected = await by_hand(pg_no_key, sql)

    _, rows = await ask(pg_no_key, question, "order")

    assert comparable(rows, True) == comparable(expected, True)


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("What is the total of completed orders?",
         "SELECT sum(total) FROM orders WHERE status = 'completed'"),
        ("Sum of total by month",
         "SELECT DATE_FORMAT(created_at, '%Y-%m'), sum(total) FROM orders GROUP BY 1 ORDER BY 1"),
        ("Top 3 customers by sum of total",
         "SELECT customer, sum(total) FROM orders GROUP BY customer ORDER BY 2 DESC LIMIT 3"),
    ],
)  # fmt: skip
async def test_sum_of_a_column_named_total(
    mysql_totals: ConnectionConfig, question: str, sql: str
) -> None:
    expected = await by_hand(mysql_totals, sql)

    _, rows = await ask(mysql_totals, question, "orders")

    assert comparable(rows, True) == comparable(expected, True)


async def test_aggregates_are_named(mysql_totals: ConnectionConfig) -> None:
    translation, _ = await ask(mysql_totals, "Average of total by customer", "orders")

    assert "AS average_total" in translation.sql
