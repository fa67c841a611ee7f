"""The offline translator, one construct at a time, on a small shop database made here."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from dana.integrations.sqlite_schema import introspect_sqlite
from dana.nl2sql.base import Request, Translation
from dana.nl2sql.offline import OfflineTranslator
from dana.schema import Column, Context, ForeignKey, Schema, Table

SHOP = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, country TEXT, age INTEGER);
CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT, category TEXT, price REAL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
  product_id INTEGER REFERENCES products(id), status TEXT, quantity INTEGER, created_at DATE);
INSERT INTO customers VALUES (1, 'Ann', 'Paris', 'France', 34), (2, 'Bob', 'Lyon', 'France', 25),
  (3, 'Carl', 'Berlin', 'Germany', 41), (4, 'Dana', 'Munich', 'Germany', 29),
  (5, 'Eve', 'Rome', 'Italy', 52);
INSERT INTO products VALUES (1, 'Desk lamp', 'lighting', 30), (2, 'Floor lamp', 'lighting', 80),
  (3, 'Chair', 'furniture', 120), (4, 'Table', 'furniture', 300);
INSERT INTO orders VALUES (1, 1, 1, 'shipped', 2, '2024-01-05'), (2, 1, 3, 'returned', 1, '2024-02-10'),
  (3, 2, 2, 'shipped', 1, '2024-03-15'), (4, 3, 4, 'pending', 1, '2023-11-20'),
  (5, 3, 1, 'returned', 3, '2024-05-01'), (6, 3, 2, 'shipped', 1, '2024-06-01');
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(SHOP)
    return path


def translate(question: str, schema: Schema, dialect: str = "sqlite") -> Translation:
    request = Request(question, Context(schema=schema), dialect)
    return asyncio.run(OfflineTranslator().translate(request))


def answer(question: str, shop: Path) -> list[tuple]:
    translation = translate(question, introspect_sqlite(shop))
    assert translation.kind == "sql", translation.explanation
    with sqlite3.connect(shop) as connection:
        return sorted(connection.execute(translation.sql).fetchall())


# (title, question, expected rows sorted)
ANSWERS = [
    ("count", "How many customers are there?", [(5,)]),
    ("count with value", "How many customers are from France?", [(2,)]),
    ("demonym value", "How many French customers are there?", [(2,)]),
    ("group by column", "How many customers are from each country?",
     [("France", 2), ("Germany", 2), ("Italy", 1)]),
    ("group with average", "What is the average price of products in each category?",
     [("furniture", 210.0), ("lighting", 55.0)]),
    ("group through a join", "What is the total quantity of orders for each customer?",
     [("Ann", 3), ("Bob", 1), ("Carl", 5)]),
    ("having", "Which categories have more than 1 product?", [("furniture",), ("lighting",)]),
    ("comparison adjective", "Show the names of customers older than 30.",
     [("Ann",), ("Carl",), ("Eve",)]),
    ("between", "List the names of customers whose age is between 30 and 45.",
     [("Ann",), ("Carl",)]),
    ("contains", "List the products whose title contains 'lamp'.",
     [("Desk lamp",), ("Floor lamp",)]),
    ("starting with", "Which products have a title starting with 'Desk'?", [("Desk lamp",)]),
    ("negated value", "Show the names of customers who are not from France.",
     [("Carl",), ("Dana",), ("Eve",)]),
    ("superlative adjective", "What is the name of the oldest customer?", [("Eve",)]),
    ("top n", "List the names of the 3 most expensive products.",
     [("Chair",), ("Floor lamp",), ("Table",)]),
    ("superlative count", "Which customer has the most orders?", [("Carl",)]),
    ("anti-join", "What are the names of customers who have no orders?", [("Dana",), ("Eve",)]),
    ("both ... and is an intersection",
     "What are the names of customers who have orders with status shipped and returned?",
     [("Ann",), ("Carl",)]),
    ("either ... or is a union of values",
     "What are the names of customers who have orders with status either shipped or pending?",
     [("Ann",), ("Bob",), ("Carl",)]),
    ("in a year", "How many orders were placed in 2024?", [(5,)]),
    ("top n by a measure of related rows", "What are the top 2 customers by quantity?",
     [("Ann", 3), ("Carl", 5)]),
    ("top n by a count of related rows", "Top 1 customer by number of orders", [("Carl", 3)]),
    ("bottom n by its own column", "What are the bottom 2 products by price?",
     [("Desk lamp", 30.0), ("Floor lamp", 80.0)]),
    ("bare measure by a column is its sum", "Quantity by status",
     [("pending", 1), ("returned", 4), ("shipped", 4)]),
    ("bare entity by a column is its count", "Orders by status",
     [("pending", 1), ("returned", 2), ("shipped", 3)]),
    ("per period in a year", "Orders per month in 2024",
     [("2024-01", 1), ("2024-02", 1), ("2024-03", 1), ("2024-05", 1), ("2024-06", 1)]),
    ("a grouping after a period's", "Orders per month by status",
     [("2023-11", "pending", 1), ("2024-01", "shipped", 1), ("2024-02", "returned", 1),
      ("2024-03", "shipped", 1), ("2024-05", "returned", 1), ("2024-06", "shipped", 1)]),
    ("by month", "Show the number of orders by month.",
     [("2023-11", 1), ("2024-01", 1), ("2024-02", 1), ("2024-03", 1), ("2024-05", 1),
      ("2024-06", 1)]),
]  # fmt: skip


@pytest.mark.parametrize(("title", "question", "expected"), ANSWERS, ids=[a[0] for a in ANSWERS])
def test_answers_shop_questions(shop: Path, title: str, question: str, expected: list) -> None:
    rows = answer(question, shop)

    assert rows == expected, title


# Years stored as text, a junction table, and a number column named "number of ...".
CLUB = """
CREATE TABLE clubs (id INTEGER PRIMARY KEY, name TEXT, open_year TEXT, number_of_staff INTEGER);
CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, join_year TEXT,
  club_id INTEGER REFERENCES clubs(id));
CREATE TABLE events (id INTEGER PRIMARY KEY, title TEXT, year TEXT,
  club_id INTEGER REFERENCES clubs(id));
CREATE TABLE attendance (member_id INTEGER REFERENCES members(id),
  event_id INTEGER REFERENCES events(id), PRIMARY KEY (member_id, event_id));
INSERT INTO clubs VALUES (1, 'Chess', '2001', 4), (2, 'Rowing', '2008', 10), (3, 'Choir', '2012', 7);
INSERT INTO members VALUES (1, 'Ann', 30, '2013', 1), (2, 'Bob', 41, '2015', 1),
  (3, 'Cem', 30, '2016', 2), (4, 'Dee', 25, '2013', 3);
INSERT INTO events VALUES (1, 'Open day', '2013', 1), (2, 'Regatta', '2014', 2),
  (3, 'Concert', '2016', 3), (4, 'Final', '2016', 2);
INSERT INTO attendance VALUES (1, 1), (1, 3), (2, 1), (3, 2), (3, 4), (3, 3), (4, 3);
"""


@pytest.fixture(scope="module")
def club(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("club") / "club.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript(CLUB)
    return path


# (title, question, expected rows sorted)
CLUB_ANSWERS = [
    ("a compared year is a number, not a stored text value",
     "How many events were there after 2013?", [(3,)]),
    ("'or after' follows the number", "How many events were there in 2014 or after?", [(3,)]),
    ("two comparisons joined by or", "Which clubs opened before 2005 or after 2010?",
     [("Chess",), ("Choir",)]),
    ("'or more' with a count", "Which clubs have 2 or more members?", [("Chess",)]),
    ("aged names the age column", "Show the names of members aged 30.", [("Ann",), ("Cem",)]),
    ("count of things having more than n others",
     "How many clubs have more than 1 member?", [(1,)]),
    ("count of things having n others through a junction table",
     "How many members attended at least 2 events?", [(2,)]),
    ("average of a column named 'number of'", "What is the average number of staff of clubs?",
     [(7.0,)]),
    ("titled before a quoted name", "What are the titles of events of the club titled 'Chess'?",
     [("Open day",)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("title", "question", "expected"), CLUB_ANSWERS, ids=[a[0] for a in CLUB_ANSWERS]
)
def test_answers_club_questions(club: Path, title: str, question: str, expected: list) -> None:
    rows = answer(question, club)

    assert rows == expected, title


def test_says_what_data_is_missing(shop: Path) -> None:
    schema = introspect_sqlite(shop)

    translation = translate("What was the ROI of the spring marketing campaign?", schema)

    assert translation.kind == "unanswerable"
    assert translation.sql is None
    assert "campaign" in translation.explanation
    assert translation.explanation.startswith("I can't answer that from this data")


def test_declines_a_word_it_cannot_place(shop: Path) -> None:
    schema = introspect_sqlite(shop)

    translation = translate("Which customers churned after their loyalty downgrade?", schema)

    assert translation.kind == "unanswerable"
    assert translation.sql is None


def test_reports_a_confidence(shop: Path) -> None:
    translation = translate("How many customers are there?", introspect_sqlite(shop))

    assert 0.7 <= translation.confidence <= 1.0
    assert translation.translator == "offline"


ORDERS = Table(
    "Orders",
    (
        Column("id", "integer", primary_key=True),
        Column("customerId", "integer"),
        Column("createdAt", "timestamp"),
        Column("order", "text"),
    ),
    foreign_keys=(ForeignKey(("customerId",), "Customers", ("id",)),),
)
CUSTOMERS = Table("Customers", (Column("id", "integer", primary_key=True), Column("name", "text")))
MIXED_CASE = Schema(tables=(ORDERS, CUSTOMERS), dialect="postgres")

DATES = [
    ("postgres", "How many orders were created in 2024?",
     'SELECT COUNT(*) AS orders FROM "Orders" WHERE EXTRACT(YEAR FROM "createdAt") = 2024'),
    ("mysql", "How many orders were created in 2024?",
     "SELECT COUNT(*) AS orders FROM `Orders` WHERE YEAR(`createdAt`) = 2024"),
    ("sqlite", "How many orders were created in 2024?",
     "SELECT COUNT(*) AS orders FROM Orders WHERE CAST(STRFTIME('%Y', createdAt) AS INTEGER) = 2024"),
    ("postgres", "Show the number of orders by month.",
     "SELECT DATE_TRUNC('MONTH', \"createdAt\") AS month, COUNT(*) AS orders FROM \"Orders\" "
     "GROUP BY DATE_TRUNC('MONTH', \"createdAt\") ORDER BY DATE_TRUNC('MONTH', \"createdAt\") ASC"),
    ("mysql", "Show the number of orders by month.",
     "SELECT DATE_FORMAT(`createdAt`, '%Y-%m') AS month, COUNT(*) AS orders FROM `Orders` "
     "GROUP BY DATE_FORMAT(`createdAt`, '%Y-%m') ORDER BY DATE_FORMAT(`createdAt`, '%Y-%m') ASC"),
    ("postgres", "How many orders were created last month?",
     "SELECT COUNT(*) AS orders FROM \"Orders\" WHERE \"createdAt\" >= DATE_TRUNC('MONTH', CURRENT_DATE) "
     "- INTERVAL '1 MONTH' AND \"createdAt\" < DATE_TRUNC('MONTH', CURRENT_DATE)"),
    ("mysql", "How many orders were created in the last 6 months?",
     "SELECT COUNT(*) AS orders FROM `Orders` WHERE `createdAt` >= CURRENT_DATE - INTERVAL '6' MONTH"),
    ("sqlite", "How many orders were created in the last 6 months?",
     "SELECT COUNT(*) AS orders FROM Orders WHERE createdAt >= DATE(DATE('now'), '-6 months')"),
    ("postgres", "How many orders were created last quarter?",
     "SELECT COUNT(*) AS orders FROM \"Orders\" WHERE \"createdAt\" >= DATE_TRUNC('QUARTER', CURRENT_DATE)"
     " - INTERVAL '3 MONTH' AND \"createdAt\" < DATE_TRUNC('QUARTER', CURRENT_DATE)"),
    ("postgres", "Monthly order count for the last 6 months",
     "SELECT DATE_TRUNC('MONTH', \"createdAt\") AS month, COUNT(*) AS orders FROM \"Orders\" "
     "WHERE \"createdAt\" >= CURRENT_DATE - INTERVAL '6 MONTHS' "
     "GROUP BY DATE_TRUNC('MONTH', \"createdAt\") ORDER BY DATE_TRUNC('MONTH', \"createdAt\") ASC"),
    ("mysql", "Monthly order count for the last 6 months",
     "SELECT DATE_FORMAT(`createdAt`, '%Y-%m') AS month, COUNT(*) AS orders FROM `Orders` "
     "WHERE `createdAt` >= CURRENT_DATE - INTERVAL '6' MONTH "
     "GROUP BY DATE_FORMAT(`createdAt`, '%Y-%m') ORDER BY DATE_FORMAT(`createdAt`, '%Y-%m') ASC"),
    ("sqlite", "Monthly order count for the last 6 months",
     "SELECT STRFTIME('%Y-%m', createdAt) AS month, COUNT(*) AS orders FROM Orders "
     "WHERE createdAt >= DATE(DATE('now'), '-6 months') "
     "GROUP BY STRFTIME('%Y-%m', createdAt) ORDER BY STRFTIME('%Y-%m', createdAt) ASC"),
    ("postgres", "Weekly order count this year",
     "SELECT DATE_TRUNC('WEEK', \"createdAt\") AS week, COUNT(*) AS orders FROM \"Orders\" "
     "WHERE \"createdAt\" >= DATE_TRUNC('YEAR', CURRENT_DATE) "
     "GROUP BY DATE_TRUNC('WEEK', \"createdAt\") ORDER BY DATE_TRUNC('WEEK', \"createdAt\") ASC"),
    ("mysql", "Orders per week this year",
     "SELECT DATE(`createdAt` - INTERVAL (WEEKDAY(`createdAt`)) DAY) AS week, COUNT(*) AS orders "
     "FROM `Orders` WHERE `createdAt` >= MAKEDATE(YEAR(CURRENT_DATE), 1) "
     "GROUP BY DATE(`createdAt` - INTERVAL (WEEKDAY(`createdAt`)) DAY) "
     "ORDER BY DATE(`createdAt` - INTERVAL (WEEKDAY(`createdAt`)) DAY) ASC"),
    ("sqlite", "Yearly order count",
     "SELECT CAST(STRFTIME('%Y', createdAt) AS INTEGER) AS year, COUNT(*) AS orders FROM Orders "
     "GROUP BY CAST(STRFTIME('%Y', createdAt) AS INTEGER) "
     "ORDER BY CAST(STRFTIME('%Y', createdAt) AS INTEGER) ASC"),
]  # fmt: skip


@pytest.mark.parametrize(("dialect", "question", "sql"), DATES)
def test_renders_dates_per_dialect(dialect: str, question: str, sql: str) -> None:
    translation = translate(question, MIXED_CASE, dialect)

    assert translation.sql == sql


def test_quotes_mixed_case_and_reserved_names_on_postgres() -> None:
    translation = translate(
        "Show the order of each order for customers named 'Ann'.", MIXED_CASE, "postgres"
    )

    assert translation.kind == "sql"
    assert '"Orders"' in translation.sql
    assert '"order"' in translation.sql
    assert '"customerId"' in translation.sql


def test_sqlite_quarter_range_runs(shop: Path) -> None:
    translation = translate("How many orders were created last quarter?", introspect_sqlite(shop))

    with sqlite3.connect(shop) as connection:
        rows = connection.execute(translation.sql).fetchall()

    assert rows == [(0,)]
