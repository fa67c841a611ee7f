"""Admin commands: role changes and business terms, audited, through the `dana` command."""

from __future__ import annotations

import uuid

from test_cli import dana

from dana.db import accounts
from dana.db.session import fetch_all


async def test_role_change_is_applied_and_audited(runtime, data_dir, demo_actor):
    email = f"role-{uuid.uuid4().hex[:6]}@example.com"
    await accounts.add_user(runtime.db, demo_actor.organization_id, email, "analyst", "pw-x")

    result = dana("users", "set-role", "--email", email, "--role", "reviewer", data_dir=data_dir)

    assert result.returncode == 0, result.stderr
    user = await accounts.find_user(runtime.db, email)
    assert user is not None and user.role == "reviewer"
    async with runtime.db.transaction(demo_actor.organization_id) as connection:
        rows = await fetch_all(
            connection,
            "SELECT data FROM audit_logs WHERE action = 'user.role' AND data ->> 'email' = :e",
            {"e": email},
        )
    assert rows and rows[0]["data"]["role"] == "reviewer"


def test_unknown_user_gets_a_plain_message(runtime, data_dir):
    result = dana(
        "users", "set-role", "--email", "nobody@example.com", "--role", "admin", data_dir=data_dir
    )

    assert result.returncode == 1
    assert "nobody@example.com" in result.stderr
    assert "Traceback" not in result.stderr


async def test_defined_term_is_listed_embedded_and_used(runtime, data_dir, demo_actor):
    term = f"margin{uuid.uuid4().hex[:4]}"

    defined = dana(
        "glossary",
        "define",
        "--term",
        term,
        "--definition",
        "price less cost",
        "--sql",
        "products.price - products.cost",
        data_dir=data_dir,
    )
    listed = dana("glossary", "list", data_dir=data_dir)

    assert defined.returncode == 0, defined.stderr
    assert term in listed.stdout
    async with runtime.db.transaction(demo_actor.organization_id) as connection:
        rows = await fetch_all(
            connection,
            "SELECT content FROM embeddings WHERE kind = 'glossary' AND ref = :t",
            {"t": term},
        )
    assert rows and "price less cost" in rows[0]["content"]


def test_a_term_whose_sql_writes_is_refused(runtime, data_dir):
    result = dana(
        "glossary", "define", "--term", "evil", "--sql", "pg_sleep(10)", data_dir=data_dir
    )

    assert result.returncode == 1
    assert "pg_sleep" in result.stderr


async def test_organization_settings_change_is_applied_and_audited(runtime, data_dir, organization):
    slug = await runtime_slug(runtime, organization)

    result = dana(
        "org", "set", "--org", slug, "--plan", "team", "--daily-query-limit", "5", data_dir=data_dir
    )

    assert result.returncode == 0, result.stderr
    async with runtime.db.transaction(organization.organization_id) as connection:
        [org] = await fetch_all(connection, "SELECT plan, settings FROM organizations")
        audits = await fetch_all(
            connection, "SELECT data FROM audit_logs WHERE action = 'organization.settings'"
        )
    assert org["plan"] == "team" and org["settings"]["daily_query_limit"] == 5
    assert audits and audits[0]["data"]["daily_query_limit"] == 5


async def runtime_slug(runtime, organization) -> str:
    async with runtime.db.transaction(organization.organization_id) as connection:
        [row] = await fetch_all(connection, "SELECT slug FROM organizations")
    return row["slug"]
