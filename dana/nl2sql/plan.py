"""A query plan: what the offline translator understood, before it becomes SQL.

The parser fills a `Plan` from the question; `render` turns it into a sqlglot
expression for one dialect, adding the joins that connect the tables it uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class NotUnderstood(Exception):
    """The question uses a construct the rules do not cover; the message says which."""


@dataclass(frozen=True)
class Col:
    table: str
    column: str


@dataclass(frozen=True)
class Item:
    """A selected, grouped or ordered expression: a column, an aggregate, or count(*)."""

    agg: str | None = None  # "count", "sum", "avg", "min" or "max"
    col: Col | None = None  # None with "count" is count(*)
    distinct: bool = False
    bucket: str | None = None  # "day", "week", "month", "quarter" or "year" of a date column
    label: str | None = None  # the name of the result column, when the expression has none

    @property
    def tables(self) -> tuple[str, ...]:
        return (self.col.table,) if self.col else ()


@dataclass
class Cond:
    """`col op values`, or `col op (sub)` when `sub` is set."""

    col: Col
    op: str  # =, !=, <, >, <=, >=, like, not like, between, in, not in, year=, period
    values: tuple[object, ...] = ()
    sub: Plan | None = None
    bucket: str | None = None  # compare the year of a date column, not the column


@dataclass
class Plan:
    select: list[Item] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # the first is the main table
    where: list[Cond] = field(default_factory=list)
    connectors: list[str] = field(default_factory=list)  # "and"/"or" between conditions
    group_by: list[Item] = field(default_factory=list)
    having: list[tuple[Item, str, object]] = field(default_factory=list)
    order_by: list[tuple[Item, str]] = field(default_factory=list)
    limit: int | None = None
    distinct: bool = False
    setop: tuple[str, Plan] | None = None  # ("intersect" | "union" | "except", other)

    @property
    def main(self) -> str:
        return self.tables[0]

    def used_tables(self) -> list[str]:
        """Every table the FROM clause needs, the main one first."""
        names = list(self.tables)
        items = self.select + self.group_by + [h[0] for h in self.having]
        items += [o[0] for o in self.order_by]
        for item in items:
            names.extend(item.tables)
        names.extend(c.col.table for c in self.where)
        return list(dict.fromkeys(names))
