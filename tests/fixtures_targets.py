"""Target databases for connector tests: a small shop schema on PostgreSQL, MariaDB and SQLite.

Each server gets a database with a unique name, loaded once per session and dropped at
the end. Connectors only read, so the tests share it; `Target.admin` runs SQL with full
rights to inspect the server behind a connector's back.

PYTEST_DONT_REWRITE: test modules import this file before pytest loads it as a plugin.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest

from dana.integrations.connectors import Connector, make_connector
from dana.integrations.urls import ConnectionConfig

PG_SERVER = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
MYSQL_SERVER = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

COUNTRIES = ("France", "Germany", "Japan", "Brazil")
STATUSES = ("new", "shipped", "cancelled")
CUSTOMERS = 300
ORDERS = 600


@dataclass
class Target:
    dialect: str
    config: ConnectionConfig
    admin: Callable[[str], list[tuple[Any, ...]]]
    allowed_dirs: list[Path] = field(default_factory=list)

    def connector(self, config: ConnectionConfig | None = None) -> Connector:
        return make_connector(config or self.config, allowed_sqlite_dirs=self.allowed_dirs)

    def count(self, table: str) -> int:
        return int(self.admin(f"SELECT count(*) FROM {table}")[0][0])


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    """A TCP port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shop_rows() -> dict[str, list[tuple[Any, ...]]]:
    customers = [
        (i, f"Customer {i}", COUNTRIES[i % len(COUNTRIES)], f"c{i}@example.com")
        for i in range(1, CUSTOMERS + 1)
    ]
    orders = [
        (
            i,
            i % CUSTOMERS + 1,
            STATUSES[i % len(STATUSES)],
            f"{i * 1.25:.2f}",
            f"2024-{i % 12 + 1:02d}-15",
        )
        for i in range(1, ORDERS + 1)
    ]
    items = [(o, line, f"Product {line}", line) for o in range(1, ORDERS + 1) for line in (1, 2)]
    return {"customers": customers, "orders": orders, "order_items": items}


# --- PostgreSQL -------------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE customers (
    id integer PRIMARY KEY,
    name text NOT NULL,
    country varchar(40),
    email text UNIQUE
);
COMMENT ON TABLE customers IS 'People who bought something';
COMMENT ON COLUMN customers.country IS 'Country of the billing address';
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    status varchar(20) NOT NULL DEFAULT 'new',
    total numeric(10, 2),
    ordered_at date
);
CREATE INDEX orders_status_idx ON orders (status);
CREATE TABLE order_items (
    order_id integer REFERENCES orders (id),
    line_no integer,
    product text,
    quantity integer,
    PRIMARY KEY (order_id, line_no)
);
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SCHEMA sales;
CREATE TABLE sales.targets (
    customer_id integer REFERENCES public.customers (id),
    amount numeric
);
"""


def pg_admin(database: str) -> Callable[[str], list[tuple[Any, ...]]]:
    def run(sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(**{**PG_SERVER, "dbname": database}, autocommit=True) as conn:
            cursor = conn.execute(sql)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture(scope="session")
def pg_target() -> Iterator[Target]:
    """A shop database on the local PostgreSQL, as the superuser postgres (who can write)."""
    database = unique_name("dana_conn")
    with psycopg.connect(**PG_SERVER, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
    try:
        with psycopg.connect(**{**PG_SERVER, "dbname": database}, autocommit=True) as conn:
            conn.execute(PG_SCHEMA)  # type: ignore[arg-type]
            rows = shop_rows()
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO customers VALUES (%s, %s, %s, %s)", rows["customers"]
                )
                cursor.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", rows["orders"])
                cursor.executemany(
                    "INSERT INTO order_items VALUES (%s, %s, %s, %s)", rows["order_items"]
                )
            conn.execute("ANALYZE")
        config = ConnectionConfig(
            dialect="postgres", host="127.0.0.1", port=5432, database=database, username="postgres"
        )
        yield Target("postgres", config, pg_admin(database))
    finally:
        with psycopg.connect(**PG_SERVER, autocommit=True) as conn:
            drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
            conn.execute(drop)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_readonly_config(pg_target: Target) -> Iterator[ConnectionConfig]:
    """A role of the shop database that may only SELECT (trust auth: no password)."""
    role = unique_name("dana_ro")
    database = pg_target.config.database
    pg_target.admin(
        f'CREATE ROLE {role} LOGIN; GRANT CONNECT ON DATABASE "{database}" TO {role};'
        f"GRANT USAGE ON SCHEMA public, sales TO {role};"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public, sales TO {role}"
    )
    try:
        yield ConnectionConfig(
            dialect="postgres", host="127.0.0.1", port=5432, database=database, username=role
        )
    finally:
        pg_target.admin(f"DROP OWNED BY {role}; DROP ROLE {role}")


def _postgres_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if not found:
        pytest.fail(
            f"{name} of PostgreSQL is needed to start a server with password authentication"
        )
    return found


@pytest.fixture(scope="session")
def pg_password_server() -> Iterator[ConnectionConfig]:
    """A throwaway PostgreSQL cluster that checks passwords (scram-sha-256).

    The shared server trusts every local connection, so a wrong password could never be
    rejected there.
    """
    password = "pw-" + uuid.uuid4().hex
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="dana-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(folder, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    (folder / "pw").write_text(password)
    if as_postgres:
        shutil.chown(folder / "pw", "postgres")
    data = folder / "data"

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=60)

    run(
        _postgres_bin("initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=scram-sha-256",
        f"--pwfile={folder / 'pw'}",
        "--no-sync",
        "-E",
        "UTF8",
    )
    run(
        _postgres_bin("pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(folder / "log"),
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        "start",
    )
    try:
        yield ConnectionConfig(
            dialect="postgres",
            host="127.0.0.1",
            port=port,
            database="postgres",
            username="postgres",
            password=password,
        )
    finally:
        run(_postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


# --- MariaDB / MySQL --------------------------------------------------------------------

MYSQL_SCHEMA = [
    """CREATE TABLE customers (
        id int PRIMARY KEY,
        name varchar(100) NOT NULL,
        country varchar(40) COMMENT 'Country of the billing address',
        email varchar(100) UNIQUE
    ) COMMENT 'People who bought something'""",
    """CREATE TABLE orders (
        id int PRIMARY KEY,
        customer_id int NOT NULL,
        status varchar(20) NOT NULL DEFAULT 'new',
        total decimal(10, 2),
        ordered_at date,
        KEY orders_status_idx (status),
        CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id)
    )""",
    """CREATE TABLE order_items (
        order_id int,
        line_no int,
        product text,
        quantity int,
        PRIMARY KEY (order_id, line_no),
        CONSTRAINT items_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
    )""",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100",
    "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW SET NEW.status = NEW.status",
]


def mysql_admin(database: str) -> Callable[[str], list[tuple[Any, ...]]]:
    def run(sql: str) -> list[tuple[Any, ...]]:
        conn = pymysql.connect(**MYSQL_SERVER, database=database, autocommit=True)
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            conn.close()

    return run


@pytest.fixture(scope="session")
def mysql_target() -> Iterator[Target]:
    """A shop database on the local MariaDB, as root (who can write)."""
    database = unique_name("dana_conn")
    conn = pymysql.connect(**MYSQL_SERVER, autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute(f"USE `{database}`")
            for statement in MYSQL_SCHEMA:
                cursor.execute(statement)
            rows = shop_rows()
            cursor.executemany("INSERT INTO customers VALUES (%s, %s, %s, %s)", rows["customers"])
            cursor.executemany("INSERT INTO orders VALUES (%s, %s, %s, %s, %s)", rows["orders"])
            cursor.executemany(
                "INSERT INTO order_items VALUES (%s, %s, %s, %s)", rows["order_items"]
            )
        config = ConnectionConfig(
            dialect="mysql", host="127.0.0.1", port=3306, database=database, username="root"
        )
        yield Target("mysql", config, mysql_admin(database))
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


@pytest.fixture(scope="session")
def mysql_readonly_config(mysql_target: Target) -> Iterator[ConnectionConfig]:
    """A MariaDB user with SELECT on the shop database only."""
    user, password = unique_name("dana_ro"), "ro-" + uuid.uuid4().hex
    database = mysql_target.config.database
    mysql_target.admin(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'")
    mysql_target.admin(f"GRANT SELECT ON `{database}`.* TO '{user}'@'127.0.0.1'")
    try:
        yield ConnectionConfig(
            dialect="mysql",
            host="127.0.0.1",
            port=3306,
            database=database,
            username=user,
            password=password,
        )
    finally:
        mysql_target.admin(f"DROP USER '{user}'@'127.0.0.1'")


# --- SQLite -----------------------------------------------------------------------------

SQLITE_SCHEMA = """
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, country varchar(40),
                        email text UNIQUE);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id),
                     status varchar(20) NOT NULL DEFAULT 'new', total real, ordered_at text);
CREATE INDEX orders_status_idx ON orders (status);
CREATE TABLE order_items (order_id integer REFERENCES orders (id), line_no integer, product text,
                          quantity integer, PRIMARY KEY (order_id, line_no));
CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders BEGIN SELECT 1; END;
"""


def sqlite_admin(path: Path) -> Callable[[str], list[tuple[Any, ...]]]:
    def run(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as conn:
            return conn.execute(sql).fetchall()

    return run


@pytest.fixture(scope="session")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    """A shop database in a SQLite file under a folder allowed for SQLite connections."""
    folder = tmp_path_factory.mktemp("sqlite-targets")
    path = folder / "shop.db"
    conn = sqlite3.connect(path)
    conn.executescript(SQLITE_SCHEMA)
    rows = shop_rows()
    conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", rows["customers"])
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
        [(i, c, s, float(t), d) for i, c, s, t, d in rows["orders"]],
    )
    conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?)", rows["order_items"])
    conn.commit()
    conn.close()
    config = ConnectionConfig(dialect="sqlite", path=str(path))
    return Target("sqlite", config, sqlite_admin(path), allowed_dirs=[folder])


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
def target(request: pytest.FixtureRequest) -> Target:
    """Each of the three shop databases in turn."""
    name = {"postgres": "pg_target", "mysql": "mysql_target", "sqlite": "sqlite_target"}
    return request.getfixturevalue(name[request.param])


@contextmanager
def scratch_postgres(
    prefix: str, fill: Callable[[psycopg.Connection], Any]
) -> Iterator[ConnectionConfig]:
    """A database of its own on the local PostgreSQL, filled by `fill`, dropped after."""
    database = unique_name(prefix)
    with psycopg.connect(**PG_SERVER, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
    try:
        with psycopg.connect(**{**PG_SERVER, "dbname": database}, autocommit=True) as connection:
            fill(connection)
        yield ConnectionConfig(
            dialect="postgres", host="127.0.0.1", port=5432, database=database, username="postgres"
        )
    finally:
        with psycopg.connect(**PG_SERVER, autocommit=True) as connection:
            drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
            connection.execute(drop)  # type: ignore[arg-type]


@contextmanager
def scratch_mysql(prefix: str, fill: Callable[[Any], Any]) -> Iterator[ConnectionConfig]:
    """A database of its own on the local MariaDB, filled by `fill(cursor)`, dropped after."""
    database = unique_name(prefix)
    connection = pymysql.connect(**MYSQL_SERVER, autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute(f"USE `{database}`")
            fill(cursor)
        yield ConnectionConfig(
            dialect="mysql", host="127.0.0.1", port=3306, database=database, username="root"
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        connection.close()
