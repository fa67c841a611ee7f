"""The app database on the embedded PostgreSQL: the whole schema, row-level security, cascades.

Tenant tables are read from the catalog (every table with an `organization_id`), so a new
table is checked without a new test; it fails until it gets a row factory below.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from dana.config import Settings
from dana.db import embedded
from dana.db.embedded import OWNER_ROLE
from dana.db.migrate import downgrade, upgrade
from dana.db.urls import DatabaseUrls, resolve

EMBEDDING_DIMENSION = 384

TENANT_TABLES_SQL = """
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'organization_id' ORDER BY table_name
"""
TIMESTAMPED_TABLES_SQL = """
    SELECT table_name FROM information_schema.columns
    WHERE table_schema = 'public' AND column_name = 'updated_at' ORDER BY table_name
"""


# The server --------------------------------------------------------------------------------
# Parameters come from the catalog, so the server starts while tests are collected; it is
# stopped when the session ends, collected tests run or not. Its folder is not under
# tmp_path_factory: every pytest session that starts resets that root to 0700, and the
# server, run as its own system user, then cannot reach its data.

_started: dict[str, DatabaseUrls] = {}


def _app_database(config: pytest.Config) -> DatabaseUrls:
    if "urls" not in _started:
        data_dir = Path(tempfile.mkdtemp(prefix="dana-app-db-"))
        config.add_cleanup(lambda: _stop_server(data_dir, remove=True))
        urls = resolve(Settings(data_dir=data_dir, _env_file=None))
        upgrade(urls.owner)
        _started["urls"] = urls
    return _started["urls"]


def _stop_server(data_dir: Path, remove: bool = False) -> None:
    embedded.stop(data_dir)
    if remove:
        shutil.rmtree(data_dir, ignore_errors=True)


def _catalog(config: pytest.Config, query: str) -> list[str]:
    with psycopg.connect(_app_database(config).owner) as connection:
        return [name for (name,) in connection.execute(query)]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "tenant_table" in metafunc.fixturenames:
        metafunc.parametrize("tenant_table", _catalog(metafunc.config, TENANT_TABLES_SQL))
    if "timestamped_table" in metafunc.fixturenames:
        metafunc.parametrize("timestamped_table", _catalog(metafunc.config, TIMESTAMPED_TABLES_SQL))


@pytest.fixture(scope="session")
def urls(pytestconfig: pytest.Config) -> DatabaseUrls:
    return _app_database(pytestconfig)


@pytest.fixture(scope="session")
def tenant_tables(pytestconfig: pytest.Config) -> list[str]:
    return _catalog(pytestconfig, TENANT_TABLES_SQL)


# Rows ---------------------------------------------------------------------------------------
# One factory per tenant table: the values of a valid row, its parents created in the same
# organization.

Row = dict[str, Any]
Factory = Callable[[psycopg.Connection, UUID], Row]


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


ROWS: dict[str, Factory] = {
    "users": lambda c, org: {"email": f"{_name()}@example.com", "role": "analyst"},
    "api_keys": lambda c, org: {
        "user_id": insert_row(c, org, "users"),
        "name": _name(),
        "prefix": uuid.uuid4().hex[:12],
        "key_hash": "0" * 64,
    },
    "data_sources": lambda c, org: {"name": _name()},
    "integration_connections": lambda c, org: {
        "name": _name(),
        "dialect": "sqlite",
        "encrypted_config": "ciphertext",
    },
    "integration_connection_tests": lambda c, org: {
        "connection_id": insert_row(c, org, "integration_connections"),
        "success": True,
    },
    "integration_database_contexts": lambda c, org: {
        "connection_id": insert_row(c, org, "integration_connections"),
        "schema_version": 1,
        "context": "{}",
        "content_hash": "h",
    },
    "integration_schema_cache": lambda c, org: {
        "connection_id": insert_row(c, org, "integration_connections"),
        "schema": "{}",
        "content_hash": "h",
    },
    "conversations": lambda c, org: {"title": "a conversation"},
    "chat_messages": lambda c, org: {
        "conversation_id": insert_row(c, org, "conversations"),
        "role": "user",
        "content": "how many orders?",
    },
    "message_feedback": lambda c, org: {
        "message_id": insert_row(c, org, "chat_messages"),
        "value": 1,
    },
    "integration_query_logs": lambda c, org: {
        "query_hash": "h",
        "sql": "SELECT 1",
        "status": "ok",
    },
    "integration_query_metrics": lambda c, org: {
        "connection_id": insert_row(c, org, "integration_connections"),
        "pattern_hash": "h",
        "pattern": "SELECT ?",
    },
    "workflows": lambda c, org: {"name": _name()},
    "workflow_executions": lambda c, org: {
        "workflow_id": insert_row(c, org, "workflows"),
        "status": "running",
    },
    "ai_agents": lambda c, org: {"name": _name()},
    "glossary_terms": lambda c, org: {"term": _name()},
    "audit_logs": lambda c, org: {"action": "test.action"},
    "security_events": lambda c, org: {"kind": "test.event", "severity": "low"},
    "llm_calls": lambda c, org: {"provider": "openai", "success": True},
    "embeddings": lambda c, org: {
        "connection_id": insert_row(c, org, "integration_connections"),
        "kind": "table",
        "ref": _name(),
        "content": "orders",
        "content_hash": "h",
        "embedding": "[" + ",".join(["0.1"] * EMBEDDING_DIMENSION) + "]",
    },
}


def row_values(connection: psycopg.Connection, organization_id: UUID, table: str) -> Row:
    return {"organization_id": organization_id, **ROWS[table](connection, organization_id)}


def insert_values(connection: psycopg.Connection, table: str, values: Row) -> UUID:
    statement = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(map(sql.Placeholder, values)),
    )
    row = connection.execute(statement, values).fetchone()
    assert row is not None
    return row[0]


def insert_row(connection: psycopg.Connection, organization_id: UUID, table: str) -> UUID:
    return insert_values(connection, table, row_values(connection, organization_id, table))


# Sessions as the app's role -----------------------------------------------------------------


def set_organization(connection: psycopg.Connection, organization_id: UUID | None) -> None:
    connection.execute(
        "SELECT set_config('app.current_org', %s, true)", (str(organization_id or ""),)
    )


@contextmanager
def as_organization(
    urls: DatabaseUrls, organization_id: UUID | None
) -> Iterator[psycopg.Connection]:
    """One transaction of the app's role for `organization_id`, committed at the end."""
    with psycopg.connect(urls.app) as connection:
        set_organization(connection, organization_id)
        yield connection


def new_organization(urls: DatabaseUrls) -> UUID:
    organization_id = uuid.uuid4()
    with as_organization(urls, organization_id) as connection:
        connection.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, %s, %s)",
            (organization_id, "Test", f"org-{organization_id.hex}"),
        )
    return organization_id


def scalar(connection: psycopg.Connection, query: sql.Composable, *params: Any) -> Any:
    row = connection.execute(query, params).fetchone()
    assert row is not None, "the query returned no row"
    return row[0]


def count_rows(
    connection: psycopg.Connection, table: str, where: str = "true", *params: Any
) -> int:
    query = sql.SQL("SELECT count(*) FROM {} WHERE " + where).format(sql.Identifier(table))
    return scalar(connection, query, *params)


def count_by_table(urls: DatabaseUrls, tables: list[str], organization_id: UUID) -> dict[str, int]:
    """Rows of `organization_id` in each table, counted by the owner (who sees them all)."""
    with psycopg.connect(urls.owner) as connection:
        return {
            table: count_rows(connection, table, "organization_id = %s", organization_id)
            for table in tables
        }


@dataclass(frozen=True)
class TwoOrganizations:
    a: UUID
    b: UUID
    a_row: UUID
    b_row: UUID


@pytest.fixture
def two_organizations(urls: DatabaseUrls, tenant_table: str) -> TwoOrganizations:
    """Organizations A and B, each with a row in `tenant_table`."""
    a, b = new_organization(urls), new_organization(urls)
    with as_organization(urls, a) as connection:
        a_row = insert_row(connection, a, tenant_table)
    with as_organization(urls, b) as connection:
        b_row = insert_row(connection, b, tenant_table)
    return TwoOrganizations(a, b, a_row, b_row)


# Isolation of every tenant table ------------------------------------------------------------


def test_every_tenant_table_has_a_row_factory(tenant_tables: list[str]) -> None:
    missing = sorted(set(tenant_tables) - set(ROWS))

    assert missing == []


def test_organization_reads_only_its_own_rows(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    query = sql.SQL("SELECT id, organization_id FROM {}").format(sql.Identifier(tenant_table))

    with as_organization(urls, two_organizations.a) as connection:
        seen = connection.execute(query).fetchall()

    assert seen == [(two_organizations.a_row, two_organizations.a)]


def test_organization_cannot_insert_a_row_into_another(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    with as_organization(urls, two_organizations.b) as connection:
        values = row_values(connection, two_organizations.b, tenant_table)

    with (
        as_organization(urls, two_organizations.a) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        insert_values(connection, tenant_table, values)


def test_organization_cannot_move_its_row_into_another(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    update = sql.SQL("UPDATE {} SET organization_id = %s WHERE id = %s").format(
        sql.Identifier(tenant_table)
    )

    with (
        as_organization(urls, two_organizations.a) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        connection.execute(update, (two_organizations.b, two_organizations.a_row))


def test_update_of_another_organizations_rows_changes_nothing(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    update = sql.SQL("UPDATE {} SET created_at = '2000-01-01' WHERE organization_id = %s").format(
        sql.Identifier(tenant_table)
    )

    with as_organization(urls, two_organizations.a) as connection:
        updated = connection.execute(update, (two_organizations.b,)).rowcount
    with as_organization(urls, two_organizations.b) as connection:
        untouched = count_rows(connection, tenant_table, "created_at > '2000-01-01'")

    assert (updated, untouched) == (0, 1)


def test_delete_of_another_organizations_rows_removes_nothing(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    delete = sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(tenant_table))

    with as_organization(urls, two_organizations.a) as connection:
        deleted = connection.execute(delete, (two_organizations.b_row,)).rowcount
    with as_organization(urls, two_organizations.b) as connection:
        kept = count_rows(connection, tenant_table, "id = %s", two_organizations.b_row)

    assert (deleted, kept) == (0, 1)


def test_no_row_is_visible_without_an_organization(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    with psycopg.connect(urls.app) as connection:
        never_set = count_rows(connection, tenant_table)
        set_organization(connection, None)
        set_empty = count_rows(connection, tenant_table)

    assert (never_set, set_empty) == (0, 0)


def test_insert_without_an_organization_is_refused(
    urls: DatabaseUrls, two_organizations: TwoOrganizations, tenant_table: str
) -> None:
    with as_organization(urls, two_organizations.a) as connection:
        values = row_values(connection, two_organizations.a, tenant_table)

    with (
        as_organization(urls, None) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        insert_values(connection, tenant_table, values)


def test_row_level_security_is_enabled_and_forced(urls: DatabaseUrls, tenant_table: str) -> None:
    with psycopg.connect(urls.owner) as connection:
        flags = connection.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = to_regclass(%s)",
            (f"public.{tenant_table}",),
        ).fetchone()

    assert flags == (True, True)


def test_tenant_table_has_a_policy_on_the_current_organization(
    urls: DatabaseUrls, tenant_table: str
) -> None:
    with psycopg.connect(urls.owner) as connection:
        policies = connection.execute(
            "SELECT policyname FROM pg_policies WHERE schemaname = 'public' AND tablename = %s"
            " AND cmd = 'ALL' AND qual LIKE '%%app.current_org%%'"
            " AND with_check LIKE '%%app.current_org%%'",
            (tenant_table,),
        ).fetchall()

    assert policies == [("organization_isolation",)]


# Organizations and their lookups ------------------------------------------------------------


def test_organization_sees_only_itself_among_organizations(urls: DatabaseUrls) -> None:
    a = new_organization(urls)
    new_organization(urls)

    with as_organization(urls, a) as connection:
        seen = connection.execute("SELECT id FROM organizations").fetchall()

    assert seen == [(a,)]


def test_organization_cannot_create_another_organization(urls: DatabaseUrls) -> None:
    a = new_organization(urls)

    with (
        as_organization(urls, a) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"),
    ):
        connection.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Other', %s)",
            (uuid.uuid4(), _name()),
        )


def test_slug_lookup_shows_only_the_named_organization(urls: DatabaseUrls) -> None:
    a = new_organization(urls)
    new_organization(urls)

    with as_organization(urls, None) as connection:
        connection.execute("SELECT set_config('app.org_slug', %s, true)", (f"org-{a.hex}",))
        seen = connection.execute("SELECT id FROM organizations").fetchall()

    assert seen == [(a,)]


def test_conversation_lookup_shows_only_the_named_conversation(urls: DatabaseUrls) -> None:
    organization_id = new_organization(urls)
    with as_organization(urls, organization_id) as connection:
        named = insert_row(connection, organization_id, "conversations")
        insert_row(connection, organization_id, "conversations")

    with as_organization(urls, None) as connection:
        connection.execute("SELECT set_config('app.conversation_id', %s, true)", (str(named),))
        seen = connection.execute("SELECT id FROM conversations").fetchall()
        messages = count_rows(connection, "chat_messages")

    assert (seen, messages) == ([(named,)], 0)


def test_conversation_lookup_is_read_only(urls: DatabaseUrls) -> None:
    organization_id = new_organization(urls)
    with as_organization(urls, organization_id) as connection:
        named = insert_row(connection, organization_id, "conversations")

    with as_organization(urls, None) as connection:
        connection.execute("SELECT set_config('app.conversation_id', %s, true)", (str(named),))
        updated = connection.execute(
            "UPDATE conversations SET title = 'changed' WHERE id = %s", (named,)
        ).rowcount
        deleted = connection.execute("DELETE FROM conversations WHERE id = %s", (named,)).rowcount

    assert (updated, deleted) == (0, 0)


# Timestamps and cascades --------------------------------------------------------------------


def test_update_moves_updated_at(urls: DatabaseUrls, timestamped_table: str) -> None:
    organization_id = new_organization(urls)
    with as_organization(urls, organization_id) as connection:
        if timestamped_table == "organizations":
            row_id = organization_id
        else:
            row_id = insert_row(connection, organization_id, timestamped_table)
    select = sql.SQL("SELECT updated_at FROM {} WHERE id = %s").format(
        sql.Identifier(timestamped_table)
    )
    update = sql.SQL("UPDATE {} SET updated_at = '2000-01-01' WHERE id = %s").format(
        sql.Identifier(timestamped_table)
    )
    with as_organization(urls, organization_id) as connection:
        before = scalar(connection, select, row_id)

    with as_organization(urls, organization_id) as connection:
        connection.execute(update, (row_id,))
    with as_organization(urls, organization_id) as connection:
        after = scalar(connection, select, row_id)

    assert after > before


def test_deleting_an_organization_removes_its_rows_in_every_tenant_table(
    urls: DatabaseUrls, tenant_tables: list[str]
) -> None:
    organization_id = new_organization(urls)
    with as_organization(urls, organization_id) as connection:
        for table in tenant_tables:
            insert_row(connection, organization_id, table)

    with as_organization(urls, organization_id) as connection:
        connection.execute("DELETE FROM organizations WHERE id = %s", (organization_id,))

    left = count_by_table(urls, tenant_tables, organization_id)
    assert {table: count for table, count in left.items() if count} == {}


def test_deleting_an_organization_keeps_the_rows_of_others(
    urls: DatabaseUrls, tenant_tables: list[str]
) -> None:
    doomed, other = new_organization(urls), new_organization(urls)
    for organization_id in (doomed, other):
        with as_organization(urls, organization_id) as connection:
            for table in tenant_tables:
                insert_row(connection, organization_id, table)
    before = count_by_table(urls, tenant_tables, other)

    with as_organization(urls, doomed) as connection:
        connection.execute("DELETE FROM organizations WHERE id = %s", (doomed,))

    assert count_by_table(urls, tenant_tables, other) == before


# Roles, privileges and indexes --------------------------------------------------------------


def test_app_role_is_not_a_superuser_and_bypasses_nothing(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.app) as connection:
        flags = connection.execute(
            "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
            " WHERE rolname = current_user"
        ).fetchone()

    assert flags == (False, False, False, False)


def test_app_role_owns_no_table(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.app) as connection:
        owned = connection.execute(
            "SELECT tablename FROM pg_tables WHERE tableowner = current_user"
        ).fetchall()

    assert owned == []


def test_owner_owns_every_table_of_the_schema(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.owner) as connection:
        owners = connection.execute(
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()

    assert owners == [(OWNER_ROLE,)]


def test_app_role_cannot_change_the_migration_history(urls: DatabaseUrls) -> None:
    with (
        psycopg.connect(urls.app) as connection,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        connection.execute("UPDATE alembic_version SET version_num = version_num")


def test_embeddings_are_vectors_of_the_model_dimension(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.owner) as connection:
        column_type = connection.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'embeddings'::regclass AND attname = 'embedding'"
        ).fetchone()

    assert column_type == (f"vector({EMBEDDING_DIMENSION})",)


def test_embeddings_have_an_hnsw_cosine_index(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.owner) as connection:
        definitions = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename = 'embeddings'"
        ).fetchall()

    assert any("USING hnsw (embedding vector_cosine_ops)" in d for (d,) in definitions)


# Migrations ---------------------------------------------------------------------------------


@pytest.fixture
def empty_database(urls: DatabaseUrls) -> Iterator[str]:
    """A fresh database on the same server, owned by the owner; its URL as the owner."""
    assert urls.embedded is not None
    name = f"dana_migrations_{uuid.uuid4().hex[:8]}"
    create = sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(name), sql.Identifier(OWNER_ROLE)
    )
    with psycopg.connect(urls.embedded.superuser_url, autocommit=True) as connection:
        connection.execute(create)
    # As the embedded bootstrap does: the extension needs a superuser.
    with psycopg.connect(urls.embedded.url("postgres", name), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION vector")
    yield urls.embedded.url(OWNER_ROLE, name)
    with psycopg.connect(urls.embedded.superuser_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def schema_objects(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as connection:
        return {
            kind: [name for (name,) in connection.execute(query)]
            for kind, query in {
                "tables": "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
                "policies": "SELECT tablename || '.' || policyname FROM pg_policies ORDER BY 1",
                "functions": "SELECT proname FROM pg_proc"
                " WHERE pronamespace = 'public'::regnamespace AND proname LIKE 'dana%%'",
                "versions": "SELECT version_num FROM alembic_version",
            }.items()
        }


def test_migrations_go_up_from_empty_down_to_base_and_up_again(
    urls: DatabaseUrls, empty_database: str
) -> None:
    upgrade(empty_database)
    first = schema_objects(empty_database)
    downgrade(empty_database)
    emptied = schema_objects(empty_database)
    upgrade(empty_database)
    again = schema_objects(empty_database)

    assert emptied == {
        "tables": ["alembic_version"],
        "policies": [],
        "functions": [],
        "versions": [],
    }
    assert again == first == schema_objects(urls.owner)


def test_no_row_can_point_at_another_organizations_row(urls: DatabaseUrls) -> None:
    with psycopg.connect(urls.owner) as connection:
        references = connection.execute(
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text"
            " FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid"
            " AND a.attnum = c.conkey[array_length(c.conkey, 1)]"
            " WHERE c.contype = 'f' AND c.confrelid <> 'organizations'::regclass"
            " AND c.connamespace = 'public'::regnamespace"
        ).fetchall()
    a, b = new_organization(urls), new_organization(urls)
    crossed = []

    for table, column, parent in references:
        with as_organization(urls, b) as connection:
            foreign_parent = insert_row(connection, b, parent)
        with psycopg.connect(urls.app) as connection:
            set_organization(connection, a)
            values = {**row_values(connection, a, table), column: foreign_parent}
            try:
                insert_values(connection, table, values)
            except psycopg.errors.ForeignKeyViolation:
                continue
            crossed.append(f"{table}.{column} -> {parent}")

    assert references, "the catalog lists no foreign keys between tenant tables"
    assert crossed == []
