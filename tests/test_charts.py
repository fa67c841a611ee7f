"""Which chart a result's shape gets, and the figure DANA draws from that spec."""

from __future__ import annotations

import pytest

from dana.charts import MAX_BAR_CATEGORIES, choose_chart
from dana.chat.render import plotly_figure

MONTHS = [
    ["2025-01-01T00:00:00", 1200.5],
    ["2025-02-01T00:00:00", 980.0],
    ["2025-03-01T00:00:00", 1430.25],
]
MANY_CATEGORIES = [[f"product {n}", n] for n in range(MAX_BAR_CATEGORIES + 1)]
MANY_DAYS = [[f"2025-01-{n % 28 + 1:02d}", n] for n in range(MAX_BAR_CATEGORIES + 1)]

CHART_CASES = [
    pytest.param(
        ["region", "revenue"],
        ["text", "numeric"],
        [["North", 10.0], ["South", 7.5]],
        {"type": "bar", "x": "region", "y": ["revenue"]},
        id="one label and one number give bars",
    ),
    pytest.param(
        ["region", "orders"],
        ["", ""],
        [["North", 3], ["South", 4]],
        {"type": "bar", "x": "region", "y": ["orders"]},
        id="numbers recognised from values when types are unknown",
    ),
    pytest.param(
        ["month", "revenue"],
        ["timestamp", "numeric"],
        MONTHS,
        {"type": "line", "x": "month", "y": ["revenue"]},
        id="month label gives a line",
    ),
    pytest.param(
        ["first_sale", "orders"],
        ["date", "int8"],
        [["2025-01-01", 3], ["2025-01-02", 4]],
        {"type": "line", "x": "first_sale", "y": ["orders"]},
        id="date type gives a line whatever the name",
    ),
    pytest.param(
        ["year", "revenue"],
        ["int4", "numeric"],
        [[2024, 1.0], [2025, 2.0]],
        {"type": "line", "x": "year", "y": ["revenue"]},
        id="numeric year is the x axis of a line",
    ),
    pytest.param(
        ["region", "revenue", "orders", "customers", "stores"],
        ["text", "numeric", "int8", "int8", "int8"],
        [["North", 1.0, 2, 3, 4], ["South", 5.0, 6, 7, 8]],
        {"type": "bar", "x": "region", "y": ["revenue", "orders", "customers"]},
        id="at most three measures",
    ),
    pytest.param(["count"], ["int8"], [[500]], None, id="single value"),
    pytest.param(
        ["region", "revenue"], ["text", "numeric"], [["North", 10.0]], None, id="single row"
    ),
    pytest.param(
        ["first_name", "last_name"],
        ["text", "text"],
        [["Ada", "Lovelace"], ["Alan", "Turing"]],
        None,
        id="only text",
    ),
    pytest.param(
        ["id", "price"],
        ["int4", "numeric"],
        [[1, 2.0], [2, 3.0]],
        None,
        id="two numbers and no label",
    ),
    pytest.param(
        ["product", "sold"],
        ["text", "int8"],
        MANY_CATEGORIES,
        None,
        id="too many categories for bars",
    ),
    pytest.param(
        ["day", "sold"],
        ["date", "int8"],
        MANY_DAYS,
        {"type": "line", "x": "day", "y": ["sold"]},
        id="many dates still make a line",
    ),
    pytest.param(
        ["region", "delay"],
        ["text", "interval"],
        [["North", "2 days, 3:00:00"], ["South", "1 day, 0:00:00"]],
        None,
        id="interval is not a number",
    ),
    pytest.param(
        ["store", "location"],
        ["text", "point"],
        [["A", "(1,2)"], ["B", "(3,4)"]],
        None,
        id="point is not a number",
    ),
]


@pytest.mark.parametrize(("columns", "types", "rows", "expected"), CHART_CASES)
def test_chooses_chart_from_the_result_shape(columns, types, rows, expected):
    chart = choose_chart(columns, types, rows)

    assert chart == expected


def test_line_figure_plots_the_result_values():
    spec = {"type": "line", "x": "month", "y": ["revenue"]}

    figure = plotly_figure(spec, ["month", "revenue"], MONTHS)

    [trace] = figure.data
    assert trace.type == "scatter"
    assert list(trace.x) == [row[0] for row in MONTHS]
    assert list(trace.y) == [row[1] for row in MONTHS]
    assert figure.layout.xaxis.title.text == "month"


def test_bar_figure_has_one_trace_per_measure_in_result_order():
    columns = ["region_id", "region", "revenue", "orders"]
    rows = [[1, "North", 10.0, 3], [2, "South", 7.5, 2]]
    spec = {"type": "bar", "x": "region", "y": ["revenue", "orders"]}

    figure = plotly_figure(spec, columns, rows)

    assert [trace.type for trace in figure.data] == ["bar", "bar"]
    assert [trace.name for trace in figure.data] == ["revenue", "orders"]
    assert [list(trace.x) for trace in figure.data] == [["North", "South"]] * 2
    assert [list(trace.y) for trace in figure.data] == [[10.0, 7.5], [3, 2]]


def test_several_text_labels_name_each_bar_together():
    columns, rows = ["first_name", "last_name", "orders"], [["Ann", "Lee", 3], ["Ann", "Kim", 2]]

    spec = choose_chart(columns, ["text", "text", "bigint"], rows)
    figure = plotly_figure(spec, columns, rows)

    assert spec["labels"] == ["first_name", "last_name"]
    assert list(figure.data[0].x) == ["Ann Lee", "Ann Kim"]
