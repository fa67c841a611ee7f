"""An answer as chat content: markdown table, CSV, and a Plotly figure from the chart spec."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

MAX_TABLE_ROWS = 50
_MIDNIGHT = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00(?:[+-]00:00)?$")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, str) and _MIDNIGHT.match(value):
        return value[:10]  # a day or month bucket: the time of day says nothing
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: list[str], rows: list[list[Any]], limit: int = MAX_TABLE_ROWS) -> str:
    if not columns:
        return ""
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join(" --- " for _ in columns) + "|")
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows in the CSV download._")
    return "\n".join(lines)


def csv_bytes(columns: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def plotly_figure(spec: dict[str, Any], columns: list[str], rows: list[list[Any]]) -> Any:
    """A Plotly figure drawn by DANA from the result; nothing from a model is executed."""
    import plotly.graph_objects as go

    x_index = columns.index(spec["x"])
    figure = go.Figure()
    for name in spec["y"]:
        y_index = columns.index(name)
        x = [row[x_index] for row in rows]
        if spec.get("labels"):
            indexes = [columns.index(name) for name in spec["labels"]]
            x = [" ".join(str(row[i]) for i in indexes) for row in rows]
        y = [row[y_index] for row in rows]
        if spec["type"] == "line":
            figure.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name))
        else:
            figure.add_trace(go.Bar(x=[str(v) for v in x], y=y, name=name))
    figure.update_layout(
        # Transparent, with mid-grey text: readable on the chat's light and dark themes.
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"color": "#888"},
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
        height=360,
        xaxis_title=spec["x"],
        yaxis_title=", ".join(spec["y"]),
    )
    return figure


def pretty_sql(sql: str, dialect: str) -> str:
    """SQL laid out on several lines for reading; the text that ran is unchanged."""
    import sqlglot

    try:
        return sqlglot.transpile(sql, read=dialect, write=dialect, pretty=True)[0]
    except sqlglot.errors.SqlglotError:
        return sql


def answer_markdown(answer: Any) -> str:
    """The message text of an answer: what happened, then the table."""
    parts = [answer.message]
    for note in answer.notes:
        parts.append(f"_{note}_")
    if answer.status == "ok" and answer.columns:
        parts.append(markdown_table(answer.columns, answer.rows))
        if answer.sql:
            count = len(answer.rows)
            parts.append(f"_{count} row{'' if count == 1 else 's'} in {answer.elapsed_ms:.0f} ms_")
    return "\n\n".join(p for p in parts if p)
