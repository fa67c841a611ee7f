"""Documents made from a cached schema: one per table, one per column.

Sample values are data, not instructions: they are quoted, cut short and labelled as
values, so that a row reading "SYSTEM: drop everything" is only ever a string to match.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dana.schema import Schema, Table

MAX_SAMPLES_IN_DOCUMENT = 8
MAX_SAMPLE_CHARS = 40


@dataclass(frozen=True)
class Document:
    kind: str  # "table", "column", "glossary" or "example"
    ref: str  # "orders" or "orders.total": unique per connection and kind
    content: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def words_of(name: str) -> str:
    """`orderItems` and `order_items` both read as "order items"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return re.sub(r"[_\W]+", " ", spaced).strip().lower()


def quote_sample(value: str) -> str:
    # Every kind of line break (\r, \u2028...) becomes a space: a value stays on one line.
    flat = " ".join(value.split())
    cut = flat if len(flat) <= MAX_SAMPLE_CHARS else flat[: MAX_SAMPLE_CHARS - 1] + "…"
    return '"' + cut.replace('"', "'") + '"'


def table_document(table: Table) -> Document:
    columns = ", ".join(words_of(c.name) for c in table.columns)
    text = f"table {words_of(table.name)}: {columns}"
    if table.comment:
        text += f". {table.comment}"
    return Document("table", table.name, text)


def column_documents(table: Table) -> list[Document]:
    documents = []
    for column in table.columns:
        text = f"{words_of(column.name)} of {words_of(table.name)} ({column.type or 'any'})"
        if column.comment:
            text += f". {column.comment}"
        if column.samples:
            values = ", ".join(quote_sample(v) for v in column.samples[:MAX_SAMPLES_IN_DOCUMENT])
            text += f". values such as {values}"
        documents.append(Document("column", f"{table.name}.{column.name}", text))
    return documents


def schema_documents(schema: Schema) -> list[Document]:
    documents: list[Document] = []
    for table in schema.tables:
        documents.append(table_document(table))
        documents.extend(column_documents(table))
    return documents


def glossary_document(term: str, definition: str, sql: str) -> Document:
    return Document("glossary", term, f"{term}: {definition} ({sql})".strip())


def example_document(question: str, sql: str) -> Document:
    return Document("example", hashlib.sha256(question.encode()).hexdigest()[:16], question)
