"""Questions about the catalog itself, answered from the whole cached schema.

"How many tables are there?" must count every table, not the handful retrieval picked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dana.retrieval.documents import words_of
from dana.schema import Schema

_COUNT_TABLES = re.compile(r"\bhow many (?:tables|views)\b|\bnumber of (?:tables|views)\b", re.I)
_LIST_TABLES = re.compile(
    r"\b(?:what|which|list|show)\b.{0,20}\b(?:tables|views)\b(?!.{0,3}\bwith\b.{0,40}\bmost\b)",
    re.I,
)
_TABLES_ABOUT = re.compile(
    r"\btables?\b.{0,20}\b(?:hold|store|contain|have|about|with)\s+(.+?)\??$", re.I
)
_COLUMNS_OF = re.compile(r"\b(?:columns|fields)\b.{0,20}\b(?:of|in)\b\s+(?:the\s+)?(\w+)", re.I)


@dataclass(frozen=True)
class CatalogAnswer:
    message: str
    columns: list[str]
    rows: list[list[Any]]


def answer_catalog_question(question: str, schema: Schema) -> CatalogAnswer | None:
    """The answer when `question` is about the catalog, else None."""
    tables = [t for t in schema.tables if t.kind == "table"]
    views = [t for t in schema.tables if t.kind == "view"]
    if _COUNT_TABLES.search(question):
        asks_views = re.search(r"\bviews\b", question, re.I) is not None
        count = len(views) if asks_views else len(tables)
        noun = "views" if asks_views else "tables"
        return CatalogAnswer(f"There are {count} {noun}.", [f"{noun}"], [[count]])
    match = _COLUMNS_OF.search(question)
    if match and schema.table(match.group(1).rstrip("?")):
        table = schema.table(match.group(1).rstrip("?"))
        assert table is not None
        rows = [[c.name, c.type, "yes" if c.nullable else "no"] for c in table.columns]
        return CatalogAnswer(
            f"The table {table.name} has {len(rows)} columns.", ["column", "type", "nullable"], rows
        )
    match = _TABLES_ABOUT.search(question)
    if match and _LIST_TABLES.search(question):
        topic = {w.rstrip("s") for w in re.findall(r"\w+", match.group(1).lower())}
        found = [
            t for t in schema.tables if topic & {w.rstrip("s") for w in words_of(t.name).split()}
        ]
        found = found or [
            t
            for t in schema.tables
            if any(topic & {w.rstrip("s") for w in words_of(c.name).split()} for c in t.columns)
        ]
        rows = [[t.name, t.row_count] for t in found]
        return CatalogAnswer(f"{len(rows)} tables match.", ["table", "rows"], rows)
    if _LIST_TABLES.search(question) and not re.search(r"\b(?:rows?|records?)\b", question, re.I):
        rows = [[t.name, t.kind, t.row_count] for t in schema.tables]
        return CatalogAnswer(f"There are {len(tables)} tables.", ["table", "kind", "rows"], rows)
    return None
