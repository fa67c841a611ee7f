"""Making a converted query run on its target: rewrites sqlglot lacks, checks it cannot make.

sqlglot converts most of one dialect into another, but some output does not exist on
the target (PostgreSQL's `DATE_TRUNC` becomes `TIMESTAMP_TRUNC` on SQLite, which has no
such function). Dates on SQLite are rewritten here into `strftime`/`datetime` calls;
whatever is left is refused with the name of what the target lacks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from dana.sql.dialects import DISPLAY_NAMES
from dana.sql.functions import FUNCTION_NAMES
from dana.sql.problems import Problem

# strftime formats that truncate a SQLite date text to a unit, as DATE_TRUNC would.
_SQLITE_TRUNCATIONS = {
    "YEAR": "%Y-01-01",
    "MONTH": "%Y-%m-01",
    "DAY": "%Y-%m-%d",
    "HOUR": "%Y-%m-%d %H:00:00",
    "MINUTE": "%Y-%m-%d %H:%M:00",
    "SECOND": "%Y-%m-%d %H:%M:%S",
}
_SQLITE_MODIFIER_UNITS = {
    "YEAR": ("years", 1),
    "QUARTER": ("months", 3),
    "MONTH": ("months", 1),
    "WEEK": ("days", 7),
    "DAY": ("days", 1),
    "HOUR": ("hours", 1),
    "MINUTE": ("minutes", 1),
    "SECOND": ("seconds", 1),
}
# Words that open a parenthesis in SQL's own syntax, not in a function call.
_SYNTAX_BEFORE_PARENS = frozenset(
    {"GROUP", "OVER", "FILTER", "WITHIN", "IN", "EXISTS", "VALUES", "USING"}
)
_INTERVAL_PART = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*")

_NO_INTERVALS = "this query cannot run on SQLite: it has no interval arithmetic (INTERVAL)"
_NO_TIME_ZONES = "this query cannot run on SQLite: it has no time zones (AT TIME ZONE)"

# Words in the output that mean the target cannot run it, with the reason shown.
_MISSING_SYNTAX = {
    "sqlite": {TokenType.INTERVAL: "interval arithmetic (INTERVAL)"},
}


def convert_dates_for_sqlite(expression: exp.Expr) -> list[Problem]:
    """Rewrite DATE_TRUNC and `date ± INTERVAL` into the date functions SQLite has."""
    problems = []
    for trunc in list(expression.find_all(exp.DateTrunc, exp.TimestampTrunc)):
        unit = _unit_of(trunc.args.get("unit"))
        if unit == "WEEK":
            # Monday of the week, like PostgreSQL's ISO weeks.
            monday = [exp.Literal.string("weekday 0"), exp.Literal.string("-6 days")]
            trunc.replace(exp.Anonymous(this="date", expressions=[trunc.this, *monday]))
        elif unit in _SQLITE_TRUNCATIONS:
            fmt = exp.Literal.string(_SQLITE_TRUNCATIONS[unit])
            trunc.replace(exp.Anonymous(this="strftime", expressions=[fmt, trunc.this]))
        else:
            message = f"SQLite cannot truncate dates to the {unit.lower() or 'given'} unit"
            problems.append(Problem("convert_dates_for_sqlite", message))

    for interval in list(expression.find_all(exp.Interval)):
        arithmetic = interval.parent
        if isinstance(arithmetic, (exp.Add, exp.Sub)) and arithmetic.expression is interval:
            shifts = _sqlite_modifiers(interval, negative=isinstance(arithmetic, exp.Sub))
            if shifts is not None:
                arithmetic.replace(_sqlite_datetime(arithmetic.this, shifts))
    return problems


def require_sqlite_syntax(expression: exp.Expr) -> list[Problem]:
    """SQLite has no INTERVAL type and no time zones; what conversion left of them cannot run."""
    problems = []
    if expression.find(exp.Interval) is not None:
        problems.append(Problem("require_target_support", _NO_INTERVALS))
    if expression.find(exp.AtTimeZone) is not None:
        problems.append(Problem("require_target_support", _NO_TIME_ZONES))
    return problems


def require_target_support(sql: str, dialect: str) -> list[Problem]:
    """A converted query may only call functions, and use syntax, its target has."""
    name = DISPLAY_NAMES[dialect]
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError:
        return [Problem("require_target_support", f"the converted query is not valid {name}")]

    problems = []
    missing_syntax = _MISSING_SYNTAX.get(dialect, {})
    for token in tokens:
        if token.token_type in missing_syntax:
            reason = (
                f"this query cannot run on {name}: it has no {missing_syntax[token.token_type]}"
            )
            problems.append(Problem("require_target_support", reason))
    for called in _called_names(tokens):
        if called.lower() not in FUNCTION_NAMES[dialect]:
            reason = (
                f"this query cannot run on {name}: it needs the function {called.upper()}, "
                f"which {name} does not have"
            )
            problems.append(Problem("require_target_support", reason))
    return list(dict.fromkeys(problems))


def _called_names(tokens: list[Token]) -> Iterator[str]:
    """Names followed by a parenthesis that are calls, not `AS t(a, b)` or `IN (...)`."""
    previous: Token | None = None
    for token, following in zip(tokens, [*tokens[1:], None], strict=True):
        is_call = (
            token.token_type == TokenType.VAR
            and following is not None
            and following.token_type == TokenType.L_PAREN
            and (previous is None or previous.token_type not in (TokenType.ALIAS, TokenType.DOT))
            and token.text.upper() not in _SYNTAX_BEFORE_PARENS
        )
        if is_call:
            yield token.text
        previous = token


def _unit_of(unit: exp.Expr | None) -> str:
    return unit.name.upper().removesuffix("S") if unit is not None else ""


def _sqlite_modifiers(interval: exp.Interval, negative: bool) -> list[str] | None:
    """`INTERVAL '1 month 2 days'` as SQLite modifiers ['-1 months', '-2 days'], if simple."""
    value = interval.this
    if not isinstance(value, exp.Literal):
        return None
    text = value.name
    unit = interval.args.get("unit")
    if unit is not None:
        text = f"{text} {unit.name}"

    modifiers = []
    position = 0
    while position < len(text):
        match = _INTERVAL_PART.match(text, position)
        if match is None:
            return None
        amount, word = match.groups()
        known = _SQLITE_MODIFIER_UNITS.get(word.upper().removesuffix("S"))
        if known is None:
            return None
        name, factor = known
        number = float(amount) * factor * (-1 if negative else 1)
        shown = int(number) if number.is_integer() else number
        modifiers.append(f"{shown:+} {name}")
        position = match.end()
    return modifiers or None


def _sqlite_datetime(base: exp.Expr, modifiers: list[str]) -> exp.Expr:
    function = "date" if isinstance(base, exp.CurrentDate) else "datetime"
    if isinstance(base, (exp.CurrentDate, exp.CurrentTimestamp)):
        base = exp.Literal.string("now")
    arguments = [base, *(exp.Literal.string(modifier) for modifier in modifiers)]
    return exp.Anonymous(this=function, expressions=arguments)
