"""The guard: decides whether a query may run and writes the SQL that does.

sqlglot parses the text in the connection's dialect (or converts it from another); the
rules check the whole tree; names are checked against the cached schema and respelled;
a row cap is added; and the SQL that runs is regenerated from the checked tree, never
passed through from the text. The guard is a lint: the read-only session and the
database user are the wall.

    >>> validate("select name from singer limit 5", "sqlite").sql
    'SELECT name FROM singer LIMIT 5'
    >>> validate("DELETE FROM singer", "sqlite").message
    'the query deletes from table singer; DANA only reads'
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, UnsupportedError

from dana.errors import QueryRefused
from dana.schema import Schema
from dana.sql.dialects import DISPLAY_NAMES, FALLBACK_DIALECTS, normalize_dialect
from dana.sql.limits import apply_row_limit
from dana.sql.names import (
    catalog_of,
    quote_reserved_identifiers,
    require_known_columns,
    require_known_tables,
    resolve_names,
    use_cached_spelling,
)
from dana.sql.parsing import Statement, parse_statements, read_statements, unwrap_parentheses
from dana.sql.portability import (
    convert_dates_for_sqlite,
    require_sqlite_syntax,
    require_target_support,
)
from dana.sql.problems import Problem
from dana.sql.rules import (
    FOREIGN_FUNCTION,
    check_statement,
    reject_executable_comments,
    require_single_statement,
)

__all__ = ["Problem", "Validation", "is_read_only", "pattern_of", "validate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validation:
    """The guard's verdict: the SQL to run when `allowed`, else the problems that refuse it.

    `source_dialect` is set when the text was read in another dialect and converted.
    """

    allowed: bool
    sql: str | None
    expression: exp.Expr | None
    problems: tuple[Problem, ...] = ()
    dialect: str = ""
    source_dialect: str | None = None

    @property
    def message(self) -> str:
        return "; ".join(problem.message for problem in self.problems)

    def raise_for_refusal(self) -> Validation:
        """This validation, or `QueryRefused` with its message when the query was refused."""
        if not self.allowed:
            rules = ", ".join(dict.fromkeys(problem.rule for problem in self.problems))
            raise QueryRefused(self.message, detail=f"guard refused ({rules}): {self.message}")
        return self


def validate(
    sql: str,
    dialect: str,
    schema: Schema | None = None,
    max_rows: int | None = 1000,
    source_dialect: str | None = None,
) -> Validation:
    """Check `sql` for `dialect` and return the SQL to run, or why it may not run.

    With a `schema`, every table and column must exist in it; names are then spelled as
    cached. `max_rows` caps the rows returned (None: no cap). `source_dialect` names the
    dialect the text is written in, when it differs from the database's.
    """
    validation = _validate(sql, dialect, schema, max_rows, source_dialect)
    if not validation.allowed and source_dialect is None and _only_foreign_functions(validation):
        validation = _convert_from_other_dialects(sql, validation, schema, max_rows)
    if not validation.allowed:
        # A refusal is a security event: it may be a model's mistake or an attack.
        logger.warning("guard refused a %s query: %s", validation.dialect, validation.message)
    return validation


def _only_foreign_functions(validation: Validation) -> bool:
    rules = {problem.rule for problem in validation.problems}
    return rules == {FOREIGN_FUNCTION}


def _convert_from_other_dialects(
    sql: str, refused: Validation, schema: Schema | None, max_rows: int | None
) -> Validation:
    """Read text that calls another dialect's functions (`now()` on SQLite) as that dialect."""
    for other in FALLBACK_DIALECTS:
        if other == refused.dialect:
            continue
        converted = _validate(sql, refused.dialect, schema, max_rows, source_dialect=other)
        if converted.allowed:
            return converted
    return refused


def is_read_only(sql: str, dialect: str) -> bool:
    """Whether `sql` is one statement that only reads and calls only allowed functions."""
    return _validate(sql, dialect, schema=None, max_rows=None, source_dialect=None).allowed


def pattern_of(sql: str, dialect: str) -> str:
    """The shape of a query with its values taken out, to group queries in metrics.

    >>> pattern_of("SELECT * FROM t WHERE id = 1 AND name IN ('a', 'b')", "sqlite")
    'SELECT * FROM t WHERE id = ? AND name IN (?)'
    """
    target = normalize_dialect(dialect)
    try:
        statements = parse_statements(sql, target)
    except SqlglotError:
        return _pattern_of_text(sql)
    return "; ".join(_pattern_of_tree(statement, target) for statement in statements)


def _validate(
    sql: str,
    dialect: str,
    schema: Schema | None,
    max_rows: int | None,
    source_dialect: str | None,
) -> Validation:
    target = normalize_dialect(dialect)
    source = normalize_dialect(source_dialect) if source_dialect else None

    problems = reject_executable_comments(sql, source or target)
    reading = read_statements(sql, target, source)
    if reading.problems:
        return _refused(target, problems + list(reading.problems))

    read_in = reading.dialect if reading.dialect != target else None
    statements, found = _checked_statements(reading.statements, target, read_in)
    problems += found
    if not problems and schema is not None:
        problems += _check_names(statements[0], schema)
    if problems:
        return _refused(target, problems, read_in)

    statement = statements[0]
    quote_reserved_identifiers(statement)
    _drop_comments(statement)
    expression = apply_row_limit(statement.expression, max_rows)
    return _render(expression, target, read_in)


def _checked_statements(
    parsed: tuple[exp.Expr, ...], dialect: str, read_in: str | None
) -> tuple[list[Statement], list[Problem]]:
    """Every statement, converted where the target needs it, and what the rules find in them."""
    problems = require_single_statement(parsed)
    statements = []
    for expression in map(unwrap_parentheses, parsed):
        if dialect == "sqlite":
            problems += convert_dates_for_sqlite(expression) + require_sqlite_syntax(expression)
        statements.append(Statement(expression, dialect, read_in))
    for statement in statements:
        problems += check_statement(statement)
    return statements, problems


def _check_names(statement: Statement, schema: Schema) -> list[Problem]:
    """Tables and columns must exist in `schema`; when they do, they take its spelling."""
    resolution = resolve_names(statement, catalog_of(schema))
    problems = require_known_tables(resolution) + require_known_columns(resolution)
    if not problems:
        use_cached_spelling(resolution)
    return problems


def _drop_comments(statement: Statement) -> None:
    # The tree handed back must say what the SQL says, and the SQL carries no comment.
    for node in statement.nodes.of(exp.Expr):
        if node.comments:
            node.comments = None


def _render(expression: exp.Expr, dialect: str, read_in: str | None) -> Validation:
    """Write the checked tree as SQL for `dialect`; a conversion must not lose anything."""
    if read_in is None:
        sql = expression.sql(dialect=dialect, comments=False)
        return Validation(True, sql, expression, (), dialect)

    try:
        sql = expression.sql(dialect=dialect, comments=False, unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as error:
        reason = str(error).splitlines()[0] if str(error) else "unsupported syntax"
        message = (
            f"the query cannot be converted from {DISPLAY_NAMES[read_in]} to "
            f"{DISPLAY_NAMES[dialect]}: {reason}"
        )
        return _refused(dialect, [Problem("transpile", message)], read_in)
    problems = require_target_support(sql, dialect)
    if problems:
        return _refused(dialect, problems, read_in)
    return Validation(True, sql, expression, (), dialect, read_in)


def _refused(dialect: str, problems: list[Problem], read_in: str | None = None) -> Validation:
    unique = tuple(dict.fromkeys(problems))
    return Validation(False, None, None, unique, dialect, read_in)


def _pattern_of_tree(expression: exp.Expr, dialect: str) -> str:
    def placeholder(node: exp.Expr) -> exp.Expr:
        # Parents come before children, so an IN list collapses before its values go.
        if isinstance(node, exp.In) and _all_literals(node.expressions):
            node.set("expressions", [exp.var("?")])
        elif isinstance(node, exp.Literal):
            return exp.var("?")
        return node

    return expression.transform(placeholder, copy=True).sql(dialect=dialect, comments=False)


def _all_literals(expressions: list[exp.Expr]) -> bool:
    return bool(expressions) and all(isinstance(e, exp.Literal) for e in expressions)


_TEXT_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def _pattern_of_text(sql: str) -> str:
    # Unparseable text still gets a stable pattern, so failures group too.
    return " ".join(_TEXT_LITERALS.sub("?", sql).split())
