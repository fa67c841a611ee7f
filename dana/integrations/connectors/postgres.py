"""PostgreSQL targets, through asyncpg."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from dana.errors import DanaError, QueryFailed, QueryRefused, QueryTimeout
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
from dana.integrations.urls import check_resolved_host, postgres_server_settings
from dana.schema import Column, ForeignKey, Index, Schema, Table

logger = logging.getLogger(__name__)

TIMEOUT_SQL = "SELECT set_config('statement_timeout', $1, true)"
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"

CAN_WRITE_SQL = f"""
SELECT current_setting('is_superuser') = 'on'
    OR has_database_privilege(current_database(), 'CREATE')
    OR EXISTS (
        SELECT 1 FROM pg_namespace n
        WHERE n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'
          AND has_schema_privilege(n.oid, 'CREATE'))
    OR EXISTS (
        SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {SYSTEM_SCHEMAS}
          AND n.nspname NOT LIKE 'pg\\_%'
          AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))
"""

# Tables and views the user may read, outside system schemas and extensions' own tables.
TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, c.relkind::text AS relkind, c.reltuples::bigint AS estimate,
       CASE WHEN c.relkind IN ('r', 'p', 'm') THEN pg_total_relation_size(c.oid) END AS size,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'
  AND has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')
  AND NOT EXISTS (
      SELECT 1 FROM pg_depend d
      WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""

COLUMNS_SQL = """
SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default,
       col_description(a.attrelid, a.attnum) AS comment,
       (t.typtype = 'e' OR t.typcategory = 'S') AS is_text
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

KEYS_SQL = """
SELECT con.conrelid, con.contype::text AS contype,
       rn.nspname AS ref_schema, rc.relname AS ref_table,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY u(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.num
             ORDER BY u.ord) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY u(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = u.num
             ORDER BY u.ord) AS ref_columns
FROM pg_constraint con
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f') AND con.conrelid = ANY($1::oid[])
ORDER BY con.conrelid, con.conname
"""

# Plain index columns by name; expression columns by their text.
INDEXES_SQL = """
SELECT i.indrelid, ic.relname AS name, i.indisunique,
       ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN pg_get_indexdef(i.indexrelid, k, true)
                         ELSE (SELECT a.attname::text FROM pg_attribute a
                               WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1])
                    END
             FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS columns
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid = ANY($1::oid[])
ORDER BY i.indrelid, ic.relname
"""

TRIGGERS_SQL = """
SELECT tgrelid, tgname FROM pg_trigger
WHERE NOT tgisinternal AND tgrelid = ANY($1::oid[])
ORDER BY tgrelid, tgname
"""


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresConnector(Connector):
    dialect = "postgres"

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    def _connect_args(self) -> dict[str, Any]:
        cfg = self.config
        settings = postgres_server_settings(cfg.options.get("options", ""))
        settings["application_name"] = cfg.options.get("application_name", "dana")
        # Every transaction starts read-only, introspection's too, not only execute()'s.
        settings["default_transaction_read_only"] = "on"
        user = cfg.username or "postgres"
        return {
            "host": cfg.host,
            "port": cfg.port or 5432,
            "user": user,
            # An explicit password, even empty, keeps asyncpg away from PGPASSWORD and
            # ~/.pgpass: the credentials of DANA's own machine are not for its users.
            "password": cfg.password or "",
            "database": cfg.database or user,
            "ssl": cfg.options.get("sslmode", "prefer"),
            "server_settings": settings,
            "timeout": float(cfg.options.get("connect_timeout", TEST_TIMEOUT_S)),
        }

    async def _probe(self) -> tuple[str, bool]:
        connection = await self._connect()
        try:
            version = await connection.fetchval("SHOW server_version")
            can_write = await connection.fetchval(CAN_WRITE_SQL)
        finally:
            await connection.close()
        return f"PostgreSQL {version}", bool(can_write)

    async def _connect(self) -> asyncpg.Connection:
        await check_resolved_host(self.config.host or "", self.config.port)
        try:
            return await asyncpg.connect(**self._connect_args())
        except Exception as exc:
            raise self._connect_problem(exc) from None

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool_lock:
            if self._pool is None:
                await check_resolved_host(self.config.host or "", self.config.port)
                self._pool = asyncpg.create_pool(
                    min_size=0, max_size=POOL_SIZE, **self._connect_args()
                )
                await self._pool
        try:
            connection = await self._pool.acquire()
        except Exception as exc:
            raise self._connect_problem(exc) from None
        try:
            yield connection
        finally:
            await self._pool.release(connection)

    async def close(self) -> None:
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _connect_problem(self, exc: BaseException) -> ConnectionProblem:
        message, field = connect_problem(
            exc, self.config.host, self.config.port, self.config.options.get("sslmode", "prefer")
        )
        detail = f"{type(exc).__name__}: {self.scrub(str(exc))}"
        return ConnectionProblem(self.scrub(message), field, detail)

    async def execute(self, sql: str, *, timeout_s: float, max_rows: int) -> QueryResult:
        started = time.monotonic()
        logger.debug("postgres query: %s", sql)
        async with self._acquire() as connection:
            try:
                await connection.execute("BEGIN READ ONLY")
                # A SELECT takes the transaction's snapshot, after which nothing can switch
                # it to read-write ("SET TRANSACTION READ WRITE" must come first).
                await connection.fetchval(TIMEOUT_SQL, str(max(1, int(timeout_s * 1000))))
                columns, types, rows = await asyncio.wait_for(
                    _fetch(connection, sql, max_rows + 1), timeout_s + CANCEL_GRACE_S
                )
            except TimeoutError:
                # wait_for cancelled the fetch, and asyncpg sent the server a cancel request.
                raise timeout_error(timeout_s) from None
            except asyncpg.QueryCanceledError:
                raise timeout_error(timeout_s) from None
            except asyncpg.PostgresError as exc:
                raise self._query_problem(exc) from None
            except (OSError, asyncpg.InterfaceError) as exc:
                raise ConnectionProblem(
                    "the connection to the server was lost during the query",
                    detail=f"{type(exc).__name__}: {self.scrub(str(exc))}",
                ) from None
            finally:
                await _rollback(connection)

        return QueryResult(
            columns=columns,
            types=types,
            rows=rows[:max_rows],
            truncated=len(rows) > max_rows,
            elapsed_ms=elapsed_ms(started),
        )

    def _query_problem(self, exc: asyncpg.PostgresError) -> DanaError:
        detail = f"{type(exc).__name__} ({exc.sqlstate}): {self.scrub(str(exc))}"
        if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
            logger.warning("postgres refused a write: %s", exc)
            return write_refused(detail)
        if "multiple commands" in str(exc):
            return QueryRefused("DANA runs one statement at a time; send a single query", detail)
        message = str(exc)
        if getattr(exc, "hint", None):
            message += f" ({exc.hint})"
        return QueryFailed(self.scrub(message), detail)

    async def introspect(self) -> Schema:
        async with self._acquire() as connection:
            try:
                async with connection.transaction(readonly=True):
                    await connection.execute(
                        f"SET LOCAL statement_timeout = {int(INTROSPECT_TIMEOUT_S * 1000)}"
                    )
                    version = await connection.fetchval("SHOW server_version")
                    tables = await _tables(connection)
            except asyncpg.QueryCanceledError:
                raise QueryTimeout(
                    f"reading the schema took longer than {INTROSPECT_TIMEOUT_S:g} s"
                ) from None
            except asyncpg.PostgresError as exc:
                detail = f"{type(exc).__name__} ({exc.sqlstate}): {self.scrub(str(exc))}"
                raise QueryFailed(
                    f"could not read the schema: {self.scrub(str(exc))}", detail
                ) from None
        return Schema(
            tables=tuple(tables), dialect="postgres", server_version=f"PostgreSQL {version}"
        )


async def _rollback(connection: asyncpg.Connection) -> None:
    if connection.is_closed():
        return
    try:
        await connection.execute("ROLLBACK")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        connection.terminate()  # the pool replaces it


async def _fetch(
    connection: asyncpg.Connection, sql: str, limit: int
) -> tuple[list[str], list[str], list[tuple[Any, ...]]]:
    statement = await connection.prepare(sql)
    attributes = statement.get_attributes()
    if not attributes:
        await statement.fetch()
        return [], [], []
    cursor = await statement.cursor()
    records = await cursor.fetch(limit)
    columns = [a.name for a in attributes]
    types = [a.type.name for a in attributes]
    return columns, types, [tuple(r) for r in records]


def connect_problem(
    exc: BaseException, host: str | None, port: int | None, sslmode: str = "prefer"
) -> tuple[str, str | None]:
    """What to tell the user about a failed connection, and which setting to look at."""
    where = f"{host}:{port}"
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return "password rejected", "password"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"database does not exist: {exc.args[0] if exc.args else ''}", "database"
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):
        return f"user not accepted: {exc.args[0] if exc.args else ''}", "username"
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return f"this user may not connect: {exc.args[0] if exc.args else ''}", "username"
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return "the server has no free connections; try again later", None
    if isinstance(exc, asyncpg.PostgresError):
        return f"the server refused the connection: {exc.args[0] if exc.args else ''}", None
    if "rejected SSL upgrade" in str(exc):
        if sslmode in ("require", "verify-ca", "verify-full"):
            return f"the server at {where} does not accept SSL, which sslmode requires", "options"
        return f"host not reachable: {where} does not answer like a PostgreSQL server", "host"
    return network_problem(exc, where)


async def _tables(connection: asyncpg.Connection) -> list[Table]:
    rows = await connection.fetch(TABLES_SQL)
    oids = [r["oid"] for r in rows]
    columns = _group(await connection.fetch(COLUMNS_SQL, oids))
    keys = _group(await connection.fetch(KEYS_SQL, oids))
    indexes = _group(await connection.fetch(INDEXES_SQL, oids))
    triggers = _group(await connection.fetch(TRIGGERS_SQL, oids))

    tables = []
    for row in rows:
        oid = row["oid"]
        name = f"{quote(row['nspname'])}.{quote(row['relname'])}"
        row_count = await _row_count(connection, row, name)
        primary = next((k["columns"] for k in keys.get(oid, []) if k["contype"] == "p"), [])
        table_columns = []
        for col in columns.get(oid, []):
            samples, distinct = (), None
            if col["is_text"] and row_count != 0:
                samples, distinct = await _samples(connection, name, col["attname"])
            table_columns.append(
                Column(
                    name=col["attname"],
                    type=col["type"],
                    nullable=not col["attnotnull"],
                    default=col["default"],
                    comment=col["comment"],
                    primary_key=col["attname"] in primary,
                    samples=samples,
                    distinct_count=distinct,
                )
            )
        tables.append(
            Table(
                name=row["relname"],
                schema=row["nspname"],
                columns=tuple(table_columns),
                foreign_keys=tuple(
                    _foreign_key(k) for k in keys.get(oid, []) if k["contype"] == "f"
                ),
                indexes=tuple(
                    Index(name=i["name"], columns=tuple(i["columns"]), unique=i["indisunique"])
                    for i in indexes.get(oid, [])
                ),
                kind="view" if row["relkind"] in ("v", "m") else "table",
                comment=row["comment"],
                row_count=row_count,
                size_bytes=row["size"],
                triggers=tuple(t["tgname"] for t in triggers.get(oid, [])),
            )
        )
    return tables


def _group(records: list[asyncpg.Record]) -> dict[int, list[asyncpg.Record]]:
    grouped: dict[int, list[asyncpg.Record]] = {}
    for record in records:
        grouped.setdefault(record[0], []).append(record)
    return grouped


def _foreign_key(key: asyncpg.Record) -> ForeignKey:
    # Tables of other schemas are named with their schema, as Schema.table() accepts.
    ref = (
        key["ref_table"]
        if key["ref_schema"] == "public"
        else f"{key['ref_schema']}.{key['ref_table']}"
    )
    return ForeignKey(
        columns=tuple(key["columns"]), ref_table=ref, ref_columns=tuple(key["ref_columns"])
    )


async def _row_count(connection: asyncpg.Connection, row: asyncpg.Record, name: str) -> int | None:
    if row["relkind"] not in ("r", "p", "m"):
        return None
    if row["size"] is not None and row["size"] <= EXACT_COUNT_BYTES and row["relkind"] != "p":
        try:
            async with connection.transaction():
                return int(await connection.fetchval(f"SELECT count(*) FROM {name}"))
        except asyncpg.PostgresError as exc:
            logger.debug("no exact count of %s: %s", name, exc)
    # reltuples is -1 until the table is first analyzed.
    return row["estimate"] if row["estimate"] >= 0 else None


async def _samples(
    connection: asyncpg.Connection, table: str, column: str
) -> tuple[tuple[str, ...], int | None]:
    """Up to 200 distinct values of a text column, or none when it has more."""
    # TODO: only the first SAMPLE_SCAN_ROWS rows are read, so a value that first appears
    # deep in a huge table is missed, and the count is then a lower bound.
    sql = (
        f"SELECT DISTINCT v FROM (SELECT {quote(column)}::text AS v FROM {table} "
        f"LIMIT {SAMPLE_SCAN_ROWS}) s WHERE v IS NOT NULL LIMIT {SAMPLE_DISTINCT_LIMIT + 1}"
    )
    try:
        async with connection.transaction():
            await connection.execute(
                f"SET LOCAL statement_timeout = {int(SAMPLE_TIMEOUT_S * 1000)}"
            )
            values = [r[0] for r in await connection.fetch(sql)]
    except asyncpg.PostgresError as exc:
        logger.debug("no samples for %s.%s: %s", table, column, exc)
        return (), None
    if len(values) > SAMPLE_DISTINCT_LIMIT:
        return (), None
    return tuple(sorted({v[:SAMPLE_MAX_CHARS] for v in values})), len(values)
