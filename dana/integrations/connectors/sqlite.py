"""SQLite targets: a file opened read-only, one connection per call, run in a thread."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from dana.errors import DanaError, QueryFailed, QueryRefused, QueryTimeout
from dana.integrations.connectors.base import (
    INTROSPECT_TIMEOUT_S,
    ConnectionProblem,
    Connector,
    QueryResult,
    elapsed_ms,
    timeout_error,
    write_refused,
)
from dana.integrations.sqlite_schema import introspect_connection
from dana.schema import Schema

logger = logging.getLogger(__name__)

# The progress handler runs every this many virtual machine steps (a few microseconds).
PROGRESS_STEPS = 10_000
BUSY_TIMEOUT_S = 5.0
FORBIDDEN = {sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH"}


class SqliteConnector(Connector):
    dialect = "sqlite"

    @property
    def path(self) -> Path:
        return Path(self.config.path or "")

    def open(self) -> sqlite3.Connection:
        """A connection that cannot change the file: opened read-only, with query_only on."""
        if not self.path.is_file():
            raise ConnectionProblem(f"database does not exist: no file at {self.path}", "path")
        # Percent-encoding keeps a "?" or "#" of the file name out of the URI's parameters.
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            connection = sqlite3.connect(
                uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_S
            )
            connection.text_factory = lambda b: b.decode("utf-8", errors="replace")
            connection.execute("PRAGMA query_only = ON")
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConnectionProblem(
                f"{self.path} cannot be opened as a SQLite database ({exc})", "path", str(exc)
            ) from None
        # A query could otherwise attach any other SQLite file of this machine.
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.set_authorizer(_authorize)
        return connection

    async def close(self) -> None:
        pass  # no pool: every call opens and closes its own connection

    async def _probe(self) -> tuple[str, bool]:
        return await asyncio.to_thread(self._probe_sync)

    def _probe_sync(self) -> tuple[str, bool]:
        connection = self.open()
        try:
            version = connection.execute("SELECT sqlite_version()").fetchone()[0]
        finally:
            connection.close()
        # Opened read-only, so this connection cannot write whatever the file's permissions.
        return f"SQLite {version}", False

    async def introspect(self) -> Schema:
        return await asyncio.to_thread(self._introspect_sync)

    def _introspect_sync(self) -> Schema:
        deadline = time.monotonic() + INTROSPECT_TIMEOUT_S
        connection = self.open()
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        try:
            # TODO: sample values need a count(DISTINCT) over every text column, which on a
            # file of many gigabytes can outlast the deadline; then no schema is read at all.
            schema = introspect_connection(connection)
        except sqlite3.Error as exc:
            if time.monotonic() > deadline:
                raise QueryTimeout(
                    f"reading the schema took longer than {INTROSPECT_TIMEOUT_S:g} s"
                ) from None
            raise QueryFailed(f"could not read the schema: {exc}", type(exc).__name__) from None
        finally:
            connection.close()
        return Schema(
            tables=schema.tables, dialect="sqlite", server_version=f"SQLite {schema.server_version}"
        )

    async def execute(self, sql: str, *, timeout_s: float, max_rows: int) -> QueryResult:
        logger.debug("sqlite query: %s", sql)
        # The progress handler stops the statement in the thread itself, so even a
        # cancelled caller leaves no statement running past the deadline.
        return await asyncio.to_thread(self._execute_sync, sql, timeout_s, max_rows)

    def _execute_sync(self, sql: str, timeout_s: float, max_rows: int) -> QueryResult:
        started = time.monotonic()
        deadline = started + timeout_s
        connection = self.open()
        connection.set_progress_handler(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
        try:
            cursor = connection.execute(sql)
            rows = cursor.fetchmany(max_rows + 1) if cursor.description else []
        except sqlite3.Error as exc:
            if time.monotonic() > deadline and "interrupted" in str(exc):
                raise timeout_error(timeout_s) from None
            raise query_problem(exc) from None
        finally:
            connection.close()

        kept = rows[:max_rows]
        columns = [d[0] for d in cursor.description or ()]
        return QueryResult(
            columns=columns,
            types=[_type_of(kept, i) for i in range(len(columns))],
            rows=[tuple(r) for r in kept],
            truncated=len(rows) > max_rows,
            elapsed_ms=elapsed_ms(started),
        )


def _authorize(
    action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
) -> int:
    return sqlite3.SQLITE_DENY if action in FORBIDDEN else sqlite3.SQLITE_OK


def query_problem(exc: sqlite3.Error) -> DanaError:
    message = str(exc)
    detail = f"{type(exc).__name__}: {message}"
    if "readonly" in message or "read-only" in message:
        logger.warning("sqlite refused a write: %s", message)
        return write_refused(detail)
    if "not authorized" in message:
        return QueryRefused("attaching other database files is not allowed", detail)
    if "one statement at a time" in message:
        return QueryRefused("DANA runs one statement at a time; send a single query", detail)
    return QueryFailed(message, detail)


def _type_of(rows: list[Any], index: int) -> str:
    """SQLite has no result column types: name the storage class of the first value."""
    for row in rows:
        value = row[index]
        if value is None:
            continue
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "real"
        if isinstance(value, bytes):
            return "blob"
        return "text"
    return ""
