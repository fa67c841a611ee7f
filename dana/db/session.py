"""Connections to the app database as the app's role, one organization per transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from dana.db.urls import with_driver


class Database:
    """The app database. Every transaction names its organization (row-level security)."""

    def __init__(self, app_url: str, pool_size: int = 5) -> None:
        self.engine: AsyncEngine = create_async_engine(
            with_driver(app_url, "asyncpg"),
            pool_size=pool_size,
            pool_pre_ping=True,
            # Error messages must not carry bound values (password hashes, keys).
            hide_parameters=True,
        )

    @asynccontextmanager
    async def transaction(
        self, organization_id: UUID | str | None, **lookups: str
    ) -> AsyncIterator[AsyncConnection]:
        """A transaction that sees only `organization_id`'s rows.

        `lookups` set the narrow pre-login settings (`login_email`, `api_key_prefix`,
        `org_slug`) under which exactly the named row is readable.
        """
        async with self.engine.begin() as connection:
            settings = {"app.current_org": str(organization_id or "")}
            settings.update({f"app.{k}": v for k, v in lookups.items()})
            for name, value in settings.items():
                await connection.execute(
                    text("SELECT set_config(:name, :value, true)"), {"name": name, "value": value}
                )
            yield connection

    async def close(self) -> None:
        await self.engine.dispose()


async def fetch_one(
    connection: AsyncConnection, sql: str, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    row = (await connection.execute(text(sql), dict(params or {}))).mappings().first()
    return dict(row) if row is not None else None


async def fetch_all(
    connection: AsyncConnection, sql: str, params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    rows = (await connection.execute(text(sql), dict(params or {}))).mappings().all()
    return [dict(r) for r in rows]


async def execute(
    connection: AsyncConnection, sql: str, params: Mapping[str, Any] | None = None
) -> None:
    await connection.execute(text(sql), dict(params or {}))


def as_json(value: Any) -> str:
    """A value for a `CAST(:x AS jsonb)` parameter."""
    return json.dumps(value, default=str)
