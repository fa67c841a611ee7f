"""Reading a SQLite file's schema into `dana.schema` types (synchronous, read-only)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dana.schema import Column, ForeignKey, Index, Schema, Table

# A text column with at most this many distinct values keeps them as samples, so that
# words of a question can be matched to stored values ("France" -> singer.country).
SAMPLE_DISTINCT_LIMIT = 200
SAMPLE_KEEP = 200
SAMPLE_MAX_CHARS = 60


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """Open a SQLite file so that no statement can change it."""
    uri = f"file:{Path(path).resolve()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    connection.text_factory = lambda b: b.decode("utf-8", errors="replace")
    connection.execute("PRAGMA query_only = ON")
    return connection


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def introspect_sqlite(path: str | Path, samples: bool = True) -> Schema:
    with open_readonly(path) as connection:
        return introspect_connection(connection, samples=samples)


def introspect_connection(connection: sqlite3.Connection, samples: bool = True) -> Schema:
    rows = connection.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    tables = [_table(connection, name, kind, samples) for name, kind in rows]
    version = connection.execute("SELECT sqlite_version()").fetchone()[0]
    return Schema(tables=tuple(tables), dialect="sqlite", server_version=version)


def _table(connection: sqlite3.Connection, name: str, kind: str, samples: bool) -> Table:
    info = connection.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    row_count = connection.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
    columns = []
    for _cid, col, col_type, notnull, default, pk in info:
        values: tuple[str, ...] = ()
        distinct = None
        if samples and _is_text(col_type) and row_count:
            values, distinct = _samples(connection, name, col)
        columns.append(
            Column(
                name=col,
                type=(col_type or "").lower(),
                nullable=not notnull and not pk,
                default=None if default is None else str(default),
                primary_key=bool(pk),
                samples=values,
                distinct_count=distinct,
            )
        )
    return Table(
        name=name,
        columns=tuple(columns),
        foreign_keys=_foreign_keys(connection, name) if kind == "table" else (),
        indexes=_indexes(connection, name) if kind == "table" else (),
        kind=kind,
        row_count=row_count,
        triggers=tuple(
            r[0]
            for r in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (name,)
            )
        ),
    )


def _is_text(col_type: str | None) -> bool:
    t = (col_type or "").lower()
    return t == "" or any(k in t for k in ("char", "text", "clob", "varchar"))


def _samples(
    connection: sqlite3.Connection, table: str, column: str
) -> tuple[tuple[str, ...], int]:
    q = quote(column)
    distinct = connection.execute(f"SELECT count(DISTINCT {q}) FROM {quote(table)}").fetchone()[0]
    if distinct > SAMPLE_DISTINCT_LIMIT:
        return (), distinct
    rows = connection.execute(
        f"SELECT DISTINCT {q} FROM {quote(table)} WHERE {q} IS NOT NULL LIMIT {SAMPLE_KEEP}"
    ).fetchall()
    values = tuple(str(r[0])[:SAMPLE_MAX_CHARS] for r in rows if isinstance(r[0], str))
    return values, distinct


def _foreign_keys(connection: sqlite3.Connection, table: str) -> tuple[ForeignKey, ...]:
    grouped: dict[int, list[tuple[str, str, str]]] = {}
    for row in connection.execute(f"PRAGMA foreign_key_list({quote(table)})"):
        fk_id, _seq, ref_table, from_col, to_col = row[0], row[1], row[2], row[3], row[4]
        grouped.setdefault(fk_id, []).append((ref_table, from_col, to_col))
    keys = []
    for parts in grouped.values():
        ref_table = parts[0][0]
        ref_columns = tuple(p[2] for p in parts)
        if any(c is None for c in ref_columns):
            # `REFERENCES t` with no column list points at t's primary key.
            pk = [
                r[1] for r in connection.execute(f"PRAGMA table_info({quote(ref_table)})") if r[5]
            ]
            ref_columns = tuple(pk) or ref_columns
        keys.append(
            ForeignKey(
                columns=tuple(p[1] for p in parts),
                ref_table=ref_table,
                ref_columns=tuple(c or "" for c in ref_columns),
            )
        )
    return tuple(keys)


def _indexes(connection: sqlite3.Connection, table: str) -> tuple[Index, ...]:
    indexes = []
    for row in connection.execute(f"PRAGMA index_list({quote(table)})"):
        name, unique = row[1], bool(row[2])
        cols = tuple(r[2] for r in connection.execute(f"PRAGMA index_info({quote(name)})"))
        indexes.append(Index(name=name, columns=cols, unique=unique))
    return tuple(indexes)
