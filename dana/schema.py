"""The shape of a cached database schema, shared by the guard, retrieval and translators.

These types are plain data: they cross every layer (integrations fill them, retrieval
ranks them, translators read them, the guard checks names against them) and are stored
as JSON in the schema cache.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Column:
    name: str
    type: str = ""
    nullable: bool = True
    default: str | None = None
    comment: str | None = None
    primary_key: bool = False
    # A few distinct values of a low-cardinality text column. They are data, never
    # instructions: whoever shows them to a model quotes and shortens them.
    samples: tuple[str, ...] = ()
    distinct_count: int | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    schema: str | None = None
    kind: str = "table"  # "table" or "view"
    comment: str | None = None
    row_count: int | None = None
    size_bytes: int | None = None
    triggers: tuple[str, ...] = ()

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    def column(self, name: str) -> Column | None:
        """The column called `name`, matched without regard to case."""
        lowered = name.lower()
        for column in self.columns:
            if column.name.lower() == lowered:
                return column
        return None


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    dialect: str = "postgres"
    server_version: str | None = None

    def table(self, name: str) -> Table | None:
        """The table called `name` (optionally `schema.name`), matched without regard to case."""
        lowered = name.lower()
        for table in self.tables:
            if table.name.lower() == lowered:
                return table
            if table.schema and f"{table.schema}.{table.name}".lower() == lowered:
                return table
        return None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Schema:
        tables = []
        for t in data.get("tables", []):
            tables.append(
                Table(
                    name=t["name"],
                    columns=tuple(
                        Column(**{**c, "samples": tuple(c.get("samples") or ())})
                        for c in t.get("columns", [])
                    ),
                    foreign_keys=tuple(
                        ForeignKey(
                            columns=tuple(fk["columns"]),
                            ref_table=fk["ref_table"],
                            ref_columns=tuple(fk["ref_columns"]),
                        )
                        for fk in t.get("foreign_keys", [])
                    ),
                    indexes=tuple(
                        Index(name=i["name"], columns=tuple(i["columns"]), unique=i["unique"])
                        for i in t.get("indexes", [])
                    ),
                    schema=t.get("schema"),
                    kind=t.get("kind", "table"),
                    comment=t.get("comment"),
                    row_count=t.get("row_count"),
                    size_bytes=t.get("size_bytes"),
                    triggers=tuple(t.get("triggers") or ()),
                )
            )
        return cls(
            tables=tuple(tables),
            dialect=data.get("dialect", "postgres"),
            server_version=data.get("server_version"),
        )


@dataclass(frozen=True)
class ValueMatch:
    """A word or phrase of the question found among a column's stored values."""

    table: str
    column: str
    value: str
    phrase: str
    score: float = 1.0


@dataclass(frozen=True)
class JoinStep:
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Context:
    """What retrieval hands a translator: the few tables that matter and how they join."""

    schema: Schema  # only the chosen tables
    join_paths: tuple[tuple[JoinStep, ...], ...] = ()
    values: tuple[ValueMatch, ...] = ()
    examples: tuple[tuple[str, str], ...] = ()  # approved (question, sql) pairs
    glossary: tuple[tuple[str, str], ...] = ()  # (term, sql meaning)
    full_table_count: int | None = None
    tokens: int = 0
    # Names of every table in the cached catalog, for questions about the catalog itself.
    catalog: tuple[str, ...] = field(default_factory=tuple)
