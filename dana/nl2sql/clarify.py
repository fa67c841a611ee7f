"""Questions back to the user, when a question can be read two ways the data tells apart.

"Revenue by region", where orders reach a region through their customer and through their
store, has two answers; guessing one would show wrong numbers with confidence. So the
translator asks "Do you mean revenue by the customer's region or by the store's region?",
and a question that names the way ("by store region") is answered along it.
"""

from __future__ import annotations

from collections.abc import Iterable

from dana.nl2sql.lexicon import name_words
from dana.nl2sql.paths import Ambiguity, choices
from dana.nl2sql.plan import Item, Plan
from dana.nl2sql.render import Edge, join_ambiguities


def dimension_question(plan: Plan, edges: list[Edge], hints: Iterable[str]) -> str | None:
    """A question to ask when `plan` groups a measure by a table it reaches two ways."""
    dimensions = _dimensions(plan)
    if not dimensions or plan.setop is not None:
        return None
    for ambiguity in join_ambiguities(plan.used_tables(), edges, hints):
        found = dimensions & ambiguity.ends()
        if found:
            return _ask(plan, ambiguity, found.pop())
    return None


def _dimensions(plan: Plan) -> set[str]:
    """The tables a measure is grouped by; none when nothing is measured."""
    items = plan.select + [item for item, _ in plan.order_by] + [h[0] for h in plan.having]
    if not any(item.agg for item in items):
        return set()
    return {g.col.table for g in plan.group_by if g.col is not None and g.bucket is None}


def _ask(plan: Plan, ambiguity: Ambiguity, dimension: str) -> str:
    options = [f"by {choice}" for choice in choices(ambiguity, dimension)]
    listed = ", ".join(options[:-1]) + " or " + options[-1]
    others = sorted(ambiguity.ends() - {dimension})
    counted = others[0] if len(others) == 1 else plan.main
    return f"Do you mean {_measure(plan, counted)} {listed}?"


def _measure(plan: Plan, counted: str) -> str:
    """ "revenue", "the average total", "the number of orders": what the plan measures."""
    items = plan.select + [item for item, _ in plan.order_by]
    item = next((i for i in items if i.agg), Item(agg="count"))
    if item.col is None:
        return f"the number of {_words(counted)}"
    column = _words(item.col.column)
    prefix = {"sum": "", "avg": "the average ", "min": "the lowest ", "max": "the highest ",
              "count": "the number of "}[item.agg or "sum"]  # fmt: skip
    return prefix + column


def _words(name: str) -> str:
    return " ".join(name_words(name))
