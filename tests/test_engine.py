"""The integration engine end to end: registry, schema cache, read-only runs, logs, limits, keys.

Every test registers a real PostgreSQL, MariaDB or SQLite database in a fresh organization
of the session's app database, and checks what lands in DANA's own tables.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_targets import Target, unique_name
from sqlalchemy.ext.asyncio import create_async_engine

from dana.config import Settings
from dana.db import accounts, embedded
from dana.db.audit import Actor
from dana.db.migrate import upgrade
from dana.db.session import Database, execute, fetch_all
from dana.db.urls import with_driver
from dana.errors import LimitExceeded, QueryRefused
from dana.integrations.engine import Engine, RunContext
from dana.integrations.registry import Registered
from dana.integrations.rotation import rotate_all
from dana.integrations.secrets import KEY_FILE
from dana.integrations.urls import ConfigRefused, ConnectionConfig, parse_url
from dana.runtime import Runtime

pytest_plugins = ["fixtures_targets"]

DIALECTS = ["postgres", "mysql", "sqlite"]
SECRET = "Engine-Pw-" + uuid.uuid4().hex[:8]
TIMEOUT_MESSAGE = "the query took longer than 3 s and was cancelled"
# What the connection test should record, from what the server says of itself.
SERVER_VERSION = {
    "postgres": ("SHOW server_version", lambda v: f"PostgreSQL {v}"),
    "mysql": ("SELECT VERSION()", lambda v: f"MariaDB {v.split('-')[0]}"),
    "sqlite": ("SELECT sqlite_version()", lambda v: f"SQLite {v}"),
}
ORDERS_FK = {
    "table": "orders",
    "columns": ["customer_id"],
    "ref_table": "customers",
    "ref_columns": ["id"],
}
# Cartesian products of 300 rows: minutes of work on every server, and the guard lets them by.
SLOW_SQL = (
    "SELECT count(*) FROM customers a CROSS JOIN customers b"
    " CROSS JOIN customers c CROSS JOIN customers d"
)
# Functions each server lacks although the guard knows them (MariaDB has no REGEXP_LIKE,
# PostgreSQL has no unaccent without its extension, SQLite 3.40 has no unhex).
LACKING = {
    "postgres": ("SELECT unaccent(name) FROM customers", "unaccent"),
    "mysql": ("SELECT REGEXP_LIKE(name, 'a') FROM customers", "regexp_like"),
    "sqlite": ("SELECT unhex(name) FROM customers", "unhex"),
}


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mysql_writer(mysql_target: Target) -> Iterator[ConnectionConfig]:
    """A MariaDB user with a password and every right on the shop: only the session guards it."""
    user = unique_name("dana_rw")
    database = mysql_target.config.database
    mysql_target.admin(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECRET}'")
    mysql_target.admin(f"GRANT ALL ON `{database}`.* TO '{user}'@'127.0.0.1'")
    try:
        yield dataclasses.replace(mysql_target.config, username=user, password=SECRET)
    finally:
        mysql_target.admin(f"DROP USER '{user}'@'127.0.0.1'")


@pytest.fixture(params=DIALECTS)
def shop(request: pytest.FixtureRequest) -> Target:
    """The shop database of one dialect, as a user who could write, with a password."""
    if request.param == "postgres":
        target: Target = request.getfixturevalue("pg_target")
        # The local server trusts 127.0.0.1, so the password is stored but never checked.
        return dataclasses.replace(
            target, config=dataclasses.replace(target.config, password=SECRET)
        )
    if request.param == "mysql":
        target = request.getfixturevalue("mysql_target")
        return dataclasses.replace(target, config=request.getfixturevalue("mysql_writer"))
    return request.getfixturevalue("sqlite_target")


@pytest.fixture
async def registered(runtime: Runtime, organization: Actor, shop: Target) -> Registered:
    name = unique_name(shop.dialect)
    await runtime.registry.add(organization, name, shop.config)
    return await runtime.registry.get(organization.organization_id, name)


async def rows(runtime: Runtime, actor: Actor, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of DANA's own database, as the app role sees them for `actor`'s organization."""
    async with runtime.db.transaction(actor.organization_id) as connection:
        return await fetch_all(connection, sql, params)


async def query_logs(runtime: Runtime, actor: Actor, registered: Registered) -> list[dict]:
    return await rows(
        runtime,
        actor,
        "SELECT status, row_count, error, error_class, query_hash, pattern_hash"
        " FROM integration_query_logs WHERE connection_id = :c ORDER BY created_at",
        c=registered.id,
    )


# --- registering, testing, introspecting ---------------------------------------------------


@pytest.mark.parametrize(
    "shop",
    ["postgres", "mysql", "sqlite"],
    indirect=True,
)
async def test_connection_test_records_the_server_version_and_marks_it_ok(
    runtime: Runtime, organization: Actor, registered: Registered, shop: Target
) -> None:
    version_sql, spelled = SERVER_VERSION[shop.dialect]
    expected = spelled(shop.admin(version_sql)[0][0])

    result = await runtime.registry.test(organization, registered.name)

    tests = await rows(
        runtime,
        organization,
        "SELECT success, server_version, error FROM integration_connection_tests"
        " WHERE connection_id = :c",
        c=registered.id,
    )
    [connection] = await rows(
        runtime,
        organization,
        "SELECT status, server_version, last_tested_at FROM integration_connections WHERE id = :c",
        c=registered.id,
    )
    again = await runtime.registry.get(organization.organization_id, registered.name)
    assert result.success, result.error
    assert tests == [{"success": True, "server_version": expected, "error": None}]
    assert connection["status"] == "ok" and connection["last_tested_at"] is not None
    assert connection["server_version"] == again.server_version == expected


async def test_refresh_caches_foreign_keys_a_versioned_context_and_embeddings(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    schema = await runtime.pipeline.refresh_schema(organization, registered)

    [cache] = await rows(
        runtime,
        organization,
        "SELECT foreign_keys, table_count FROM integration_schema_cache WHERE connection_id = :c",
        c=registered.id,
    )
    contexts = await rows(
        runtime,
        organization,
        "SELECT schema_version, context FROM integration_database_contexts"
        " WHERE connection_id = :c",
        c=registered.id,
    )
    embedded_refs = await rows(
        runtime,
        organization,
        "SELECT kind, ref FROM embeddings WHERE connection_id = :c",
        c=registered.id,
    )
    tables = {t.name for t in schema.tables}
    assert ORDERS_FK in cache["foreign_keys"]
    assert cache["table_count"] == len(schema.tables)
    assert [c["schema_version"] for c in contexts] == [1]
    assert {t["name"] for t in contexts[0]["context"]["tables"]} == tables
    assert {r["ref"] for r in embedded_refs if r["kind"] == "table"} == tables
    assert "orders.customer_id" in {r["ref"] for r in embedded_refs if r["kind"] == "column"}


async def test_a_changed_schema_gets_a_new_context_version_and_an_unchanged_one_does_not(
    runtime: Runtime, organization: Actor, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("versions") / "notes.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text)")
    await runtime.registry.add(organization, "notes", ConnectionConfig("sqlite", path=str(path)))
    registered = await runtime.registry.get(organization.organization_id, "notes")

    await runtime.pipeline.refresh_schema(organization, registered)
    await runtime.pipeline.refresh_schema(organization, registered)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE tags (note_id integer REFERENCES notes (id))")
    await runtime.pipeline.refresh_schema(organization, registered)

    contexts = await rows(
        runtime,
        organization,
        "SELECT schema_version, context FROM integration_database_contexts"
        " WHERE connection_id = :c ORDER BY schema_version",
        c=registered.id,
    )
    assert [c["schema_version"] for c in contexts] == [1, 2]
    assert [len(c["context"]["tables"]) for c in contexts] == [1, 2]


async def test_a_relative_sqlite_path_names_the_same_file_from_any_folder(
    runtime: Runtime, organization: Actor, sqlite_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `dana connections add` runs in one folder, the chat server in another.
    real = Path(sqlite_target.config.path)
    monkeypatch.chdir(real.parent)
    await runtime.registry.add(organization, "relative", parse_url(f"sqlite:///{real.name}"))
    monkeypatch.chdir(runtime.settings.data_dir)

    result = await runtime.registry.test(organization, "relative")

    registered = await runtime.registry.get(organization.organization_id, "relative")
    assert result.success, result.error
    assert registered.config.path == str(real.resolve())


# --- running queries -----------------------------------------------------------------------


async def test_run_sql_returns_the_rows_the_target_holds(
    runtime: Runtime, organization: Actor, registered: Registered, shop: Target
) -> None:
    sql = "SELECT country, count(*) AS n FROM customers GROUP BY country ORDER BY country"
    expected = [[country, count] for country, count in shop.admin(sql)]

    answer = await runtime.pipeline.run_sql(organization, registered.name, sql)

    assert answer.status == "ok", answer.message
    assert answer.columns == ["country", "n"]
    assert answer.rows == expected


async def test_a_stuck_query_is_cancelled_at_the_timeout_and_logged_as_a_timeout(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    await runtime.pipeline.refresh_schema(organization, registered)

    started = time.monotonic()
    answer = await runtime.pipeline.run_sql(organization, registered.name, SLOW_SQL)
    took = time.monotonic() - started
    after = await runtime.pipeline.run_sql(
        organization, registered.name, "SELECT count(*) FROM orders"
    )

    logs = await query_logs(runtime, organization, registered)
    assert (answer.status, answer.message) == ("error", TIMEOUT_MESSAGE)
    assert took < 3 + 2
    assert (after.status, after.rows) == ("ok", [[600]])
    assert [(log["status"], log["error"]) for log in logs] == [
        ("timeout", TIMEOUT_MESSAGE),
        ("ok", None),
    ]


async def test_a_stuck_query_does_not_hold_up_another_on_the_same_connection(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    await runtime.pipeline.refresh_schema(organization, registered)

    async def quick() -> tuple[Any, float]:
        await asyncio.sleep(0.3)  # the slow one is running by now
        started = time.monotonic()
        answer = await runtime.pipeline.run_sql(
            organization, registered.name, "SELECT count(*) FROM customers"
        )
        return answer, time.monotonic() - started

    slow, (fast, took) = await asyncio.gather(
        runtime.pipeline.run_sql(organization, registered.name, SLOW_SQL), quick()
    )

    assert slow.message == TIMEOUT_MESSAGE
    assert (fast.status, fast.rows) == ("ok", [[300]])
    assert took < 1.5


async def test_runs_differing_only_in_a_literal_share_one_metrics_row(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    for customer in (1, 2):
        answer = await runtime.pipeline.run_sql(
            organization, registered.name, f"SELECT name FROM customers WHERE id = {customer}"
        )
        assert answer.rows == [[f"Customer {customer}"]]

    logs = await query_logs(runtime, organization, registered)
    metrics = await rows(
        runtime,
        organization,
        "SELECT pattern, executions, successes, total_rows FROM integration_query_metrics"
        " WHERE connection_id = :c",
        c=registered.id,
    )
    assert [(log["status"], log["row_count"]) for log in logs] == [("ok", 1), ("ok", 1)]
    assert logs[0]["query_hash"] != logs[1]["query_hash"]
    assert logs[0]["pattern_hash"] == logs[1]["pattern_hash"]
    assert len(metrics) == 1
    assert (metrics[0]["executions"], metrics[0]["successes"], metrics[0]["total_rows"]) == (
        2,
        2,
        2,
    )
    assert "id = ?" in metrics[0]["pattern"]


async def test_an_error_of_the_target_comes_back_as_a_plain_message(
    runtime: Runtime, organization: Actor, registered: Registered, shop: Target
) -> None:
    sql, function = LACKING[shop.dialect]

    answer = await runtime.pipeline.run_sql(organization, registered.name, sql)

    logs = await query_logs(runtime, organization, registered)
    assert answer.status == "error"
    assert function in answer.message.lower()
    assert "Traceback" not in answer.message and 'File "' not in answer.message
    assert [(log["status"], log["error_class"]) for log in logs] == [("error", "QueryFailed")]


WRITES = [
    ("delete", "DELETE FROM order_items"),
    ("insert", "INSERT INTO customers (id, name) VALUES (9999, 'Mallory')"),
]


@pytest.mark.parametrize("sql", [w[1] for w in WRITES], ids=[w[0] for w in WRITES])
async def test_a_write_past_the_guard_is_refused_by_the_read_only_session(
    runtime: Runtime, organization: Actor, registered: Registered, shop: Target, sql: str
) -> None:
    before = (shop.count("customers"), shop.count("order_items"))

    with pytest.raises(QueryRefused) as caught:
        await runtime.engine.run(registered, sql, RunContext(organization))

    logs = await query_logs(runtime, organization, registered)
    assert "DANA only reads" in caught.value.message
    assert (shop.count("customers"), shop.count("order_items")) == before
    assert [log["status"] for log in logs] == ["refused"]


# --- credentials -----------------------------------------------------------------------------


def app_role_psql(runtime: Runtime, organization_id: uuid.UUID, sql: str) -> str:
    """What psql prints for `sql`, run as the app's role within one organization."""
    result = subprocess.run(
        [
            "psql",
            runtime.urls.app,
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"SELECT set_config('app.current_org', '{organization_id}', false)",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("shop", ["postgres", "mysql"], indirect=True)
async def test_the_stored_config_does_not_hold_the_password(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    await runtime.registry.test(organization, registered.name)

    stored = app_role_psql(
        runtime,
        organization.organization_id,
        f"SELECT encrypted_config FROM integration_connections WHERE id = '{registered.id}'",
    )
    trail = app_role_psql(
        runtime,
        organization.organization_id,
        "SELECT data::text FROM audit_logs UNION ALL"
        " SELECT coalesce(error, '') FROM integration_connection_tests",
    )
    token = stored.splitlines()[-1]
    assert token.startswith("gAAAA")  # a Fernet token
    assert SECRET not in stored and SECRET not in trail
    assert runtime.vault.decrypt(token)["password"] == SECRET


UNSAFE = [
    (
        "cloud metadata address",
        ConnectionConfig(
            "postgres",
            host="169.254.169.254",
            port=5432,
            database="shop",
            username="ana",
            password=SECRET,
        ),
        "cloud metadata service",
    ),
    (
        "metadata address in shorthand",
        parse_url(f"mysql://root:{SECRET}@0xa9fea9fe/shop"),
        "cloud metadata service",
    ),
    (
        "unknown dialect",
        ConnectionConfig(
            "oracle",
            host="db.example.com",
            port=1521,
            database="orcl",
            username="scott",
            password=SECRET,
        ),
        "unknown database type 'oracle'",
    ),
    (
        "read-only switched off",
        parse_url(
            f"postgresql://ana:{SECRET}@db.example.com/shop"
            "?options=-c%20default_transaction_read_only%3Doff"
        ),
        "changes read-only mode",
    ),
    (
        "mysql local_infile",
        parse_url(f"mysql://root:{SECRET}@db.example.com/shop?local_infile=1"),
        "option local_infile lets the server read files",
    ),
    (
        "sqlite outside the allowed folders",
        ConnectionConfig("sqlite", path="/var/lib/dana-elsewhere/shop.db"),
        "is outside the allowed folders",
    ),
]


@pytest.mark.parametrize(("config", "message"), [u[1:] for u in UNSAFE], ids=[u[0] for u in UNSAFE])
async def test_an_unsafe_connection_is_refused_and_nothing_is_stored(
    runtime: Runtime, organization: Actor, config: ConnectionConfig, message: str
) -> None:
    with pytest.raises(ConfigRefused) as caught:
        await runtime.registry.add(organization, "unsafe", config)

    stored = await runtime.registry.list(organization.organization_id)
    created = await rows(
        runtime, organization, "SELECT 1 FROM audit_logs WHERE action = 'connection.create'"
    )
    assert message in caught.value.message
    assert SECRET not in caught.value.message and "Traceback" not in caught.value.message
    assert (stored, created) == ([], [])


# --- metering --------------------------------------------------------------------------------


@pytest.fixture
async def limited_engine(runtime: Runtime) -> AsyncIterator[Engine]:
    """An engine on the session's app database that allows 2 queries a day."""
    engine = Engine(
        runtime.db,
        timeout_s=3,
        max_rows=100,
        daily_limit=2,
        allowed_sqlite_dirs=runtime.allowed_sqlite_dirs,
    )
    yield engine
    await engine.close()


async def test_the_third_query_past_a_daily_limit_of_two_is_refused_and_recorded_once(
    runtime: Runtime, organization: Actor, registered: Registered, limited_engine: Engine
) -> None:
    run = RunContext(organization)
    for _ in range(2):
        await limited_engine.run(registered, "SELECT count(*) FROM orders", run)

    with pytest.raises(LimitExceeded) as caught:
        await limited_engine.run(registered, "SELECT count(*) FROM orders", run)
    with pytest.raises(LimitExceeded):
        await limited_engine.run(registered, "SELECT count(*) FROM orders", run)

    events = await rows(
        runtime, organization, "SELECT kind, detail FROM security_events WHERE kind LIKE 'limit.%'"
    )
    logs = await query_logs(runtime, organization, registered)
    assert "used its 2 queries for today" in caught.value.message
    assert events == [{"kind": "limit.daily_queries", "detail": {"limit": 2, "used": 2}}]
    assert [log["status"] for log in logs] == ["ok", "ok"]


@pytest.mark.parametrize("shop", ["sqlite"], indirect=True)
async def test_the_day_of_the_limit_starts_at_midnight_utc_whatever_the_time_zone(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    # A server (or role) set to another time zone must not move the reset the message names.
    for offset in ("- interval '1 minute'", "+ interval '1 second'"):
        async with runtime.db.transaction(organization.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO integration_query_logs (organization_id, connection_id, query_hash,"
                " sql, status, created_at) VALUES (:o, :c, 'x', 'SELECT 1', 'ok',"
                f" date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' {offset})",
                {"o": organization.organization_id, "c": registered.id},
            )
    kiribati = Database(runtime.urls.app)
    await kiribati.engine.dispose()
    kiribati.engine = create_async_engine(  # UTC+14: its day never starts at midnight UTC
        with_driver(runtime.urls.app, "asyncpg"),
        connect_args={"server_settings": {"timezone": "Pacific/Kiritimati"}},
    )
    engine = Engine(kiribati, timeout_s=3, max_rows=10, daily_limit=2)

    try:
        usage = await engine.usage_today(organization.organization_id)
    finally:
        await kiribati.close()

    assert usage["queries"] == 1


@pytest.mark.parametrize("shop", ["sqlite"], indirect=True)
async def test_an_organizations_own_daily_limit_refuses_questions_with_a_clear_message(
    runtime: Runtime, organization: Actor, registered: Registered
) -> None:
    async with runtime.db.transaction(organization.organization_id) as connection:
        await execute(
            connection,
            "UPDATE organizations SET settings = settings || CAST(:s AS jsonb) WHERE id = :o",
            {"s": json.dumps({"daily_query_limit": 2}), "o": organization.organization_id},
        )
    for _ in range(2):
        await runtime.pipeline.run_sql(organization, registered.name, "SELECT 1 AS one")

    answer = await runtime.pipeline.run_sql(organization, registered.name, "SELECT 1 AS one")

    events = await rows(
        runtime, organization, "SELECT kind FROM security_events WHERE kind LIKE 'limit.%'"
    )
    assert answer.status == "refused"
    assert "used its 2 queries for today" in answer.message
    assert events == [{"kind": "limit.daily_queries"}]


# --- key rotation ----------------------------------------------------------------------------


@pytest.fixture
def rotation_data_dir() -> Iterator[Path]:
    """A data folder of its own: rotating rewrites its key file, not the session's."""
    path = Path(tempfile.mkdtemp(prefix="dana-rotate-"))
    yield path
    embedded.stop(path)
    shutil.rmtree(path, ignore_errors=True)


async def test_every_connection_still_works_after_the_key_is_rotated(
    rotation_data_dir: Path,
    pg_target: Target,
    mysql_writer: ConnectionConfig,
    sqlite_target: Target,
) -> None:
    settings = Settings(
        data_dir=rotation_data_dir,
        sqlite_allowed_dirs=str(rotation_data_dir.parent),
        query_timeout_s=3,
        _env_file=None,
    )
    configs = {
        "postgres": dataclasses.replace(pg_target.config, password=SECRET),
        "mysql": mysql_writer,
        "sqlite": sqlite_target.config,
    }
    first = Runtime.start(settings)
    try:
        upgrade(first.urls.owner)
        actor = Actor(await accounts.create_organization(first.db, "Rotation", "rotation"))
        for name, config in configs.items():
            await first.registry.add(actor, name, config)
        old_key = (rotation_data_dir / KEY_FILE).read_text().strip()

        count = await rotate_all(first)
        same_process = [
            (await first.registry.get(actor.organization_id, name)).config for name in configs
        ]
    finally:
        await first.close()

    second = Runtime.start(settings)
    try:
        tests, counts = {}, {}
        for name in configs:
            tests[name] = (await second.registry.test(actor, name)).success
            registered = await second.registry.get(actor.organization_id, name)
            result = await second.engine.run(
                registered, "SELECT count(*) FROM customers", RunContext(actor)
            )
            counts[name] = result.rows
    finally:
        await second.close()

    new_keys = (rotation_data_dir / KEY_FILE).read_text().split()
    assert count == 3
    assert len(new_keys) == 1 and old_key not in new_keys
    assert same_process == list(configs.values())
    assert tests == dict.fromkeys(configs, True)
    assert counts == dict.fromkeys(configs, [(300,)])
