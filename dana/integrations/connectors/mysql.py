"""MySQL and MariaDB targets, through aiomysql."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import struct
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiomysql
import pymysql
from pymysql.constants import CLIENT, COMMAND, FIELD_TYPE

from dana.errors import DanaError, QueryFailed
from dana.integrations.connectors.base import (
    CANCEL_GRACE_S,
    EXACT_COUNT_BYTES,
    INTROSPECT_TIMEOUT_S,
    POOL_SIZE,
    SAMPLE_DISTINCT_LIMIT,
    SAMPLE_MAX_CHARS,
    SAMPLE_SCAN_ROWS,
    SAMPLE_TIMEOUT_S,
    TEST_TIMEOUT_S,
    ConnectionProblem,
    Connector,
    QueryResult,
    elapsed_ms,
    network_problem,
    timeout_error,
    write_refused,
)
from dana.integrations.urls import check_resolved_host
from dana.schema import Column, ForeignKey, Index, Schema, Table

logger = logging.getLogger(__name__)

READ_ONLY_REFUSED = 1792  # Cannot execute statement in a READ ONLY transaction
TIMED_OUT = {
    1969,  # MariaDB: max_statement_time exceeded
    3024,  # MySQL: maximum statement execution time exceeded
    1317,  # query interrupted, by our KILL QUERY
}
CONNECTION_LOST = {2006, 2013, 2014}
TEXT_TYPES = ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set")
WRITE_GRANT = re.compile(r"^GRANT\s+(.*?)\s+ON\s", re.IGNORECASE | re.DOTALL)
WRITE_PRIVILEGES = re.compile(
    r"\b(ALL|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|INDEX|EXECUTE|FILE|SUPER)\b", re.IGNORECASE
)
MYSQL_OPTION_MULTI_STATEMENTS_OFF = 1

TYPE_NAMES = {
    FIELD_TYPE.DECIMAL: "decimal",
    FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.TINY: "tinyint",
    FIELD_TYPE.SHORT: "smallint",
    FIELD_TYPE.INT24: "mediumint",
    FIELD_TYPE.LONG: "int",
    FIELD_TYPE.LONGLONG: "bigint",
    FIELD_TYPE.FLOAT: "float",
    FIELD_TYPE.DOUBLE: "double",
    FIELD_TYPE.NULL: "null",
    FIELD_TYPE.TIMESTAMP: "timestamp",
    FIELD_TYPE.DATETIME: "datetime",
    FIELD_TYPE.DATE: "date",
    FIELD_TYPE.NEWDATE: "date",
    FIELD_TYPE.TIME: "time",
    FIELD_TYPE.YEAR: "year",
    FIELD_TYPE.BIT: "bit",
    FIELD_TYPE.JSON: "json",
    FIELD_TYPE.ENUM: "enum",
    FIELD_TYPE.SET: "set",
    FIELD_TYPE.GEOMETRY: "geometry",
    FIELD_TYPE.VARCHAR: "varchar",
    FIELD_TYPE.VAR_STRING: "varchar",
    FIELD_TYPE.STRING: "char",
    FIELD_TYPE.TINY_BLOB: "text",
    FIELD_TYPE.MEDIUM_BLOB: "text",
    FIELD_TYPE.LONG_BLOB: "text",
    FIELD_TYPE.BLOB: "text",
}

TABLES_SQL = """
SELECT table_name, table_type, table_rows, data_length + index_length, table_comment
FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name
"""
COLUMNS_SQL = """
SELECT table_name, column_name, column_type, is_nullable, column_default, column_comment,
       data_type
FROM information_schema.columns WHERE table_schema = DATABASE()
ORDER BY table_name, ordinal_position
"""
FOREIGN_KEYS_SQL = """
SELECT table_name, constraint_name, column_name, referenced_table_schema,
       referenced_table_name, referenced_column_name
FROM information_schema.key_column_usage
WHERE table_schema = DATABASE() AND referenced_table_name IS NOT NULL
ORDER BY table_name, constraint_name, ordinal_position
"""
INDEXES_SQL = """
SELECT table_name, index_name, non_unique, COALESCE(column_name, '')
FROM information_schema.statistics WHERE table_schema = DATABASE()
ORDER BY table_name, index_name, seq_in_index
"""
TRIGGERS_SQL = """
SELECT event_object_table, trigger_name FROM information_schema.triggers
WHERE trigger_schema = DATABASE() ORDER BY event_object_table, trigger_name
"""


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class MysqlConnector(Connector):
    dialect = "mysql"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._pool: aiomysql.Pool | None = None
        self._pool_lock = asyncio.Lock()

    def _connect_args(self) -> dict[str, Any]:
        cfg = self.config
        return {
            "host": cfg.host,
            "port": cfg.port or 3306,
            "user": cfg.username,
            "password": cfg.password or "",
            "db": cfg.database,
            "charset": cfg.options.get("charset", "utf8mb4"),
            "connect_timeout": float(cfg.options.get("connect_timeout", TEST_TIMEOUT_S)),
            "ssl": _ssl_context(cfg.options),
            "local_infile": False,
            "autocommit": False,
            # Every transaction of the session is read-only, introspection's included.
            "init_command": "SET SESSION TRANSACTION READ ONLY",
        }

    async def _probe(self) -> tuple[str, bool]:
        await check_resolved_host(self.config.host or "", self.config.port)
        try:
            connection = await aiomysql.connect(**self._connect_args())
        except Exception as exc:
            raise self._connect_problem(exc) from None
        try:
            self._require_ssl(connection)
            async with connection.cursor() as cursor:
                await cursor.execute("SHOW GRANTS")
                grants = [row[0] for row in await cursor.fetchall()]
        finally:
            connection.close()
        return server_version(connection.get_server_info()), can_write(grants)

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[aiomysql.Connection]:
        async with self._pool_lock:
            if self._pool is None:
                await check_resolved_host(self.config.host or "", self.config.port)
                self._pool = await aiomysql.create_pool(
                    minsize=0, maxsize=POOL_SIZE, pool_recycle=3600, **self._connect_args()
                )
        try:
            connection = await self._pool.acquire()
        except Exception as exc:
            raise self._connect_problem(exc) from None
        if not getattr(connection, "_dana_single_statements", False):
            try:
                self._require_ssl(connection)
                await _single_statements(connection)
            except (pymysql.err.MySQLError, OSError, ConnectionProblem) as exc:
                connection.close()
                self._pool.release(connection)
                if isinstance(exc, ConnectionProblem):
                    raise
                raise self._connect_problem(exc) from None
        try:
            yield connection
        finally:
            self._pool.release(connection)

    def _require_ssl(self, connection: aiomysql.Connection) -> None:
        # aiomysql quietly goes on without SSL when the server does not offer it.
        if ssl_mode(self.config.options) and not connection.server_capabilities & CLIENT.SSL:
            raise ConnectionProblem(
                "the server does not offer SSL, which the ssl option requires", "options"
            )

    async def close(self) -> None:
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    def _connect_problem(self, exc: BaseException) -> ConnectionProblem:
        message, field = connect_problem(exc, f"{self.config.host}:{self.config.port}")
        detail = f"{type(exc).__name__}: {self.scrub(str(exc))}"
        return ConnectionProblem(self.scrub(message), field, detail)

    async def execute(self, sql: str, *, timeout_s: float, max_rows: int) -> QueryResult:
        started = time.monotonic()
        logger.debug("mysql query: %s", sql)
        async with self._acquire() as connection:
            reusable = False
            try:
                cursor = await connection.cursor(aiomysql.SSCursor)
                await cursor.execute("SET SESSION TRANSACTION READ ONLY")
                await cursor.execute(_timeout_sql(connection, timeout_s))
                await cursor.execute("START TRANSACTION READ ONLY")
                columns, types, rows = await asyncio.wait_for(
                    _fetch(cursor, sql, max_rows + 1), timeout_s + CANCEL_GRACE_S
                )
                # Rows left unread would have to be drained first: closing is cheaper.
                reusable = len(rows) <= max_rows
            except TimeoutError:
                await self._kill_query(connection.thread_id())
                raise timeout_error(timeout_s) from None
            except pymysql.err.MySQLError as exc:
                reusable = not _lost(exc)
                raise self._query_problem(exc, timeout_s) from None
            finally:
                await _end(connection, reusable)

        return QueryResult(
            columns=columns,
            types=types,
            rows=rows[:max_rows],
            truncated=len(rows) > max_rows,
            elapsed_ms=elapsed_ms(started),
        )

    async def _kill_query(self, thread_id: int) -> None:
        """Stop a running statement from a second connection: closing ours would not."""
        try:
            async with asyncio.timeout(TEST_TIMEOUT_S):
                killer = await aiomysql.connect(**self._connect_args())
                try:
                    async with killer.cursor() as cursor:
                        await cursor.execute("KILL QUERY %s", (thread_id,))
                finally:
                    killer.close()
        except (pymysql.err.MySQLError, OSError, TimeoutError) as exc:
            logger.warning("could not cancel query %s on the server: %s", thread_id, exc)

    def _query_problem(self, exc: pymysql.err.MySQLError, timeout_s: float) -> DanaError:
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        message = str(exc.args[1]) if len(exc.args) > 1 else type(exc).__name__
        detail = f"{type(exc).__name__} ({code}): {self.scrub(message)}"
        if code in TIMED_OUT:
            return timeout_error(timeout_s)
        if code == READ_ONLY_REFUSED:
            logger.warning("mysql refused a write: %s", message)
            return write_refused(detail)
        if _lost(exc):
            return ConnectionProblem(
                "the connection to the server was lost during the query", detail=detail
            )
        return QueryFailed(self.scrub(message), detail)

    async def introspect(self) -> Schema:
        async with self._acquire() as connection:
            try:
                async with connection.cursor() as cursor:
                    await cursor.execute(_timeout_sql(connection, INTROSPECT_TIMEOUT_S))
                    await cursor.execute("START TRANSACTION READ ONLY")
                    tables = await _tables(connection, cursor)
                    version = server_version(connection.get_server_info())
            except pymysql.err.MySQLError as exc:
                raise self._query_problem(exc, INTROSPECT_TIMEOUT_S) from None
            finally:
                await _end(connection, reusable=True)
        return Schema(tables=tuple(tables), dialect="mysql", server_version=version)


def server_version(info: str) -> str:
    """ "10.11.19-MariaDB-0+deb12u1" -> "MariaDB 10.11.19"; "8.0.36" -> "MySQL 8.0.36".

    MariaDB 10 and later announce themselves as "5.5.5-10.11.19-MariaDB..." to old clients;
    the 5.5.5- is not their version.
    """
    number = info.removeprefix("5.5.5-").split("-", 1)[0]
    return f"MariaDB {number}" if "mariadb" in info.lower() else f"MySQL {number}"


def can_write(grants: list[str]) -> bool:
    for grant in grants:
        match = WRITE_GRANT.match(grant)
        if match and WRITE_PRIVILEGES.search(match.group(1)):
            return True
    return False


async def _single_statements(connection: aiomysql.Connection) -> None:
    """Turn off multi-statements, which aiomysql always asks for.

    Otherwise "COMMIT; SET SESSION TRANSACTION READ WRITE; DELETE ..." would step out of
    the read-only transaction within one call.
    """
    # aiomysql has no public call for COM_SET_OPTION; the server answers with an EOF packet.
    await connection._execute_command(
        COMMAND.COM_SET_OPTION, struct.pack("<H", MYSQL_OPTION_MULTI_STATEMENTS_OFF)
    )
    await connection._read_packet()
    connection._dana_single_statements = True


def _timeout_sql(connection: aiomysql.Connection, timeout_s: float) -> str:
    if "mariadb" in connection.get_server_info().lower():
        return f"SET SESSION max_statement_time = {max(0.001, timeout_s):.3f}"
    # MySQL limits only SELECT this way; the client's own timeout covers the rest.
    return f"SET SESSION max_execution_time = {max(1, int(timeout_s * 1000))}"


async def _fetch(
    cursor: aiomysql.SSCursor, sql: str, limit: int
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    await cursor.execute(sql)
    if not cursor.description:
        return [], [], []
    rows = list(await cursor.fetchmany(limit))
    columns = [d[0] for d in cursor.description]
    types = [TYPE_NAMES.get(d[1], str(d[1])) for d in cursor.description]
    for i, name in enumerate(types):
        if name == "text" and any(isinstance(r[i], bytes) for r in rows):
            types[i] = "blob"
    return columns, types, rows


def _lost(exc: pymysql.err.MySQLError) -> bool:
    code = exc.args[0] if exc.args else None
    return isinstance(exc, pymysql.err.InterfaceError) or code in CONNECTION_LOST


async def _end(connection: aiomysql.Connection, reusable: bool) -> None:
    if reusable and not connection.closed:
        try:
            await connection.rollback()
            return
        except (pymysql.err.MySQLError, OSError):
            pass
    connection.close()  # the pool drops closed connections


def ssl_mode(options: Mapping[str, str]) -> str:
    """The MySQL ssl-mode the options ask for; "" when SSL is not required."""
    mode = str(options.get("ssl_mode", options.get("ssl-mode", ""))).lower()
    if not mode and str(options.get("ssl", "")).lower() in ("1", "true"):
        mode = "required"
    return mode if mode in ("required", "verify_ca", "verify_identity") else ""


def _ssl_context(options: Mapping[str, str]) -> ssl.SSLContext | None:
    mode = ssl_mode(options)
    if not mode:
        return None
    context = ssl.create_default_context()
    context.check_hostname = mode == "verify_identity"
    if mode == "required":
        context.verify_mode = ssl.CERT_NONE
    return context


def connect_problem(exc: BaseException, where: str) -> tuple[str, str | None]:
    """What to tell the user about a failed connection, and which setting to look at."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code == 1045:
        return "password rejected (or the user does not exist)", "password"
    if code == 1049:
        return f"database does not exist: {text}", "database"
    if code == 1044:
        return f"this user may not use the database: {text}", "database"
    if code == 1130:
        return f"the server does not accept connections from DANA's address: {text}", "host"
    if code == 1040:
        return "the server has no free connections; try again later", None
    if code in (2003, 2005) or isinstance(exc, (OSError, TimeoutError)):
        # aiomysql wraps the socket's own error, which tells a closed port from a silent host.
        cause = exc.__cause__ if isinstance(exc.__cause__, (OSError, TimeoutError)) else exc
        return network_problem(cause, where)
    if isinstance(exc, ssl.SSLError) or "ssl" in text.lower():
        return f"SSL negotiation with {where} failed; check the ssl_mode option", "options"
    if isinstance(exc, pymysql.err.MySQLError):
        return f"the server refused the connection: {text}", None
    logger.warning("unexpected connection failure: %s", type(exc).__name__, exc_info=exc)
    return f"could not connect to {where} ({type(exc).__name__})", None


async def _tables(connection: aiomysql.Connection, cursor: aiomysql.Cursor) -> list[Table]:
    rows = await _all(cursor, TABLES_SQL)
    columns = _group(await _all(cursor, COLUMNS_SQL))
    foreign_keys = _group(await _all(cursor, FOREIGN_KEYS_SQL))
    indexes = _group(await _all(cursor, INDEXES_SQL))
    triggers = _group(await _all(cursor, TRIGGERS_SQL))
    await cursor.execute(_timeout_sql(connection, SAMPLE_TIMEOUT_S))

    tables = []
    for name, table_type, estimate, size, comment in rows:
        is_view = table_type == "VIEW"
        row_count = None if is_view else await _row_count(cursor, name, estimate, size)
        primary = [i[3] for i in indexes.get(name, []) if i[1] == "PRIMARY"]
        table_columns = []
        for _t, column, col_type, nullable, default, col_comment, data_type in columns.get(
            name, []
        ):
            samples: tuple[str, ...] = ()
            distinct = None
            if data_type.lower() in TEXT_TYPES and row_count != 0:
                samples, distinct = await _samples(cursor, name, column)
            table_columns.append(
                Column(
                    name=column,
                    type=col_type,
                    nullable=nullable == "YES",
                    # MariaDB spells "no default" as the text NULL.
                    default=None if default in (None, "NULL") else str(default),
                    comment=col_comment or None,
                    primary_key=column in primary,
                    samples=samples,
                    distinct_count=distinct,
                )
            )
        tables.append(
            Table(
                name=name,
                columns=tuple(table_columns),
                foreign_keys=_foreign_keys(foreign_keys.get(name, []), cursor.connection.db),
                indexes=_indexes(indexes.get(name, [])),
                kind="view" if is_view else "table",
                comment=comment or None,
                row_count=row_count,
                size_bytes=None if is_view else size,
                triggers=tuple(t[1] for t in triggers.get(name, [])),
            )
        )
    return tables


async def _all(cursor: aiomysql.Cursor, sql: str) -> list[tuple[Any, ...]]:
    await cursor.execute(sql)
    return list(await cursor.fetchall())


def _group(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[Any, ...]]]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[0], []).append(row)
    return grouped


async def _row_count(
    cursor: aiomysql.Cursor, table: str, estimate: int | None, size: int | None
) -> int | None:
    if size is not None and size <= EXACT_COUNT_BYTES:
        try:
            return int((await _all(cursor, f"SELECT COUNT(*) FROM {quote(table)}"))[0][0])
        except pymysql.err.MySQLError as exc:
            if _lost(exc):
                raise
            logger.debug("no exact count of %s: %s", table, exc)
    return estimate  # InnoDB's estimate; may be off by half


def _foreign_keys(
    rows: list[tuple[Any, ...]], database: bytes | str | None
) -> tuple[ForeignKey, ...]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(row)
    if isinstance(database, bytes):
        database = database.decode()
    keys = []
    for parts in grouped.values():
        ref_schema, ref_table = parts[0][3], parts[0][4]
        ref = ref_table if ref_schema == database else f"{ref_schema}.{ref_table}"
        keys.append(
            ForeignKey(
                columns=tuple(p[2] for p in parts),
                ref_table=ref,
                ref_columns=tuple(p[5] for p in parts),
            )
        )
    return tuple(keys)


def _indexes(rows: list[tuple[Any, ...]]) -> tuple[Index, ...]:
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(row)
    return tuple(
        Index(name=name, columns=tuple(p[3] for p in parts), unique=not parts[0][2])
        for name, parts in grouped.items()
    )


async def _samples(
    cursor: aiomysql.Cursor, table: str, column: str
) -> tuple[tuple[str, ...], int | None]:
    """Up to 200 distinct values of a text column, or none when it has more."""
    # TODO: only the first SAMPLE_SCAN_ROWS rows are read, so a value that first appears
    # deep in a huge table is missed, and the count is then a lower bound.
    sql = (
        f"SELECT DISTINCT v FROM (SELECT {quote(column)} AS v FROM {quote(table)} "
        f"LIMIT {SAMPLE_SCAN_ROWS}) s WHERE v IS NOT NULL LIMIT {SAMPLE_DISTINCT_LIMIT + 1}"
    )
    try:
        values = [r[0] for r in await _all(cursor, sql)]
    except pymysql.err.MySQLError as exc:
        if _lost(exc):
            raise
        logger.debug("no samples for %s.%s: %s", table, column, exc)
        return (), None
    if len(values) > SAMPLE_DISTINCT_LIMIT:
        return (), None
    text = {v[:SAMPLE_MAX_CHARS] for v in values if isinstance(v, str)}
    return tuple(sorted(text)), len(values)
