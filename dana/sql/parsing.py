"""Reading SQL text into sqlglot trees, in the target dialect or converted from another."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, SqlglotError, TokenError
from sqlglot.tokenizer_core import Token, TokenType

from dana.sql.dialects import DISPLAY_NAMES, FALLBACK_DIALECTS
from dana.sql.problems import Problem

E = TypeVar("E", bound=exp.Expr)

# Statements that sqlglot cannot parse at all in some dialects, named so that a refusal
# says what the query tried instead of pointing at a syntax error.
_NON_READ_STARTERS = frozenset(
    """alter analyze attach begin call cluster comment commit copy create deallocate declare
    delete detach discard do drop execute flush grant handler import insert install kill
    listen load lock merge notify optimize pragma prepare purge refresh reindex release
    rename repair replace reset revoke rollback savepoint set show shutdown start truncate
    unlisten unlock update use vacuum""".split()
)
_FILE_TARGETS = frozenset({"OUTFILE", "DUMPFILE"})


class Nodes:
    """Every node of a tree grouped by type, from one walk, so rules need not walk again."""

    def __init__(self, expression: exp.Expr) -> None:
        by_type: defaultdict[type[exp.Expr], list[exp.Expr]] = defaultdict(list)
        for node in expression.walk():
            by_type[type(node)].append(node)
        self._by_type = dict(by_type)

    def of(self, *types: type[E]) -> Iterator[E]:
        """The nodes that are instances of any of `types`, subclasses included."""
        for cls, nodes in self._by_type.items():
            if issubclass(cls, types):
                yield from nodes  # type: ignore[misc]

    def has(self, *types: type[exp.Expr]) -> bool:
        return any(issubclass(cls, types) for cls in self._by_type)


@dataclass
class Statement:
    """One parsed statement, the dialect it runs in, the one it was read in, and its nodes."""

    expression: exp.Expr
    dialect: str
    read_in: str | None = None
    nodes: Nodes = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = Nodes(self.expression)


@dataclass(frozen=True)
class Reading:
    """The statements of a text, the dialect they were read in, or why they could not be."""

    statements: tuple[exp.Expr, ...] = ()
    dialect: str | None = None
    problems: tuple[Problem, ...] = ()


def read_statements(sql: str, dialect: str, source_dialect: str | None = None) -> Reading:
    """Parse `sql` in `source_dialect` if given, else in `dialect`, else in another dialect.

    Falling back to another dialect lets a query written in PostgreSQL's idiom run on
    MySQL once converted; whatever dialect reads it, the tree is what gets checked.
    """
    first = source_dialect or dialect
    try:
        return Reading(parse_statements(sql, first), first)
    except SqlglotError as error:
        failure = error

    refusal = describe_unreadable(sql, first)
    if refusal:
        return Reading(problems=(refusal,))
    if source_dialect is None:
        for other in FALLBACK_DIALECTS:
            if other == first:
                continue
            try:
                return Reading(parse_statements(sql, other), other)
            except SqlglotError:
                continue
    return Reading(problems=(parse_problem(failure, first),))


def parse_statements(sql: str, dialect: str) -> tuple[exp.Expr, ...]:
    """The non-empty statements of `sql`; comments and stray semicolons are dropped."""
    parsed = sqlglot.parse(sql, read=dialect)
    return tuple(s for s in parsed if s is not None and not isinstance(s, exp.Semicolon))


def unwrap_parentheses(expression: exp.Expr) -> exp.Expr:
    """`(SELECT ...)` as a whole statement is the SELECT itself."""
    while isinstance(expression, exp.Subquery) and _is_bare(expression):
        expression = expression.this.pop()
    return expression


def _is_bare(subquery: exp.Subquery) -> bool:
    return not any(value for key, value in subquery.args.items() if key != "this")


def describe_unreadable(sql: str, dialect: str) -> Problem | None:
    """Name what an unparseable text tried to do, when its words make that plain."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError:
        return None
    if not tokens:
        return None

    starter = tokens[0].text.lower()
    if starter in _NON_READ_STARTERS:
        return Problem(
            "require_read_statement",
            f"the statement {starter.upper()} is not allowed; DANA only reads",
        )
    for token, following in zip(tokens, tokens[1:], strict=False):
        if token.token_type == TokenType.INTO:
            return _into_problem(following)
    return None


def _into_problem(following: Token) -> Problem:
    target = following.text.upper()
    if target in _FILE_TARGETS:
        return Problem(
            "reject_into", f"the query writes to a file (INTO {target}); DANA only reads"
        )
    return Problem("reject_into", "the query stores its result (SELECT ... INTO); DANA only reads")


def parse_problem(error: SqlglotError, dialect: str) -> Problem:
    """A parse failure told plainly, with line and column when sqlglot gives them."""
    name = DISPLAY_NAMES.get(dialect, dialect)
    if isinstance(error, TokenError):
        return Problem(
            "parse", f"the SQL could not be read as {name}: a quote or comment is not closed"
        )
    if isinstance(error, ParseError) and error.errors:
        detail = error.errors[0]
        description = str(detail.get("description") or "syntax error").rstrip(".")
        near = str(detail.get("highlight") or "").strip()[:40]
        place = f" near '{near}'" if near else ""
        where = ""
        if detail.get("line") is not None and detail.get("col") is not None:
            where = f" (line {detail['line']}, column {detail['col']})"
        return Problem("parse", f"the SQL could not be read as {name}: {description}{place}{where}")
    return Problem("parse", f"the SQL could not be read as {name}")
