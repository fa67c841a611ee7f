"""Date expressions per dialect: the year of a date, a period bucket, a recent period.

Each dialect spells these differently (postgres `date_trunc`/`extract`, MySQL
`DATE_FORMAT`/`YEAR()`, SQLite `strftime`), so they are written here as SQL text in the
dialect itself and parsed, with `__col__` standing for the date column.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

_YEAR = {
    "postgres": "EXTRACT(YEAR FROM __col__)",
    "mysql": "YEAR(__col__)",
    "sqlite": "CAST(strftime('%Y', __col__) AS INTEGER)",
}
# A date cut to the start of its period, one spelling per dialect; weeks start on Monday.
_BUCKETS = {
    ("postgres", "day"): "date_trunc('day', __col__)",
    ("postgres", "week"): "date_trunc('week', __col__)",
    ("postgres", "month"): "date_trunc('month', __col__)",
    ("postgres", "quarter"): "date_trunc('quarter', __col__)",
    ("mysql", "day"): "DATE(__col__)",
    ("mysql", "week"): "DATE(__col__ - INTERVAL WEEKDAY(__col__) DAY)",
    ("mysql", "month"): "DATE_FORMAT(__col__, '%Y-%m')",
    ("mysql", "quarter"): "CONCAT(YEAR(__col__), '-Q', QUARTER(__col__))",
    ("sqlite", "day"): "date(__col__)",
    ("sqlite", "week"): "date(__col__, 'weekday 0', '-6 days')",
    ("sqlite", "month"): "strftime('%Y-%m', __col__)",
    ("sqlite", "quarter"): (
        "strftime('%Y', __col__) || '-Q' || ((CAST(strftime('%m', __col__) AS INTEGER) + 2) / 3)"
    ),
}
# Start of the current period and `n` periods back, per unit.
_NOW = {"postgres": "CURRENT_DATE", "mysql": "CURDATE()", "sqlite": "date('now')"}
_START = {
    ("postgres", "month"): "date_trunc('month', CURRENT_DATE)",
    ("postgres", "quarter"): "date_trunc('quarter', CURRENT_DATE)",
    ("postgres", "year"): "date_trunc('year', CURRENT_DATE)",
    ("postgres", "week"): "date_trunc('week', CURRENT_DATE)",
    ("postgres", "day"): "CURRENT_DATE",
    ("mysql", "month"): "DATE_FORMAT(CURDATE(), '%Y-%m-01')",
    (
        "mysql",
        "quarter",
    ): "MAKEDATE(YEAR(CURDATE()), 1) + INTERVAL (QUARTER(CURDATE()) - 1) QUARTER",
    ("mysql", "year"): "MAKEDATE(YEAR(CURDATE()), 1)",
    ("mysql", "week"): "CURDATE() - INTERVAL WEEKDAY(CURDATE()) DAY",
    ("mysql", "day"): "CURDATE()",
    ("sqlite", "month"): "date('now', 'start of month')",
    ("sqlite", "quarter"): (
        "date('now', 'start of month', '-' || ((CAST(strftime('%m', 'now') AS INTEGER) - 1) % 3)"
        " || ' months')"
    ),
    ("sqlite", "year"): "date('now', 'start of year')",
    ("sqlite", "week"): "date('now', 'weekday 0', '-7 days')",
    ("sqlite", "day"): "date('now')",
}
_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}

UNITS = ("day", "week", "month", "quarter", "year")


def year_of(column: exp.Expression, dialect: str) -> exp.Expression:
    return _fill(_YEAR[_known(dialect)], column, dialect)


def bucket(column: exp.Expression, unit: str, dialect: str) -> exp.Expression:
    """`column` cut to its day, week, month, quarter or year, to group by."""
    dialect = _known(dialect)
    if unit == "year":
        return year_of(column, dialect)
    return _fill(_BUCKETS[(dialect, unit)], column, dialect)


def shift(start: str, unit: str, count: int, dialect: str) -> str:
    """SQL text for `start` moved `count` units back."""
    if dialect == "sqlite":
        if unit in _MONTHS_IN:
            return f"date({start}, '-{count * _MONTHS_IN[unit]} months')"
        return f"date({start}, '-{count * (7 if unit == 'week' else 1)} days')"
    if dialect == "mysql":
        return f"{start} - INTERVAL {count} {unit.upper()}"
    plural = unit if count == 1 else unit + "s"
    return f"{start} - INTERVAL '{count} {plural}'"


def previous_period(column: exp.Expression, unit: str, dialect: str) -> exp.Expression:
    """`column` within the last whole period: "last month" is all of the previous month."""
    dialect = _known(dialect)
    start = _START[(dialect, unit)]
    text = f"__col__ >= {shift(start, unit, 1, dialect)} AND __col__ < {start}"
    return _fill(text, column, dialect)


def recent(column: exp.Expression, unit: str, count: int, dialect: str) -> exp.Expression:
    """`column` within the last `count` units up to today ("the last 6 months")."""
    dialect = _known(dialect)
    return _fill(f"__col__ >= {shift(_NOW[dialect], unit, count, dialect)}", column, dialect)


def current_period(column: exp.Expression, unit: str, dialect: str) -> exp.Expression:
    dialect = _known(dialect)
    return _fill(f"__col__ >= {_START[(dialect, unit)]}", column, dialect)


def _known(dialect: str) -> str:
    return dialect if dialect in _YEAR else "postgres"


def _fill(text: str, column: exp.Expression, dialect: str) -> exp.Expression:
    tree = sqlglot.parse_one(text, read=dialect)
    return tree.transform(
        lambda node: (
            column.copy() if isinstance(node, exp.Column) and node.name == "__col__" else node
        )
    )
