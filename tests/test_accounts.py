"""Organizations, users and API keys on the embedded app database, and the CLI for them."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from dana.config import Settings
from dana.db import accounts, embedded
from dana.db.migrate import upgrade
from dana.db.session import Database, execute, fetch_all
from dana.db.urls import DatabaseUrls, resolve
from dana.errors import DanaError, NotFound

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


# The database --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def accounts_data_dir() -> Iterator[Path]:
    # Not under tmp_path_factory: every pytest session that starts resets its root folder
    # to 0700, and the embedded server, run as its own system user, then cannot reach it.
    data_dir = Path(tempfile.mkdtemp(prefix="dana-accounts-"))
    yield data_dir
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def app_urls(accounts_data_dir: Path) -> Iterator[DatabaseUrls]:
    urls = resolve(Settings(data_dir=accounts_data_dir, _env_file=None))
    upgrade(urls.owner)
    yield urls
    embedded.stop(accounts_data_dir)


@pytest.fixture(scope="session")
async def db(app_urls: DatabaseUrls) -> AsyncIterator[Database]:
    database = Database(app_urls.app)
    yield database
    await database.close()


@pytest.fixture
def slug() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def organization_id(db: Database, slug: str) -> UUID:
    return await accounts.create_organization(db, "Test", slug)


@pytest.fixture
async def user(db: Database, organization_id: UUID) -> accounts.User:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    user_id = await accounts.add_user(db, organization_id, email, "analyst", PASSWORD)
    return await accounts.get_user(db, organization_id, user_id)


async def rows(
    db: Database, organization_id: UUID | None, sql: str, **lookups: str
) -> list[dict[str, Any]]:
    async with db.transaction(organization_id, **lookups) as connection:
        return await fetch_all(connection, sql)


# Organizations and users ---------------------------------------------------------------------


async def test_created_organization_is_found_by_its_slug(db: Database, slug: str) -> None:
    organization_id = await accounts.create_organization(db, "Acme", slug)

    found = await accounts.find_organization(db, slug)

    assert found == organization_id


async def test_creating_an_organization_is_audited(db: Database, slug: str) -> None:
    organization_id = await accounts.create_organization(db, "Acme", slug)

    audited = await rows(db, organization_id, "SELECT action, resource_id, data FROM audit_logs")

    assert audited == [
        {
            "action": "organization.create",
            "resource_id": str(organization_id),
            "data": {"slug": slug},
        }
    ]


async def test_duplicate_slug_is_refused_with_a_clear_error(
    db: Database, organization_id: UUID, slug: str
) -> None:
    with pytest.raises(DanaError, match=f"an organization with the slug '{slug}' already exists"):
        await accounts.create_organization(db, "Again", slug)


async def test_unknown_slug_is_not_found(db: Database) -> None:
    with pytest.raises(NotFound, match="there is no organization with the slug 'no-such-org'"):
        await accounts.require_organization(db, "no-such-org")


async def test_added_user_belongs_to_its_organization(
    db: Database, organization_id: UUID, slug: str
) -> None:
    user_id = await accounts.add_user(db, organization_id, "ada@example.com", "reviewer", PASSWORD)

    user = await accounts.get_user(db, organization_id, user_id)

    assert (user.email, user.name, user.role, user.organization_slug) == (
        "ada@example.com",
        "ada",
        "reviewer",
        slug,
    )


async def test_adding_a_user_is_audited(db: Database, organization_id: UUID) -> None:
    user_id = await accounts.add_user(db, organization_id, "bob@example.com", "admin", PASSWORD)

    audited = await rows(
        db,
        organization_id,
        "SELECT resource_id, data FROM audit_logs WHERE action = 'user.create'",
    )

    assert audited == [
        {"resource_id": str(user_id), "data": {"email": "bob@example.com", "role": "admin"}}
    ]


async def test_unknown_role_is_refused_naming_the_roles(
    db: Database, organization_id: UUID
) -> None:
    with pytest.raises(
        DanaError, match="unknown role 'owner'; the roles are admin, analyst, reviewer"
    ):
        await accounts.add_user(db, organization_id, "eve@example.com", "owner", PASSWORD)


async def test_duplicate_email_is_refused_with_a_clear_error(
    db: Database, user: accounts.User, slug: str
) -> None:
    other = await accounts.create_organization(db, "Other", f"{slug}-other")

    with pytest.raises(DanaError, match=f"a user with the email {user.email.upper()} already"):
        await accounts.add_user(db, other, user.email.upper(), "analyst", PASSWORD)


async def test_users_are_listed_by_email(db: Database, organization_id: UUID) -> None:
    for email in ("zoe@example.com", "adam@example.com"):
        await accounts.add_user(db, organization_id, email, "analyst")

    listed = await accounts.list_users(db, organization_id)

    assert [u["email"] for u in listed] == ["adam@example.com", "zoe@example.com"]


# Signing in ----------------------------------------------------------------------------------


async def test_right_password_signs_the_user_in(db: Database, user: accounts.User) -> None:
    signed_in = await accounts.authenticate(db, user.email.upper(), PASSWORD)

    assert signed_in == user


async def test_signing_in_is_audited_and_stamps_the_last_login(
    db: Database, user: accounts.User
) -> None:
    await accounts.authenticate(db, user.email, PASSWORD, ip="203.0.113.7")

    audited = await rows(
        db,
        user.organization_id,
        "SELECT user_id, resource_id, ip FROM audit_logs WHERE action = 'user.login'",
    )
    stamped = await rows(db, user.organization_id, "SELECT last_login_at FROM users")
    assert audited == [{"user_id": user.id, "resource_id": str(user.id), "ip": "203.0.113.7"}]
    assert stamped[0]["last_login_at"] is not None


async def test_wrong_password_returns_none_and_records_a_failed_login(
    db: Database, user: accounts.User
) -> None:
    signed_in = await accounts.authenticate(db, user.email, "wrong", ip="203.0.113.9")

    events = await rows(
        db, user.organization_id, "SELECT kind, severity, user_id, ip FROM security_events"
    )
    logins = await rows(
        db, user.organization_id, "SELECT 1 FROM audit_logs WHERE action = 'user.login'"
    )
    assert signed_in is None
    assert events == [
        {"kind": "login.failed", "severity": "medium", "user_id": user.id, "ip": "203.0.113.9"}
    ]
    assert logins == []


async def test_unknown_email_returns_none(db: Database) -> None:
    signed_in = await accounts.authenticate(db, "nobody@example.com", PASSWORD)

    assert signed_in is None


async def test_user_without_a_password_cannot_sign_in(db: Database, organization_id: UUID) -> None:
    await accounts.add_user(db, organization_id, "nopw@example.com", "analyst")

    signed_in = await accounts.authenticate(db, "nopw@example.com", "")

    assert signed_in is None


async def test_deactivated_user_cannot_sign_in(db: Database, user: accounts.User) -> None:
    await deactivate(db, user)

    signed_in = await accounts.authenticate(db, user.email, PASSWORD)

    assert signed_in is None


async def test_new_password_replaces_the_old_one(db: Database, user: accounts.User) -> None:
    await accounts.set_password(db, user.organization_id, user.email, "a new password")

    old = await accounts.authenticate(db, user.email, PASSWORD)
    new = await accounts.authenticate(db, user.email, "a new password")

    assert (old, new) == (None, user)


async def test_login_lookup_shows_only_the_named_user(
    db: Database, user: accounts.User, slug: str
) -> None:
    await accounts.add_user(db, user.organization_id, f"neighbour-{slug}@example.com", "admin")

    seen = await rows(db, None, "SELECT email FROM users", login_email=user.email.upper())
    keys = await rows(db, None, "SELECT id FROM api_keys", login_email=user.email)

    assert (seen, keys) == ([{"email": user.email}], [])


async def test_login_lookup_is_read_only(db: Database, user: accounts.User) -> None:
    async with db.transaction(None, login_email=user.email) as connection:
        await execute(connection, "UPDATE users SET role = 'admin'")
        await execute(connection, "DELETE FROM users")

    kept = await accounts.get_user(db, user.organization_id, user.id)

    assert kept.role == "analyst"


async def deactivate(db: Database, user: accounts.User) -> None:
    async with db.transaction(user.organization_id) as connection:
        await execute(
            connection, "UPDATE users SET is_active = false WHERE id = :id", {"id": user.id}
        )


# API keys ------------------------------------------------------------------------------------


async def test_created_key_finds_its_user(db: Database, user: accounts.User) -> None:
    key = await accounts.create_api_key(db, user, "ci")

    found = await accounts.user_for_api_key(db, key)

    assert key.startswith(accounts.KEY_PREFIX)
    assert found == user


async def test_only_a_hash_of_the_key_is_stored(db: Database, user: accounts.User) -> None:
    key = await accounts.create_api_key(db, user, "ci")

    stored = await rows(db, user.organization_id, "SELECT * FROM api_keys")

    assert len(stored) == 1
    assert not any(key in str(value) for value in stored[0].values())


async def test_creating_a_key_is_audited(db: Database, user: accounts.User) -> None:
    await accounts.create_api_key(db, user, "ci")

    audited = await rows(
        db,
        user.organization_id,
        "SELECT user_id, resource_id FROM audit_logs WHERE action = 'api_key.create'",
    )

    assert audited == [{"user_id": user.id, "resource_id": "ci"}]


async def test_using_a_key_stamps_its_last_use(db: Database, user: accounts.User) -> None:
    key = await accounts.create_api_key(db, user, "ci")

    await accounts.user_for_api_key(db, key)

    used = await rows(db, user.organization_id, "SELECT last_used_at FROM api_keys")
    assert used[0]["last_used_at"] is not None


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"), id="wrong secret"),
        pytest.param(lambda key: key.replace("dana_", "anad_", 1), id="wrong prefix"),
        pytest.param(lambda key: "dana_000000000000_" + key.rsplit("_", 1)[-1], id="unknown id"),
        pytest.param(lambda key: "not a key", id="not a key"),
        pytest.param(lambda key: "", id="empty"),
    ],
)
async def test_wrong_key_finds_no_user(db: Database, user: accounts.User, tamper: Any) -> None:
    key = await accounts.create_api_key(db, user, "ci")

    found = await accounts.user_for_api_key(db, tamper(key))

    assert found is None


async def test_revoked_key_finds_no_user(db: Database, user: accounts.User) -> None:
    key = await accounts.create_api_key(db, user, "ci")
    await accounts.revoke_api_key(db, user.organization_id, "ci")

    found = await accounts.user_for_api_key(db, key)

    assert found is None


async def test_revoking_a_key_is_audited(db: Database, user: accounts.User) -> None:
    await accounts.create_api_key(db, user, "ci")

    await accounts.revoke_api_key(db, user.organization_id, "ci")

    audited = await rows(
        db,
        user.organization_id,
        "SELECT resource_id FROM audit_logs WHERE action = 'api_key.revoke'",
    )
    assert audited == [{"resource_id": "ci"}]


async def test_revoking_an_unknown_key_is_not_found(db: Database, organization_id: UUID) -> None:
    with pytest.raises(NotFound, match="there is no active API key named 'nope'"):
        await accounts.revoke_api_key(db, organization_id, "nope")


async def test_expired_key_finds_no_user(db: Database, user: accounts.User) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    key = await accounts.create_api_key(db, user, "ci", expires_at=yesterday)

    found = await accounts.user_for_api_key(db, key)

    assert found is None


async def test_key_finds_its_user_until_it_expires(db: Database, user: accounts.User) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    key = await accounts.create_api_key(db, user, "ci", expires_at=tomorrow)

    found = await accounts.user_for_api_key(db, key)

    assert found == user


async def test_key_of_a_deactivated_user_finds_no_user(db: Database, user: accounts.User) -> None:
    key = await accounts.create_api_key(db, user, "ci")
    await deactivate(db, user)

    found = await accounts.user_for_api_key(db, key)

    assert found is None


async def test_duplicate_key_name_is_refused_with_a_clear_error(
    db: Database, user: accounts.User
) -> None:
    await accounts.create_api_key(db, user, "ci")

    with pytest.raises(DanaError, match="an API key named 'ci' already exists"):
        await accounts.create_api_key(db, user, "ci")


async def test_key_lookup_shows_only_that_key(db: Database, user: accounts.User) -> None:
    named = await accounts.create_api_key(db, user, "named")
    await accounts.create_api_key(db, user, "other")
    prefix = named.split("_")[1]

    seen = await rows(db, None, "SELECT prefix FROM api_keys", api_key_prefix=prefix)
    users = await rows(db, None, "SELECT id FROM users", api_key_prefix=prefix)

    assert (seen, users) == ([{"prefix": prefix}], [])


async def test_deleting_an_organization_removes_its_users_and_keys(
    db: Database, user: accounts.User
) -> None:
    key = await accounts.create_api_key(db, user, "ci")

    await accounts.delete_organization(db, user.organization_id)

    found = (await accounts.find_user(db, user.email), await accounts.user_for_api_key(db, key))
    assert found == (None, None)


# The CLI -------------------------------------------------------------------------------------


def dana(data_dir: Path, command: str) -> subprocess.CompletedProcess[str]:
    """`dana COMMAND` in a fresh process, on the database in `data_dir`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DANA_")}
    env |= {"DANA_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "dana.cli", *shlex.split(command)],
        env=env,
        cwd=data_dir,  # away from any .env of the checkout
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def cli_data_dir(app_urls: DatabaseUrls, accounts_data_dir: Path) -> Path:
    """The data folder of the test database, its server running and migrated."""
    return accounts_data_dir


def output_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    if result.returncode != 0:
        pytest.fail(f"dana exited with {result.returncode}:\n{result.stderr}")
    return result.stdout.splitlines()


async def test_cli_adds_a_user_who_signs_in_with_the_printed_password(
    db: Database, cli_data_dir: Path, organization_id: UUID, slug: str
) -> None:
    email = f"cli-{slug}@example.com"

    lines = output_of(dana(cli_data_dir, f"users add --email {email} --role reviewer --org {slug}"))

    password = lines[-1].removeprefix("password: ")
    signed_in = await accounts.authenticate(db, email, password)
    assert lines[0] == f"added {email} (reviewer)"
    assert signed_in is not None and signed_in.role == "reviewer"


async def test_cli_lists_the_users_of_an_organization(
    db: Database, cli_data_dir: Path, user: accounts.User, slug: str
) -> None:
    lines = output_of(dana(cli_data_dir, f"users list --org {slug}"))

    assert lines[0].split() == ["email", "name", "role", "last", "login"]
    assert [line.split()[:3] for line in lines[2:]] == [[user.email, user.name, "analyst"]]


async def test_cli_creates_a_key_printed_on_its_last_line(
    db: Database, cli_data_dir: Path, user: accounts.User
) -> None:
    lines = output_of(dana(cli_data_dir, f"keys create --user {user.email} --name cli"))

    found = await accounts.user_for_api_key(db, lines[-1])
    assert found == user


async def test_cli_revokes_a_key(
    db: Database, cli_data_dir: Path, user: accounts.User, slug: str
) -> None:
    key = await accounts.create_api_key(db, user, "cli")

    lines = output_of(dana(cli_data_dir, f"keys revoke cli --org {slug}"))

    found = await accounts.user_for_api_key(db, key)
    assert (lines, found) == (["revoked cli"], None)


async def test_cli_refuses_an_unknown_organization(cli_data_dir: Path) -> None:
    result = dana(cli_data_dir, "users add --email x@example.com --role analyst --org no-such-org")

    assert result.returncode == 1
    assert result.stderr == "error: there is no organization with the slug 'no-such-org'\n"


async def test_cli_refuses_a_duplicate_user_without_a_traceback(
    cli_data_dir: Path, user: accounts.User, slug: str
) -> None:
    result = dana(cli_data_dir, f"users add --email {user.email} --role analyst --org {slug}")

    assert result.returncode == 1
    assert result.stderr == f"error: a user with the email {user.email} already exists\n"
