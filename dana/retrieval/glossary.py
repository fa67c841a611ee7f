"""Business terms an admin defines ("revenue" = quantity * unit price * (1 - discount)).

A term whose SQL is a row-level expression over one table becomes a virtual column of
that table: translators see `order_items.revenue` like any column, and the SQL they
write is expanded to the term's expression before the guard checks it. So the guard
only ever sees real columns, and every translator reads a term the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp

from dana.schema import Column, Schema

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Term:
    term: str
    sql: str
    definition: str = ""

    @property
    def column_name(self) -> str:
        return re.sub(r"\W+", "_", self.term.strip().lower()).strip("_")


def term_table(term: Term, schema: Schema, dialect: str) -> str | None:
    """The one table whose columns `term`'s expression reads, or None if it is not one."""
    try:
        expression = sqlglot.parse_one(term.sql, dialect=dialect)
    except sqlglot.errors.ParseError:
        return None
    if expression.find(exp.AggFunc, exp.Select, exp.Subquery):
        return None
    tables = set()
    for column in expression.find_all(exp.Column):
        if column.table:
            tables.add(column.table.lower())
        else:
            owners = [t.name.lower() for t in schema.tables if t.column(column.name)]
            if len(owners) != 1:
                return None
            tables.add(owners[0])
    if len(tables) != 1:
        return None
    table = schema.table(tables.pop())
    return table.name if table else None


def with_virtual_columns(schema: Schema, terms: list[Term], dialect: str) -> Schema:
    """`schema` with each row-level term added as a numeric column of its table."""
    added: dict[str, list[Column]] = {}
    for term in terms:
        table = term_table(term, schema, dialect)
        if table is None or not _NAME.match(term.column_name):
            continue
        if schema.table(table).column(term.column_name):  # type: ignore[union-attr]
            continue
        comment = f"business term: {term.definition or term.term}"
        added.setdefault(table, []).append(Column(term.column_name, "numeric", comment=comment))
    tables = tuple(
        replace(t, columns=t.columns + tuple(added.get(t.name, ()))) for t in schema.tables
    )
    return replace(schema, tables=tables)


def expand_terms(sql: str, dialect: str, terms: list[Term], schema: Schema) -> str:
    """`sql` with every virtual column replaced by its term's expression.

    >>> from dana.schema import Table
    >>> items = Table("items", (Column("qty", "int"), Column("price", "numeric")))
    >>> t = Term("revenue", "qty * price")
    >>> expand_terms("SELECT SUM(i.revenue) FROM items AS i", "postgres", [t], Schema((items,)))
    'SELECT SUM((i.qty * i.price)) FROM items AS i'
    """
    owners = {t.column_name: (t, term_table(t, schema, dialect)) for t in terms}
    owners = {name: pair for name, pair in owners.items() if pair[1] is not None}
    if not owners:
        return sql
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect)
    except sqlglot.errors.ParseError:
        return sql  # the guard will name the problem
    changed = False
    for column in list(tree.find_all(exp.Column)):
        pair = owners.get(column.name.lower())
        if pair is None or _is_real_column(column, pair[1], schema):
            continue
        term, _table = pair
        replacement = sqlglot.parse_one(term.sql, dialect=dialect)
        for inner in replacement.find_all(exp.Column):
            if column.table:
                inner.set("table", exp.to_identifier(column.table))
        column.replace(exp.Paren(this=replacement))
        changed = True
    return tree.sql(dialect=dialect) if changed else sql


def _is_real_column(column: exp.Column, table: str | None, schema: Schema) -> bool:
    owner = schema.table(table) if table else None
    return bool(owner and owner.column(column.name))
