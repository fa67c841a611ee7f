"""Follow-up questions to offer under an answer, from the tables its SQL read.

Each suggestion is a short follow-up the translators understand ("and by region?"),
made from the schema: tables one foreign key away that have a name to group by, and
the period of a date column when the answer is not over time already.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from dana.nl2sql.lexicon import singular
from dana.retrieval.documents import words_of
from dana.schema import Schema, Table

MAX_SUGGESTIONS = 3
_LABEL = re.compile(r"^(name|title|label)$|_name$", re.I)
_DATE_TYPES = ("date", "time")


def suggest(sql: str | None, dialect: str, schema: Schema, question: str) -> list[str]:
    if not sql:
        return []
    try:
        tree = sqlglot.parse_one(sql, dialect=dialect)
    except sqlglot.errors.ParseError:
        return []
    used = [schema.table(t.name) for t in tree.find_all(exp.Table)]
    tables = [t for t in used if t is not None]
    if not tables or not tree.find(exp.AggFunc):
        return []  # only measures are worth slicing another way
    lowered = question.lower()
    suggestions = []
    if not re.search(r"\b(month|monthly|week|year|quarter|daily|day)\b", lowered):
        near = tables + [schema.table(fk.ref_table) for t in tables for fk in t.foreign_keys]
        if any(t is not None and _has_date(t) for t in near):
            suggestions.append("and per month?")
    for name in _neighbours_with_labels(schema, tables):
        noun = words_of(name)
        one = " ".join(noun.split()[:-1] + [singular(noun.split()[-1])])
        if one not in lowered and noun not in lowered:
            suggestions.append(f"and by {one}?")
    return suggestions[:MAX_SUGGESTIONS]


def _has_date(table: Table) -> bool:
    return any(any(k in c.type.lower() for k in _DATE_TYPES) for c in table.columns)


def _neighbours_with_labels(schema: Schema, tables: list[Table]) -> list[str]:
    used = {t.name for t in tables}
    found: list[str] = []
    for table in tables:
        for fk in table.foreign_keys:
            target = schema.table(fk.ref_table)
            if target is None or target.name in used or target.name in found:
                continue
            if any(_LABEL.search(c.name) for c in target.columns):
                found.append(target.name)
    return found
