"""Turning a `Plan` into SQL for one dialect, joining tables along foreign keys."""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from dana.nl2sql import dates
from dana.nl2sql.paths import Ambiguity, preferred, shortest_paths
from dana.nl2sql.plan import Cond, Item, Plan
from dana.schema import Schema

# Words that must be quoted as identifiers in at least one of our dialects.
RESERVED = frozenset(
    """
    all and any as asc between by case cast check column constraint create cross current
    default delete desc distinct drop else end except exists false fetch for foreign from
    full grant group having in index inner insert intersect into is join key left like limit
    natural not null offset on or order outer primary references right row rows select set
    table then to true union unique update user using values when where window with
    """.split()
)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class NoJoinPath(Exception):
    """Two tables the question needs are not connected by foreign keys."""


@dataclass(frozen=True)
class Edge:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


def identifier(name: str, dialect: str) -> exp.Identifier:
    """An identifier, quoted only when the dialect needs it."""
    plain = bool(_PLAIN.fullmatch(name)) and name.lower() not in RESERVED
    if dialect in ("postgres", "mysql"):
        # Postgres folds unquoted names to lower case; on MySQL the quotes change nothing
        # but show that a mixed-case name is meant exactly as the catalog spells it.
        plain = plain and name == name.lower()
    return exp.Identifier(this=name, quoted=not plain)


def fk_edges(schema: Schema) -> list[Edge]:
    names = {t.name.lower(): t.name for t in schema.tables}
    edges = []
    for table in schema.tables:
        for fk in table.foreign_keys:
            ref = names.get(fk.ref_table.lower())
            if ref is not None and ref != table.name:
                edges.append(Edge(table.name, fk.columns, ref, fk.ref_columns))
    return edges


def join_tree(
    tables: list[str], edges: list[Edge], hints: Iterable[str] = ()
) -> list[tuple[str, Edge]]:
    """Tables to add after the first, each with the edge joining it: a small Steiner tree
    grown by shortest paths from the tables already joined. Where two shortest paths
    exist, the one through tables or columns named in `hints` is taken."""
    return _grow(tables, edges, tuple(hints))[0]


def join_ambiguities(
    tables: list[str], edges: list[Edge], hints: Iterable[str] = ()
) -> list[Ambiguity]:
    """The joins of `join_tree` that had several equally short paths `hints` did not
    settle."""
    return _grow(tables, edges, tuple(hints))[1]


def _grow(
    tables: list[str], edges: list[Edge], hints: tuple[str, ...]
) -> tuple[list[tuple[str, Edge]], list[Ambiguity]]:
    joined = [tables[0]]
    steps: list[tuple[str, Edge]] = []
    ambiguities = []
    for target in tables[1:]:
        if target in joined:
            continue
        path = _shortest_path(joined, target, edges)
        if path is None:
            raise NoJoinPath(f"{tables[0]} and {target}")
        others = shortest_paths(joined, target, edges)
        others.sort(key=lambda found: list(found) != path)  # the usual choice first
        if len(others) > 1:
            chosen = preferred(others, hints)
            if chosen is not None:
                path = list(chosen)
            else:
                ambiguities.append(Ambiguity(target, tuple(others)))
        for table, edge in path:
            if table not in joined:
                joined.append(table)
                steps.append((table, edge))
    return steps, ambiguities


def _shortest_path(
    start: list[str], target: str, edges: list[Edge]
) -> list[tuple[str, Edge]] | None:
    previous: dict[str, tuple[str, Edge] | None] = {name: None for name in start}
    queue = deque(start)
    while queue:
        current = queue.popleft()
        if current == target:
            break
        for edge in edges:
            for near, far in ((edge.table, edge.ref_table), (edge.ref_table, edge.table)):
                if near == current and far not in previous:
                    previous[far] = (current, edge)
                    queue.append(far)
    if target not in previous:
        return None
    path = []
    node = target
    while previous[node] is not None:
        parent, edge = previous[node]  # type: ignore[misc]
        path.append((node, edge))
        node = parent
    return list(reversed(path))


def join_count(tables: list[str], edges: list[Edge]) -> int | None:
    """How many joins connecting `tables` takes, or None when they cannot be connected."""
    try:
        return len(join_tree(tables, edges))
    except NoJoinPath:
        return None


class Renderer:
    def __init__(self, schema: Schema, dialect: str, hints: Iterable[str] = ()) -> None:
        self.schema = schema
        self.dialect = dialect
        self.edges = fk_edges(schema)
        # Tables and columns the question names, to choose between equally short joins.
        self.hints = tuple(hints)

    def render(self, plan: Plan) -> exp.Expression:
        query: exp.Expression = self._select(plan)
        if plan.setop is not None:
            kind, other = plan.setop
            right = self._select(other)
            builders = {"intersect": exp.intersect, "union": exp.union, "except": exp.except_}
            query = builders[kind](query, right, distinct=True)
        return query

    def _select(self, plan: Plan) -> exp.Select:
        tables = plan.used_tables()
        steps = join_tree(tables, self.edges, self.hints)
        aliases = self._aliases([tables[0]] + [t for t, _ in steps])
        query = exp.Select().from_(self._table(tables[0], aliases))
        for table, edge in steps:
            query = query.join(self._table(table, aliases), on=self._on(edge, aliases))
        scope = _Scope(self, aliases)
        query = query.select(*[scope.labelled(i) for i in plan.select])
        if plan.distinct:
            query = query.distinct()
        condition = self._where(plan, scope)
        if condition is not None:
            query = query.where(condition)
        if plan.group_by:
            query = query.group_by(*[scope.item(i) for i in plan.group_by])
        for item, op, value in plan.having:
            query = query.having(_compare(scope.item(item), op, (value,)))
        for item, direction in plan.order_by:
            query = query.order_by(self._ordered(scope.item(item), direction == "desc"))
        if plan.limit is not None:
            query = query.limit(plan.limit)
        return query

    def _ordered(self, expression: exp.Expression, desc: bool) -> exp.Ordered:
        # Keep the dialect's own placement of NULLs, so no NULLS FIRST/LAST is written.
        small = Dialect.get_or_raise(self.dialect).NULL_ORDERING == "nulls_are_small"
        return exp.Ordered(this=expression, desc=desc, nulls_first=small != desc)

    def _aliases(self, tables: list[str]) -> dict[str, str | None]:
        if len(tables) == 1:
            return {tables[0]: None}
        return {name: f"T{i}" for i, name in enumerate(tables, start=1)}

    def _table(self, name: str, aliases: dict[str, str | None]) -> exp.Expression:
        table = exp.Table(this=identifier(name, self.dialect))
        alias = aliases[name]
        return exp.alias_(table, alias) if alias else table

    def _on(self, edge: Edge, aliases: dict[str, str | None]) -> exp.Expression:
        pairs = [
            exp.EQ(
                this=self._column(edge.table, left, aliases),
                expression=self._column(edge.ref_table, right, aliases),
            )
            for left, right in zip(edge.columns, edge.ref_columns, strict=False)
        ]
        return exp.and_(*pairs) if len(pairs) > 1 else pairs[0]

    def _column(self, table: str, column: str, aliases: dict[str, str | None]) -> exp.Column:
        alias = aliases.get(table)
        return exp.Column(
            this=identifier(column, self.dialect),
            table=exp.Identifier(this=alias) if alias else None,
        )

    def _where(self, plan: Plan, scope: _Scope) -> exp.Expression | None:
        result: exp.Expression | None = None
        for i, cond in enumerate(plan.where):
            part = scope.condition(cond)
            if result is None:
                result = part
            elif i - 1 < len(plan.connectors) and plan.connectors[i - 1] == "or":
                result = exp.or_(result, part)
            else:
                result = exp.and_(result, part)
        return result


class _Scope:
    """Columns of one SELECT, written with that SELECT's table aliases."""

    def __init__(self, renderer: Renderer, aliases: dict[str, str | None]) -> None:
        self.renderer = renderer
        self.aliases = aliases

    def column(self, table: str, column: str) -> exp.Column:
        return self.renderer._column(table, column, self.aliases)

    def item(self, item: Item) -> exp.Expression:
        inner: exp.Expression = exp.Star() if item.col is None else self._bucketed(item)
        if item.agg is None:
            return inner
        if item.distinct:
            inner = exp.Distinct(expressions=[inner])
        functions = {"count": exp.Count, "sum": exp.Sum, "avg": exp.Avg, "min": exp.Min,
                     "max": exp.Max}  # fmt: skip
        return functions[item.agg](this=inner)

    def labelled(self, item: Item) -> exp.Expression:
        expression = self.item(item)
        if item.label is None:
            return expression
        return exp.alias_(expression, identifier(item.label, self.renderer.dialect))

    def _bucketed(self, item: Item) -> exp.Expression:
        assert item.col is not None
        column = self.column(item.col.table, item.col.column)
        if item.bucket is not None:
            return dates.bucket(column, item.bucket, self.renderer.dialect)
        return column

    def condition(self, cond: Cond) -> exp.Expression:
        dialect = self.renderer.dialect
        column: exp.Expression = self.column(cond.col.table, cond.col.column)
        if cond.bucket == "year":
            column = dates.year_of(column, dialect)
        if cond.op == "period":
            unit, count, kind = cond.values
            if kind == "previous":
                return dates.previous_period(column, str(unit), dialect)
            if kind == "current":
                return dates.current_period(column, str(unit), dialect)
            return dates.recent(column, str(unit), int(count), dialect)  # type: ignore[call-overload]
        if cond.sub is not None:
            sub = self.renderer.render(cond.sub)
            if cond.op in ("in", "not in"):
                found = exp.In(this=column, query=exp.Subquery(this=sub))
                return exp.Not(this=found) if cond.op == "not in" else found
            return _compare(column, cond.op, (exp.Subquery(this=sub),))
        return _compare(column, cond.op, cond.values)


def literal(value: object) -> exp.Expression:
    if isinstance(value, exp.Expression):
        return value
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, float) and value.is_integer():
        return exp.Literal.number(int(value))
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def _compare(left: exp.Expression, op: str, values: tuple[object, ...]) -> exp.Expression:
    right = [literal(v) for v in values]
    if op == "between":
        return exp.Between(this=left, low=right[0], high=right[1])
    if op in ("in", "not in"):
        found = exp.In(this=left, expressions=right)
        return exp.Not(this=found) if op == "not in" else found
    if op in ("like", "not like"):
        like = exp.Like(this=left, expression=right[0])
        return exp.Not(this=like) if op == "not like" else like
    if op == "is null":
        return exp.Is(this=left, expression=exp.Null())
    builders = {"=": exp.EQ, "!=": exp.NEQ, "<": exp.LT, ">": exp.GT, "<=": exp.LTE,
                ">=": exp.GTE}  # fmt: skip
    return builders[op](this=left, expression=right[0])
