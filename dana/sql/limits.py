"""The row cap: every query returns at most `max_rows` rows."""

from __future__ import annotations

from sqlglot import exp


def apply_row_limit(expression: exp.Expr, max_rows: int | None) -> exp.Expr:
    """Add `LIMIT max_rows`, or lower a larger limit to it; a smaller limit is kept.

    The limit goes on the outermost query, so for `a UNION b` it caps the union.

    >>> import sqlglot
    >>> apply_row_limit(sqlglot.parse_one("SELECT a FROM t LIMIT 5000"), 1000).sql()
    'SELECT a FROM t LIMIT 1000'
    """
    if max_rows is None or not isinstance(expression, exp.Query):
        return expression

    current = expression.args.get("limit")
    if current is None:
        expression.set("limit", _limit(max_rows))
    elif isinstance(current, exp.Fetch):
        _cap_fetch(expression, current, max_rows)
    else:
        rows = _literal_rows(current.expression)
        # LIMIT ALL, LIMIT NULL or an expression: the cap cannot be proven, so it replaces them.
        if rows is None or rows > max_rows:
            expression.set("limit", _limit(max_rows))
    return expression


def _cap_fetch(expression: exp.Query, fetch: exp.Fetch, max_rows: int) -> None:
    options = fetch.args.get("limit_options")
    # WITH TIES and PERCENT may return more rows than the count says.
    widens = options is not None and (options.args.get("with_ties") or options.args.get("percent"))
    count = fetch.args.get("count")
    rows = 1 if count is None else _literal_rows(count)  # FETCH FIRST ROW ONLY is one row
    if widens or rows is None or rows > max_rows:
        expression.set("limit", _limit(max_rows))


def _literal_rows(value: exp.Expr | None) -> int | None:
    if not isinstance(value, exp.Literal) or value.is_string:
        return None
    try:
        return int(float(value.this))
    except ValueError:
        return None


def _limit(rows: int) -> exp.Limit:
    return exp.Limit(expression=exp.Literal.number(rows))
