"""Follow-up suggestions come from the schema around the tables an answer read."""

from __future__ import annotations

import pytest

from dana.chat.suggestions import suggest
from dana.schema import Column, ForeignKey, Schema, Table

SCHEMA = Schema(
    (
        Table("categories", (Column("id", "int", primary_key=True), Column("name", "text"))),
        Table(
            "products",
            (Column("id", "int", primary_key=True), Column("category_id", "int")),
            foreign_keys=(ForeignKey(("category_id",), "categories", ("id",)),),
        ),
        Table("regions", (Column("id", "int", primary_key=True), Column("name", "text"))),
        Table(
            "stores",
            (
                Column("id", "int", primary_key=True),
                Column("name", "text"),
                Column("region_id", "int"),
            ),
            foreign_keys=(ForeignKey(("region_id",), "regions", ("id",)),),
        ),
        Table(
            "orders",
            (
                Column("id", "int", primary_key=True),
                Column("store_id", "int"),
                Column("total", "numeric"),
                Column("ordered_at", "timestamp"),
            ),
            foreign_keys=(ForeignKey(("store_id",), "stores", ("id",)),),
        ),
    )
)


@pytest.mark.parametrize(
    ("sql", "question", "expected"),
    [
        (
            "SELECT sum(total) FROM orders",
            "What is the total revenue?",
            ["and per month?", "and by store?"],
        ),
        (
            "SELECT date_trunc('month', ordered_at), sum(total) FROM orders GROUP BY 1",
            "Revenue per month",
            ["and by store?"],
        ),
        (
            "SELECT s.name, sum(o.total) FROM orders o JOIN stores s ON s.id = o.store_id"
            " GROUP BY s.name",
            "Revenue by store",
            ["and per month?", "and by region?"],
        ),
        ("SELECT name FROM stores", "List the stores", []),
        ("SELECT count(*) FROM stores", "How many stores?", ["and by region?"]),
        ("SELECT count(*) FROM products", "How many products?", ["and by category?"]),
        (None, "What was the ROI?", []),
    ],
)
def test_suggests_slices_the_schema_offers(sql, question, expected):
    assert suggest(sql, "postgres", SCHEMA, question) == expected
