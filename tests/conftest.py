"""Shared fixtures: DANA's own embedded database, set up once per test session."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dana.config import Settings
from dana.db import accounts, embedded
from dana.db.audit import Actor
from dana.runtime import Runtime

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # Not under tmp_path_factory: each pytest session resets that root to 0700, and the
    # embedded server, run as its own system user, then could not reach its data.
    path = Path(tempfile.mkdtemp(prefix="dana-test-"))
    yield path
    embedded.stop(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        admin_password=ADMIN_PASSWORD,
        sqlite_allowed_dirs=str(data_dir.parent),
        query_timeout_s=3,
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> Runtime:
    """The demo set-up, as `make run` does it, in a private data folder."""
    from dana.setup import setup

    runtime = Runtime.start(settings)
    await setup(runtime)
    yield runtime
    await runtime.close()


@pytest.fixture
async def organization(runtime: Runtime) -> Actor:
    """A fresh organization with an admin, so tests do not see each other's rows."""
    slug = f"org-{uuid.uuid4().hex[:8]}"
    organization_id = await accounts.create_organization(runtime.db, slug, slug)
    user_id = await accounts.add_user(
        runtime.db, organization_id, f"{slug}@example.com", "admin", "pw-" + slug
    )
    return Actor(organization_id, user_id)


@pytest.fixture(scope="session")
async def demo_actor(runtime: Runtime) -> Actor:
    organization_id = await accounts.require_organization(runtime.db, "demo")
    user = await accounts.find_user(runtime.db, "admin@example.com")
    assert user is not None
    return Actor(organization_id, user.id)
