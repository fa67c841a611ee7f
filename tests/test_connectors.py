"""Connectors against real PostgreSQL, MariaDB and SQLite: tests, schema, read-only queries."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from pathlib import Path

import pytest
from fixtures_targets import Target, free_port

from dana.errors import DanaError, QueryFailed, QueryRefused, QueryTimeout
from dana.integrations.connectors import make_connector
from dana.integrations.connectors import mysql as mysql_module
from dana.integrations.connectors import postgres as postgres_module
from dana.integrations.urls import (
    ConfigRefused,
    ConnectionConfig,
    check_resolved_host,
    display_url,
    parse_url,
    redact,
    validate_config,
)

# Until tests/conftest.py imports them, the fixtures come in as a plugin.
pytest_plugins = ["fixtures_targets"]

SECRET = "S3cret-Pa55word-" + uuid.uuid4().hex[:6]
VERSION_PREFIX = {"postgres": "PostgreSQL ", "mysql": "MariaDB ", "sqlite": "SQLite "}


# --- parsing and validating configs --------------------------------------------------------

PARSE_CASES = [
    (
        "postgresql://ana:s%40cret@db.example.com:5433/shop?sslmode=require",
        dict(
            dialect="postgres",
            host="db.example.com",
            port=5433,
            database="shop",
            username="ana",
            password="s@cret",
            options={"sslmode": "require"},
        ),
    ),
    ("postgres://ana@db/shop", dict(dialect="postgres", host="db", port=5432, password=None)),
    ("postgresql+asyncpg://ana:pw@db/shop", dict(dialect="postgres", password="pw")),
    ("mysql://root:pw@127.0.0.1/shop", dict(dialect="mysql", port=3306, database="shop")),
    ("mariadb://root@[::1]:3307/shop", dict(dialect="mysql", host="::1", port=3307)),
    ("mysql+pymysql://root@db/shop?charset=utf8mb4", dict(options={"charset": "utf8mb4"})),
    ("sqlite:////srv/data/shop.db", dict(dialect="sqlite", path="/srv/data/shop.db", host=None)),
    ("sqlite:///shop.db", dict(dialect="sqlite", path="shop.db")),
]


@pytest.mark.parametrize(("url", "expected"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_url_reads_every_part(url: str, expected: dict[str, object]) -> None:
    cfg = parse_url(url)

    for name, value in expected.items():
        assert getattr(cfg, name) == value, name


REFUSED_URLS = [
    ("oracle://scott:tiger@db/orcl", "unknown database type 'oracle'"),
    ("postgresql+jdbc://db/shop", "unknown driver 'jdbc'"),
    (f"postgresql://ana:{SECRET}@db:99999/shop", "could not be read"),
    (f"postgresql://ana:{SECRET}@db:port/shop", "could not be read"),
    ("sqlite://host/shop.db", "names a file, not a host"),
]


@pytest.mark.parametrize(("url", "message"), REFUSED_URLS, ids=[c[1] for c in REFUSED_URLS])
def test_parse_url_refuses_without_repeating_the_url(url: str, message: str) -> None:
    with pytest.raises(ConfigRefused) as caught:
        parse_url(url)

    assert message in caught.value.message
    assert SECRET not in caught.value.message and SECRET not in str(caught.value.detail)


def pg(host: str = "db.example.com", **options: str) -> ConnectionConfig:
    return ConnectionConfig(
        dialect="postgres",
        host=host,
        port=5432,
        database="shop",
        username="ana",
        password=SECRET,
        options=options,
    )


def my(**options: str) -> ConnectionConfig:
    return ConnectionConfig(
        dialect="mysql",
        host="db.example.com",
        port=3306,
        database="shop",
        username="ana",
        password=SECRET,
        options=options,
    )


REFUSED_CONFIGS = [
    ("aws metadata", pg("169.254.169.254"), "cloud metadata"),
    ("aws metadata ipv6", pg("fd00:ec2::254"), "cloud metadata"),
    ("aws metadata ipv4-mapped", pg("::ffff:169.254.169.254"), "cloud metadata"),
    ("aws metadata as hex", pg("0xa9fea9fe"), "cloud metadata"),
    ("aws metadata as integer", pg("2852039166"), "cloud metadata"),
    ("gcp metadata", pg("metadata.google.internal"), "cloud metadata"),
    ("gcp metadata upper, dotted", pg("METADATA.Google.Internal."), "cloud metadata"),
    ("foreign unix socket", pg("/var/run/postgresql"), "socket folder /"),
    ("host with a comma", pg("db1,db2"), "not a host name"),
    ("no host", pg(""), "host is missing"),
    ("pg read-write default", pg(options="-c default_transaction_read_only=off"), "read-only"),
    ("pg read-write", pg(options="--transaction-read-only=off"), "read-only"),
    ("pg unknown option", pg(passfile="/root/.pgpass"), "option passfile is not supported"),
    ("pg bad sslmode", pg(sslmode="sometimes"), "sslmode must be one of"),
    ("pg options not settings", pg(options="-X"), "-c name=value"),
    ("mysql local_infile", my(local_infile="1"), "read files of the machine"),
    ("mysql allowLoadLocalInfile", my(allowLoadLocalInfile="true"), "read files of the machine"),
    ("mysql read-write", my(init_command="SET SESSION tx_read_only=0"), "read-only"),
    ("mysql without database", ConnectionConfig(dialect="mysql", host="db"), "database name"),
    ("unknown dialect", ConnectionConfig(dialect="oracle", host="db"), "unknown database type"),
    ("sqlite in memory", ConnectionConfig(dialect="sqlite", path=":memory:"), "database file"),
]


@pytest.mark.parametrize(
    ("cfg", "message"), [c[1:] for c in REFUSED_CONFIGS], ids=[c[0] for c in REFUSED_CONFIGS]
)
def test_validate_config_refuses_unsafe_settings(cfg: ConnectionConfig, message: str) -> None:
    with pytest.raises(ConfigRefused) as caught:
        validate_config(cfg, [])

    assert message in caught.value.message
    assert SECRET not in caught.value.message


def test_a_socket_folder_inside_the_allowed_folders_is_accepted(tmp_path: Path) -> None:
    cfg = pg(str(tmp_path / "run" / ".." / "run"))

    checked = validate_config(cfg, [tmp_path])

    assert checked.host == str((tmp_path / "run").resolve())


def test_validate_config_accepts_an_ordinary_server() -> None:
    cfg = pg(sslmode="require", options="-c search_path=sales", application_name="bi")

    assert validate_config(cfg, []) is cfg


def test_sqlite_path_inside_an_allowed_folder_comes_back_resolved(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "shop.db").touch()
    (tmp_path / "data" / "link.db").symlink_to(tmp_path / "data" / "shop.db")
    cfg = ConnectionConfig(dialect="sqlite", path=str(tmp_path / "data" / "x" / ".." / "link.db"))

    checked = validate_config(cfg, [tmp_path / "data"])

    assert checked.path == str((tmp_path / "data" / "shop.db").resolve())


@pytest.mark.parametrize("escape", ["outside", "dotdot", "symlink"])
def test_sqlite_path_outside_the_allowed_folders_is_refused(tmp_path: Path, escape: str) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    secret = tmp_path / "secret.db"
    secret.touch()
    (allowed / "link.db").symlink_to(secret)
    path = {
        "outside": str(secret),
        "dotdot": str(allowed / ".." / "secret.db"),
        "symlink": str(allowed / "link.db"),
    }[escape]

    with pytest.raises(ConfigRefused) as caught:
        validate_config(ConnectionConfig(dialect="sqlite", path=path), [allowed])

    assert "outside the allowed folders" in caught.value.message


async def test_a_name_resolving_to_a_metadata_address_is_refused() -> None:
    await check_resolved_host("localhost", 5432)

    with pytest.raises(ConfigRefused, match="cloud metadata"):
        await check_resolved_host("169.254.169.254", 80)


def test_password_never_shows_in_repr_str_or_redact() -> None:
    cfg = parse_url(f"postgresql://ana:{SECRET}@db.example.com/shop?sslmode=require")

    shown = [repr(cfg), str(cfg), display_url(cfg), json.dumps(redact(cfg))]

    assert all(SECRET not in text for text in shown)
    assert redact(cfg)["has_password"] is True
    assert "password" not in redact(cfg)
    assert str(cfg) == "postgresql://ana:***@db.example.com:5432/shop"
    assert ConnectionConfig.from_dict(cfg.to_dict()) == cfg


def test_make_connector_validates_the_config() -> None:
    with pytest.raises(ConfigRefused, match="cloud metadata"):
        make_connector(pg("169.254.169.254"), allowed_sqlite_dirs=[])


# --- connection test ---------------------------------------------------------------------


async def test_connection_test_reports_version_and_write_ability(target: Target) -> None:
    async with target.connector() as connector:
        result = await connector.test()

    assert result.success, result.error
    assert result.server_version.startswith(VERSION_PREFIX[target.dialect])
    assert result.response_ms is not None and 0 < result.response_ms < 10_000
    can_write = target.dialect != "sqlite"  # postgres and root can; SQLite opens read-only
    assert result.can_write is can_write
    assert result.warning == ("this user can write; use a read-only user" if can_write else None)


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
async def test_a_read_only_user_gets_no_warning(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    cfg = request.getfixturevalue(f"{'pg' if dialect == 'postgres' else 'mysql'}_readonly_config")

    async with make_connector(cfg) as connector:
        result = await connector.test()

    assert result.success, result.error
    assert result.can_write is False
    assert result.warning is None


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
async def test_wrong_password_is_named(dialect: str, request: pytest.FixtureRequest) -> None:
    if dialect == "postgres":
        server: ConnectionConfig = request.getfixturevalue("pg_password_server")
    else:
        server = request.getfixturevalue("mysql_target").config
    cfg = ConnectionConfig(**{**server.to_dict(), "password": SECRET})

    async with make_connector(cfg) as connector:
        result = await connector.test()

    assert not result.success
    assert result.error.startswith("password rejected")
    assert result.error_field == "password"
    assert SECRET not in repr(result)


async def test_right_password_passes_on_a_server_that_checks_it(
    pg_password_server: ConnectionConfig,
) -> None:
    async with make_connector(pg_password_server) as connector:
        result = await connector.test()

    assert result.success, result.error


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
async def test_closed_port_is_host_not_reachable(dialect: str) -> None:
    cfg = ConnectionConfig(
        dialect=dialect,
        host="127.0.0.1",
        port=free_port(),
        database="shop",
        username="ana",
        password=SECRET,
    )

    started = time.monotonic()
    async with make_connector(cfg) as connector:
        result = await connector.test()

    assert not result.success
    assert result.error.startswith("host not reachable")
    assert result.error_field == "port"
    assert SECRET not in result.error
    assert time.monotonic() - started < 10


SSL_REQUIRED = [("pg_target", {"sslmode": "require"}), ("mysql_target", {"ssl_mode": "REQUIRED"})]


@pytest.mark.parametrize(("fixture", "options"), SSL_REQUIRED, ids=["postgres", "mysql"])
async def test_required_ssl_is_not_silently_dropped(
    fixture: str, options: dict[str, str], request: pytest.FixtureRequest
) -> None:
    target: Target = request.getfixturevalue(fixture)
    cfg = ConnectionConfig(**{**target.config.to_dict(), "options": options})

    async with target.connector(cfg) as connector:
        result = await connector.test()

    assert not result.success  # neither local server offers SSL
    assert "SSL" in result.error
    assert result.error_field == "options"


async def test_missing_database_is_named(target: Target) -> None:
    if target.dialect == "sqlite":
        missing = str(target.allowed_dirs[0] / "missing.db")
        cfg = ConnectionConfig(dialect="sqlite", path=missing)
        field = "path"
    else:
        cfg = ConnectionConfig(**{**target.config.to_dict(), "database": "dana_missing_db"})
        field = "database"

    async with target.connector(cfg) as connector:
        result = await connector.test()

    assert not result.success
    assert result.error.startswith("database does not exist")
    assert result.error_field == field


async def test_a_file_that_is_not_sqlite_is_named(sqlite_target: Target) -> None:
    path = sqlite_target.allowed_dirs[0] / "notes.db"
    path.write_text("not a database " * 100)

    async with sqlite_target.connector(ConnectionConfig(dialect="sqlite", path=str(path))) as c:
        result = await c.test()

    assert not result.success
    assert result.error_field == "path"
    assert "cannot be opened as a SQLite database" in result.error


# --- introspection -----------------------------------------------------------------------


async def test_introspect_finds_tables_views_and_columns(target: Target) -> None:
    async with target.connector() as connector:
        schema = await connector.introspect()

    assert schema.dialect == target.dialect
    assert schema.server_version.startswith(VERSION_PREFIX[target.dialect])
    assert {"customers", "orders", "order_items", "big_orders"} <= {t.name for t in schema.tables}
    assert schema.table("big_orders").kind == "view"
    customers = schema.table("customers")
    assert [c.name for c in customers.columns] == ["id", "name", "country", "email"]
    assert customers.column("name").nullable is False
    assert customers.column("country").nullable is True
    assert "char" in customers.column("country").type.lower()
    assert "new" in (schema.table("orders").column("status").default or "")
    assert customers.row_count == 300
    assert schema.table("order_items").row_count == 1200


async def test_introspect_finds_keys_indexes_and_triggers(target: Target) -> None:
    async with target.connector() as connector:
        schema = await connector.introspect()

    orders, items = schema.table("orders"), schema.table("order_items")
    assert schema.table("customers").primary_key == ("id",)
    assert items.primary_key == ("order_id", "line_no")
    assert [(fk.columns, fk.ref_table, fk.ref_columns) for fk in orders.foreign_keys] == [
        (("customer_id",), "customers", ("id",))
    ]
    assert [(fk.columns, fk.ref_table) for fk in items.foreign_keys] == [(("order_id",), "orders")]
    assert ("orders_status_idx", ("status",), False) in [
        (i.name, i.columns, i.unique) for i in orders.indexes
    ]
    assert ("email",) in [i.columns for i in schema.table("customers").indexes if i.unique]
    assert orders.triggers == ("orders_touch",)


async def test_introspect_keeps_samples_of_low_cardinality_text(target: Target) -> None:
    async with target.connector() as connector:
        schema = await connector.introspect()

    customers = schema.table("customers")
    assert sorted(customers.column("country").samples) == sorted(
        ("France", "Germany", "Japan", "Brazil")
    )
    assert customers.column("country").distinct_count == 4
    assert set(schema.table("orders").column("status").samples) == {"new", "shipped", "cancelled"}
    assert customers.column("email").samples == ()  # 300 distinct values
    assert customers.column("id").samples == ()


async def test_introspect_reads_comments_sizes_and_other_schemas(pg_target: Target) -> None:
    async with pg_target.connector() as connector:
        schema = await connector.introspect()

    customers = schema.table("customers")
    assert customers.schema == "public"
    assert customers.comment == "People who bought something"
    assert customers.column("country").comment == "Country of the billing address"
    assert customers.size_bytes and customers.size_bytes > 0
    targets = schema.table("sales.targets")
    assert targets.schema == "sales"
    assert [(fk.columns, fk.ref_table) for fk in targets.foreign_keys] == [
        (("customer_id",), "customers")
    ]


async def test_introspect_reads_mysql_comments_and_sizes(mysql_target: Target) -> None:
    async with mysql_target.connector() as connector:
        schema = await connector.introspect()

    customers = schema.table("customers")
    assert customers.comment == "People who bought something"
    assert customers.column("country").comment == "Country of the billing address"
    assert customers.size_bytes and customers.size_bytes > 0


async def test_read_only_user_sees_the_tables_it_may_read(
    pg_readonly_config: ConnectionConfig,
) -> None:
    async with make_connector(pg_readonly_config) as connector:
        schema = await connector.introspect()

    assert {"customers", "orders", "order_items", "big_orders", "targets"} <= {
        t.name for t in schema.tables
    }


# --- queries -----------------------------------------------------------------------------

EXPECTED_TYPES = {
    "postgres": ["int4", "text", "numeric", "date"],
    "mysql": ["int", "varchar", "decimal", "date"],
    "sqlite": ["integer", "text", "real", "text"],
}


async def test_execute_returns_named_typed_columns(target: Target) -> None:
    sql = (
        "SELECT o.id, c.name, o.total, o.ordered_at FROM orders o "
        "JOIN customers c ON c.id = o.customer_id WHERE o.id = 4"
    )

    async with target.connector() as connector:
        result = await connector.execute(sql, timeout_s=10, max_rows=100)

    assert result.columns == ["id", "name", "total", "ordered_at"]
    assert result.types == EXPECTED_TYPES[target.dialect]
    assert len(result.rows) == 1 and not result.truncated
    assert result.elapsed_ms > 0
    assert json.loads(json.dumps(result.jsonable_rows())) == [[4, "Customer 5", 5.0, "2024-05-15"]]


async def test_execute_caps_rows_and_says_so(target: Target) -> None:
    async with target.connector() as connector:
        capped = await connector.execute("SELECT * FROM customers", timeout_s=10, max_rows=10)
        whole = await connector.execute("SELECT * FROM customers", timeout_s=10, max_rows=1000)
        again = await connector.execute("SELECT count(*) FROM orders", timeout_s=10, max_rows=10)

    assert len(capped.rows) == 10 and capped.truncated
    assert len(whole.rows) == 300 and not whole.truncated
    assert again.rows == [(600,)]


async def test_execute_reports_a_database_error_plainly(target: Target) -> None:
    async with target.connector() as connector:
        with pytest.raises(QueryFailed) as caught:
            await connector.execute(
                "SELECT no_such_column FROM customers", timeout_s=10, max_rows=10
            )

    assert "no_such_column" in caught.value.message
    assert "Traceback" not in caught.value.message
    assert "Error" in caught.value.detail  # the error class, for the log


SLOW_SQL = {
    "postgres": "SELECT pg_sleep(10) AS {marker}",
    "mysql": "SELECT SLEEP(10) AS {marker}",
    "sqlite": "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
    "SELECT count(*) AS {marker} FROM n",
}


def running_queries(target: Target, marker: str) -> int:
    """Statements still running on the server whose text holds `marker`."""
    if target.dialect == "postgres":
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            f"AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        )
    elif target.dialect == "mysql":
        sql = (
            "SELECT count(*) FROM information_schema.processlist "
            f"WHERE info LIKE '%{marker}%' AND id <> CONNECTION_ID()"
        )
    else:
        # A reader holds a shared lock on the file; an exclusive lock proves none is left.
        with sqlite3.connect(target.config.path, timeout=0, isolation_level=None) as conn:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("ROLLBACK")
        return 0
    return int(target.admin(sql)[0][0])


async def test_a_slow_query_is_stopped_at_the_timeout(target: Target) -> None:
    marker = f"slow_{uuid.uuid4().hex[:8]}"

    async with target.connector() as connector:
        started = time.monotonic()
        with pytest.raises(QueryTimeout) as caught:
            await connector.execute(
                SLOW_SQL[target.dialect].format(marker=marker), timeout_s=1, max_rows=10
            )
        took = time.monotonic() - started
        after = await connector.execute("SELECT 1 AS one", timeout_s=5, max_rows=1)

    assert took < 1 + 2
    assert caught.value.message == "the query took longer than 1 s and was cancelled"
    assert running_queries(target, marker) == 0
    assert after.rows == [(1,)]


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
async def test_the_client_cancels_when_the_server_timeout_does_not_fire(
    dialect: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MySQL's max_execution_time skips non-SELECT statements: the client's own deadline
    # must then cancel the statement on the server.
    target: Target = request.getfixturevalue(
        "pg_target" if dialect == "postgres" else "mysql_target"
    )
    monkeypatch.setattr(postgres_module, "TIMEOUT_SQL", "SELECT $1::text WHERE false")
    monkeypatch.setattr(mysql_module, "_timeout_sql", lambda connection, timeout_s: "SET @noop = 1")
    marker = f"slow_{uuid.uuid4().hex[:8]}"

    async with target.connector() as connector:
        started = time.monotonic()
        with pytest.raises(QueryTimeout):
            await connector.execute(
                SLOW_SQL[dialect].format(marker=marker), timeout_s=1, max_rows=10
            )
        took = time.monotonic() - started

    assert took < 1 + 2
    await asyncio.sleep(0.2)  # the cancel request travels on its own connection
    assert running_queries(target, marker) == 0


WRITES = [
    ("insert", "INSERT INTO customers (id, name) VALUES (9999, 'Mallory')"),
    ("update", "UPDATE customers SET name = 'Mallory'"),
    ("delete", "DELETE FROM order_items"),
    ("drop", "DROP TABLE order_items"),
    ("create", "CREATE TABLE stolen (x integer)"),
]


@pytest.mark.parametrize("sql", [w[1] for w in WRITES], ids=[w[0] for w in WRITES])
async def test_a_write_is_refused_by_the_read_only_session(target: Target, sql: str) -> None:
    before = (target.count("customers"), target.count("order_items"))

    async with target.connector() as connector:
        with pytest.raises(QueryRefused) as caught:
            await connector.execute(sql, timeout_s=10, max_rows=10)

    assert "DANA only reads" in caught.value.message
    assert (target.count("customers"), target.count("order_items")) == before
    assert target.admin("SELECT count(*) FROM customers WHERE name = 'Mallory'") == [(0,)]


ESCAPES = [
    ("commit first", "COMMIT; DELETE FROM order_items"),
    ("read-write then write", "SET TRANSACTION READ WRITE; DELETE FROM order_items"),
    ("session read-write", "SET SESSION TRANSACTION READ WRITE; DELETE FROM order_items"),
]


@pytest.mark.parametrize("sql", [e[1] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
async def test_a_second_statement_cannot_step_out_of_the_transaction(
    target: Target, sql: str
) -> None:
    before = target.count("order_items")

    async with target.connector() as connector:
        with pytest.raises((QueryRefused, QueryFailed)):
            await connector.execute(sql, timeout_s=10, max_rows=10)

    assert target.count("order_items") == before


SWITCHES = [
    "SET TRANSACTION READ WRITE",
    "SET SESSION TRANSACTION READ WRITE",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET default_transaction_read_only = off",
    "PRAGMA query_only = OFF",
]


async def test_the_session_stays_read_only_after_a_statement_switches_it(target: Target) -> None:
    async with target.connector() as connector:
        for sql in SWITCHES:
            try:
                await connector.execute(sql, timeout_s=10, max_rows=10)
            except DanaError:
                pass  # most dialects refuse most of these; the point is what follows
        with pytest.raises(QueryRefused):
            await connector.execute("DELETE FROM order_items", timeout_s=10, max_rows=10)

    assert target.count("order_items") == 1200


async def test_sqlite_cannot_attach_other_files(sqlite_target: Target, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()

    async with sqlite_target.connector() as connector:
        with pytest.raises(QueryRefused):
            await connector.execute(f"ATTACH DATABASE '{other}' AS other", timeout_s=5, max_rows=1)


async def test_errors_never_show_the_password(mysql_target: Target) -> None:
    cfg = ConnectionConfig(**{**mysql_target.config.to_dict(), "password": SECRET})

    async with make_connector(cfg) as connector:
        with pytest.raises(DanaError) as caught:
            await connector.execute("SELECT 1", timeout_s=5, max_rows=1)
        assert SECRET not in repr(connector)

    assert caught.value.message.startswith("password rejected")
    assert SECRET not in caught.value.message and SECRET not in caught.value.detail
