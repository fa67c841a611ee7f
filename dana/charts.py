"""Choosing a chart from a result's shape: a declarative spec, never code from a model."""

from __future__ import annotations

import re
from typing import Any

_TIME_NAME = re.compile(r"(date|month|year|day|week|quarter|time|period|_at$|_on$)", re.I)
# "int" only as a word of its own (int4, bigint, integer): "interval" and "point" are not numbers.
_NUMERIC_TYPES = re.compile(
    r"(?<![a-z])(?:big|small|tiny|medium|u)?int(?:eger|\d+)?(?![a-z])"
    r"|numeric|decimal|float|double|real|money|number",
    re.I,
)
MAX_BAR_CATEGORIES = 50


def is_numeric_column(type_name: str, values: list[Any]) -> bool:
    if type_name and _NUMERIC_TYPES.search(type_name):
        return True
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )


def choose_chart(
    columns: list[str], types: list[str], rows: list[list[Any]]
) -> dict[str, Any] | None:
    """A chart spec {"type", "x", "y"} when the result has a label and a measure, else None.

    A time-like first column gives a line chart; other labels give bars.
    """
    if len(rows) < 2 or len(columns) < 2:
        return None
    types = types + [""] * (len(columns) - len(types))
    by_column = [[row[i] for row in rows] for i in range(len(columns))]
    numeric = [i for i in range(len(columns)) if is_numeric_column(types[i], by_column[i])]
    labels = [i for i in range(len(columns)) if i not in numeric]
    if not numeric:
        return None
    x = labels[0] if labels else None
    if x is None:
        if len(numeric) < 2 or not _TIME_NAME.search(columns[numeric[0]]):
            return None
        x = numeric[0]
    measures = [i for i in numeric if i != x][:3]
    if not measures:
        return None
    time_like = bool(
        _TIME_NAME.search(columns[x]) or "date" in types[x].lower() or "time" in types[x].lower()
    )
    if not time_like and len(rows) > MAX_BAR_CATEGORIES:
        return None
    spec: dict[str, Any] = {
        "type": "line" if time_like else "bar",
        "x": columns[x],
        "y": [columns[i] for i in measures],
    }
    text_labels = [columns[i] for i in labels if i not in measures]
    if not time_like and len(text_labels) > 1:
        # "first_name, last_name": the bar is labelled by both, so equal first names differ.
        spec["labels"] = text_labels[:3]
    return spec
