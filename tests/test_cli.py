"""The `dana` command in fresh processes, on the session's data folder and a real MariaDB."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from fixtures_targets import MYSQL_SERVER, unique_name

from dana.db import accounts, embedded
from dana.db.audit import Actor
from dana.integrations.urls import ConnectionConfig
from dana.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Cli-Pw-" + uuid.uuid4().hex[:8]
HEAVY_MODULES = ("sentence_transformers", "torch", "transformers", "chainlit")


def dana(
    *args: str, data_dir: Path | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`dana ARGS` in a fresh process; on the app database of `data_dir` when given."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DANA_")}
    env["PYTHONPATH"] = str(ROOT)
    if data_dir is not None:
        env["DANA_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "dana.cli", *args],
        env=env,
        cwd=cwd or data_dir,  # away from any .env of the checkout
        capture_output=True,
        text=True,
        timeout=300,
    )


def json_of(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON object a `--json` command printed last."""
    assert result.stdout.strip(), f"no output; exit {result.returncode}:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def lines_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    if result.returncode != 0:
        pytest.fail(f"dana exited with {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result.stdout.splitlines()


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def cli_data_dir(runtime: Runtime, data_dir: Path) -> Path:
    """The session's data folder, set up (migrated, demo loaded) before any command runs."""
    return data_dir


@pytest.fixture
async def cli_org(runtime: Runtime) -> str:
    """The slug of a fresh organization."""
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    await accounts.create_organization(runtime.db, slug, slug)
    return slug


@pytest.fixture(scope="module")
def mariadb_shop() -> Iterator[tuple[str, str]]:
    """A MariaDB database (items, and prices referring to them) and a user with a password."""
    database, user = unique_name("dana_cli"), unique_name("dana_cli")
    connection = pymysql.connect(**MYSQL_SERVER, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{database}`")
        cursor.execute(f"USE `{database}`")
        cursor.execute("CREATE TABLE items (id int PRIMARY KEY, name varchar(20) NOT NULL)")
        cursor.execute(
            "CREATE TABLE prices (item_id int REFERENCES items (id), amount decimal(8, 2))"
        )
        cursor.execute("INSERT INTO items VALUES (1, 'apple'), (2, 'pear')")
        cursor.execute("INSERT INTO prices VALUES (1, 0.5), (2, 0.75)")
        cursor.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECRET}'")
        cursor.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'127.0.0.1'")
    try:
        yield database, user
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP USER '{user}'@'127.0.0.1'")
            cursor.execute(f"DROP DATABASE `{database}`")
        connection.close()


@pytest.fixture
async def cli_connection(runtime: Runtime, cli_org: str, mariadb_shop: tuple[str, str]) -> str:
    """The name of the MariaDB shop, registered (as root) in `cli_org`."""
    organization_id = await accounts.require_organization(runtime.db, cli_org)
    config = ConnectionConfig(
        "mysql", host="127.0.0.1", port=3306, database=mariadb_shop[0], username="root"
    )
    await runtime.registry.add(Actor(organization_id), "shop", config)
    return "shop"


# --- questions and queries -----------------------------------------------------------------


def demo_count(runtime: Runtime, sql: str) -> int:
    server = runtime.urls.embedded
    assert server is not None
    with psycopg.connect(server.url(embedded.OWNER_ROLE, embedded.DEMO_DATABASE)) as connection:
        return int(connection.execute(sql).fetchone()[0])


def test_ask_counts_customers_like_the_query_command(runtime: Runtime, cli_data_dir: Path) -> None:
    expected = demo_count(runtime, "SELECT count(*) FROM customers")

    asked = dana(
        "ask",
        "--connection",
        "demo",
        "--json",
        "How many customers are there?",
        data_dir=cli_data_dir,
    )
    queried = dana(
        "query", "demo", "--json", "SELECT count(*) FROM customers", data_dir=cli_data_dir
    )

    answer, result = json_of(asked), json_of(queried)
    assert (asked.returncode, answer["status"]) == (0, "ok"), answer["message"]
    assert (queried.returncode, result["status"]) == (0, "ok"), result["message"]
    assert answer["rows"] == result["rows"] == [[expected]]


def test_context_names_tables_columns_join_paths_values_and_tokens(cli_data_dir: Path) -> None:
    result = dana(
        "context",
        "--connection",
        "demo",
        "--json",
        "How many orders per customer country?",
        data_dir=cli_data_dir,
    )

    context = json_of(result)
    assert result.returncode == 0, result.stderr
    assert {"tables", "columns", "join_paths", "values", "tokens"} <= context.keys()
    assert {"orders", "customers"} <= set(context["tables"])
    assert "country" in context["columns"]["customers"]
    assert context["tokens"] > 0


# --- connections ---------------------------------------------------------------------------


def test_connections_add_registers_a_mariadb_database_that_list_shows(
    cli_data_dir: Path, cli_org: str, mariadb_shop: tuple[str, str]
) -> None:
    url = f"mysql://root@127.0.0.1:3306/{mariadb_shop[0]}"

    added = dana(
        "connections",
        "add",
        "--name",
        "shop",
        "--url",
        url,
        "--org",
        cli_org,
        data_dir=cli_data_dir,
    )
    listed = dana("connections", "list", "--json", "--org", cli_org, data_dir=cli_data_dir)

    [row] = json_of(listed)
    first, warning, tables = lines_of(added)
    assert first.startswith("shop: ok, MariaDB ")
    assert warning == "warning: this user can write; use a read-only user"  # root can
    assert tables == "read 2 tables"
    assert (row["name"], row["dialect"], row["status"], row["table_count"]) == (
        "shop",
        "mysql",
        "ok",
        2,
    )
    assert row["server_version"].startswith("MariaDB ")


def test_connections_test_reports_the_server_version(
    cli_data_dir: Path, cli_org: str, cli_connection: str
) -> None:
    result = dana(
        "connections", "test", cli_connection, "--json", "--org", cli_org, data_dir=cli_data_dir
    )

    report = json_of(result)
    assert (result.returncode, report["success"], report["error"]) == (0, True, None)
    assert report["server_version"].startswith("MariaDB ")


def test_connections_refresh_reads_every_table(
    cli_data_dir: Path, cli_org: str, cli_connection: str
) -> None:
    result = dana("connections", "refresh", cli_connection, "--org", cli_org, data_dir=cli_data_dir)

    assert lines_of(result) == [f"{cli_connection}: read 2 tables"]


def test_query_returns_the_rows_of_a_mariadb_connection(
    cli_data_dir: Path, cli_org: str, cli_connection: str
) -> None:
    sql = "SELECT i.name, p.amount FROM items i JOIN prices p ON p.item_id = i.id ORDER BY i.id"

    result = dana("query", cli_connection, "--json", sql, "--org", cli_org, data_dir=cli_data_dir)

    answer = json_of(result)
    assert (result.returncode, answer["status"]) == (0, "ok"), answer["message"]
    assert answer["rows"] == [["apple", 0.5], ["pear", 0.75]]


async def test_connections_remove_forgets_the_connection(
    runtime: Runtime, cli_data_dir: Path, cli_org: str, cli_connection: str
) -> None:
    result = dana("connections", "remove", cli_connection, "--org", cli_org, data_dir=cli_data_dir)

    organization_id = await accounts.require_organization(runtime.db, cli_org)
    assert lines_of(result) == [f"removed {cli_connection}"]
    assert await runtime.registry.list(organization_id) == []


def test_a_password_never_appears_in_any_output(
    cli_data_dir: Path, cli_org: str, mariadb_shop: tuple[str, str]
) -> None:
    database, user = mariadb_shop
    url = f"mysql://{user}:{SECRET}@127.0.0.1:3306/{database}"
    commands = [
        f"connections add --name good --url {url}",
        f"connections add --name wrong --keep --url {url.replace(SECRET, SECRET + '-wrong')}",
        f"connections add --name flags --dialect mysql --host 127.0.0.1 --port 3306"
        f" --database {database} --user {user} --password {SECRET}",
        f"connections add --name unreadable --url {url.replace(':3306', ':99999')}",
        "connections list --json",
        "connections list",
        "-v connections test good",
        "connections test wrong --json",
        "query flags --json 'SELECT name FROM items ORDER BY id'",
        "-v query wrong 'SELECT name FROM items'",
    ]

    results = [
        dana(*shlex.split(command), "--org", cli_org, data_dir=cli_data_dir) for command in commands
    ]

    assert [r.returncode for r in results] == [0, 1, 0, 1, 0, 0, 0, 1, 0, 1], [
        r.stdout + r.stderr for r in results
    ]
    for command, result in zip(commands, results, strict=True):
        assert SECRET not in result.stdout + result.stderr, command
    assert json_of(results[8])["rows"] == [["apple"], ["pear"]]
    assert "password rejected" in results[1].stdout


async def test_a_connection_that_fails_its_test_is_not_kept(
    runtime: Runtime, cli_data_dir: Path, cli_org: str, mariadb_shop: tuple[str, str]
) -> None:
    database, user = mariadb_shop
    url = f"mysql://{user}:{SECRET}-bad@127.0.0.1:3306/{database}"

    result = dana(
        "connections", "add", "--name", "bad", "--url", url, "--org", cli_org, data_dir=cli_data_dir
    )

    organization_id = await accounts.require_organization(runtime.db, cli_org)
    assert result.returncode == 1
    assert "password rejected" in result.stdout
    assert "bad" not in [c["name"] for c in await runtime.registry.list(organization_id)]


def test_security_events_are_listed(runtime, data_dir: Path) -> None:
    dana("query", "demo", "DROP TABLE customers", data_dir=data_dir)

    result = dana("events", "security", "--json", data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    assert any(e["kind"] == "query_refused" for e in json.loads(result.stdout))


# --- sql check -----------------------------------------------------------------------------


def test_sql_check_refuses_a_delete_and_says_why(tmp_path: Path) -> None:
    result = dana("sql", "check", "--dialect", "postgres", "DELETE FROM t", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == "refused: the query deletes from table t; DANA only reads\n"


def test_sql_check_prints_an_allowed_select(tmp_path: Path) -> None:
    result = dana(
        "sql", "check", "--dialect", "postgres", "SELECT id FROM t WHERE x = 1", cwd=tmp_path
    )

    assert (result.returncode, result.stdout) == (0, "SELECT id FROM t WHERE x = 1 LIMIT 1000\n")


def test_sql_check_answers_well_within_a_second(tmp_path: Path) -> None:
    timings = []
    for _ in range(2):  # the best of two, so one busy moment of the machine does not count
        started = time.monotonic()
        result = dana("sql", "check", "--dialect", "mysql", "SELECT 1", cwd=tmp_path)
        timings.append(time.monotonic() - started)

    assert result.returncode == 0
    assert min(timings) < 1.0, timings


def test_sql_check_loads_no_embedding_model(tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from dana.cli import main\n"
        "code = main(['sql', 'check', 'SELECT 1'])\n"
        f"print(json.dumps([code, sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules)]))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("DANA_")}

    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env | {"PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert json_of(result) == [0, []], result.stderr
