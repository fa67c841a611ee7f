"""First start: migrate, create the demo organization, its admin and its demo database.

Every step checks what exists first, so a second start reuses all of it in seconds.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dana import demo
from dana.db import accounts, embedded
from dana.db.audit import Actor
from dana.db.migrate import upgrade
from dana.errors import NotFound
from dana.integrations.urls import ConnectionConfig
from dana.runtime import DEMO_ADMIN_EMAIL, DEMO_CONNECTION, DEMO_ORG_SLUG, Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SetupReport:
    admin_email: str
    admin_password: str | None  # set only when it was generated now, to be shown once
    password_file: Path | None
    demo_rows: dict[str, int]


async def setup(runtime: Runtime) -> SetupReport:
    # Credentials cannot be stored or read without a key: refuse to start without one.
    runtime.vault.encrypt({})
    upgrade(runtime.urls.owner)
    organization_id = await accounts.find_organization(runtime.db, DEMO_ORG_SLUG)
    if organization_id is None:
        organization_id = await accounts.create_organization(
            runtime.db, "Demo Retail", DEMO_ORG_SLUG, plan="team"
        )
    password, password_file = await _ensure_admin(runtime, organization_id)
    rows: dict[str, int] = {}
    if runtime.urls.embedded is not None:
        rows = await _ensure_demo_connection(runtime, organization_id)
    return SetupReport(DEMO_ADMIN_EMAIL, password, password_file, rows)


async def _ensure_admin(runtime: Runtime, organization_id) -> tuple[str | None, Path | None]:
    configured = runtime.settings.admin_password
    password_file = runtime.settings.data_dir / "admin-password.txt"
    exists = await accounts.user_exists(runtime.db, DEMO_ADMIN_EMAIL)
    if exists and configured is None:
        return None, password_file if password_file.exists() else None
    password = configured.get_secret_value() if configured else accounts.generate_password()
    if exists:
        await accounts.set_password(runtime.db, organization_id, DEMO_ADMIN_EMAIL, password)
    else:
        await accounts.add_user(
            runtime.db, organization_id, DEMO_ADMIN_EMAIL, "admin", password, name="Demo Admin"
        )
    if configured is not None:
        return None, None
    # Kept beside the database (owner-only) so that a lost terminal does not lock you out.
    password_file.parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + "\n")
    os.chmod(password_file, 0o600)
    return password, password_file


async def _ensure_demo_connection(runtime: Runtime, organization_id) -> dict[str, int]:
    server = runtime.urls.embedded
    assert server is not None
    rows = demo.create_demo_database(server.url(embedded.OWNER_ROLE, embedded.DEMO_DATABASE))
    embedded.grant_reader(server, embedded.DEMO_DATABASE)
    actor = Actor(organization_id)
    config = ConnectionConfig(
        dialect="postgres",
        host=server.socket_dir,
        port=5432,
        database=embedded.DEMO_DATABASE,
        username=embedded.READER_ROLE,
    )
    try:
        registered = await runtime.registry.get(organization_id, DEMO_CONNECTION)
    except NotFound:
        await runtime.registry.add(actor, DEMO_CONNECTION, config)
        registered = await runtime.registry.get(organization_id, DEMO_CONNECTION)
    else:
        if registered.config.host != server.socket_dir:
            # The data folder moved (a new clone): point the demo at the socket in use.
            await runtime.registry.update_config(actor, DEMO_CONNECTION, config)
            registered = await runtime.registry.get(organization_id, DEMO_CONNECTION)
    if registered.server_version is None:
        await runtime.registry.test(actor, DEMO_CONNECTION)
        registered = await runtime.registry.get(organization_id, DEMO_CONNECTION)
    if await runtime.registry.cached_schema(organization_id, registered.id) is None:
        await runtime.pipeline.refresh_schema(actor, registered)
    if not await runtime.registry.glossary(organization_id, registered.id):
        for term, sql, definition in demo.DEMO_GLOSSARY:
            await runtime.pipeline.define_term(actor, DEMO_CONNECTION, term, sql, definition)
    return rows
