"""Registered connections of an organization: stored encrypted, tested, introspected."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from dana.db.audit import Actor, audit
from dana.db.session import Database, as_json, execute, fetch_all, fetch_one
from dana.errors import DanaError, NotFound
from dana.integrations.connectors import make_connector
from dana.integrations.secrets import Vault
from dana.integrations.urls import ConnectionConfig, validate_config
from dana.retrieval.glossary import Term
from dana.schema import Schema

log = logging.getLogger(__name__)

SCHEMA_CACHE_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class Registered:
    id: UUID
    organization_id: UUID
    name: str
    dialect: str
    config: ConnectionConfig
    server_version: str | None = None


class Registry:
    def __init__(self, db: Database, vault: Vault, allowed_sqlite_dirs: list[str]) -> None:
        self.db = db
        self.vault = vault
        self.allowed_sqlite_dirs = allowed_sqlite_dirs
        self._schemas: dict[UUID, tuple[str, Schema]] = {}

    async def add(self, actor: Actor, name: str, config: ConnectionConfig) -> UUID:
        # Stored as validated: a SQLite path resolved, so it names the same file from any folder.
        config = validate_config(config, self.allowed_sqlite_dirs)
        async with self.db.transaction(actor.organization_id) as connection:
            existing = await fetch_one(
                connection, "SELECT 1 FROM integration_connections WHERE name = :n", {"n": name}
            )
            if existing:
                raise DanaError(f"a connection named {name!r} already exists")
            row = await fetch_one(
                connection,
                "INSERT INTO integration_connections (organization_id, name, dialect,"
                " encrypted_config, created_by) VALUES (:org, :name, :dialect, :config, :by)"
                " RETURNING id",
                {
                    "org": actor.organization_id,
                    "name": name,
                    "dialect": config.dialect,
                    "config": self.vault.encrypt(config_to_dict(config)),
                    "by": actor.user_id,
                },
            )
            assert row is not None
            await audit(
                connection,
                actor,
                "connection.create",
                "connection",
                str(row["id"]),
                {"name": name, "dialect": config.dialect},
            )
        return row["id"]

    async def get(self, organization_id: UUID, name: str) -> Registered:
        return await self._find(
            organization_id, "name = :key", name, f"there is no connection named {name!r}"
        )

    async def get_by_id(self, organization_id: UUID, connection_id: UUID) -> Registered:
        return await self._find(
            organization_id,
            "id = :key",
            connection_id,
            "that connection does not exist in this organization",
        )

    async def _find(self, organization_id: UUID, where: str, key: Any, missing: str) -> Registered:
        async with self.db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT id, organization_id, name, dialect, encrypted_config, server_version"
                f" FROM integration_connections WHERE {where}",
                {"key": key},
            )
        if row is None:
            raise NotFound(missing)
        return self._registered(row)

    def _registered(self, row: dict[str, Any]) -> Registered:
        config = config_from_dict(self.vault.decrypt(row["encrypted_config"]))
        return Registered(
            row["id"],
            row["organization_id"],
            row["name"],
            row["dialect"],
            config,
            row["server_version"],
        )

    async def list(self, organization_id: UUID) -> list[dict[str, Any]]:
        async with self.db.transaction(organization_id) as connection:
            return await fetch_all(
                connection,
                "SELECT c.name, c.dialect, c.status, c.server_version, c.last_tested_at,"
                " s.table_count, s.refreshed_at FROM integration_connections c"
                " LEFT JOIN integration_schema_cache s ON s.connection_id = c.id ORDER BY c.name",
            )

    async def remove(self, actor: Actor, name: str) -> None:
        registered = await self.get(actor.organization_id, name)
        async with self.db.transaction(actor.organization_id) as connection:
            await execute(
                connection,
                "DELETE FROM integration_connections WHERE id = :id",
                {"id": registered.id},
            )
            await audit(
                connection,
                actor,
                "connection.delete",
                "connection",
                str(registered.id),
                {"name": name},
            )

    async def update_config(self, actor: Actor, name: str, config: ConnectionConfig) -> None:
        config = validate_config(config, self.allowed_sqlite_dirs)
        registered = await self.get(actor.organization_id, name)
        async with self.db.transaction(actor.organization_id) as connection:
            await execute(
                connection,
                "UPDATE integration_connections SET encrypted_config = :c, dialect = :d"
                " WHERE id = :id",
                {
                    "c": self.vault.encrypt(config_to_dict(config)),
                    "d": config.dialect,
                    "id": registered.id,
                },
            )
            await audit(
                connection,
                actor,
                "connection.update",
                "connection",
                str(registered.id),
                {"name": name},
            )

    async def test(self, actor: Actor, name: str) -> Any:
        registered = await self.get(actor.organization_id, name)
        connector = make_connector(registered.config, self.allowed_sqlite_dirs)
        try:
            result = await connector.test()
        finally:
            await connector.close()
        async with self.db.transaction(actor.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO integration_connection_tests (organization_id, connection_id,"
                " success, response_ms, server_version, can_write, error, error_field,"
                " tested_by) VALUES (:org, :c, :ok, :ms, :v, :w, :e, :f, :by)",
                {
                    "org": actor.organization_id,
                    "c": registered.id,
                    "ok": result.success,
                    "ms": result.response_ms,
                    "v": result.server_version,
                    "w": result.can_write,
                    "e": result.error,
                    "f": result.error_field,
                    "by": actor.user_id,
                },
            )
            await execute(
                connection,
                "UPDATE integration_connections SET status = :s, last_tested_at = now(),"
                " server_version = COALESCE(:v, server_version),"
                " capabilities = CAST(:caps AS jsonb) WHERE id = :id",
                {
                    "s": "ok" if result.success else "failing",
                    "v": result.server_version,
                    "caps": as_json({"can_write": result.can_write}),
                    "id": registered.id,
                },
            )
            await audit(
                connection,
                actor,
                "connection.test",
                "connection",
                str(registered.id),
                {"name": name, "success": result.success},
            )
        return result

    async def store_schema(self, actor: Actor, registered: Registered, schema: Schema) -> bool:
        """Cache `schema`; True when it differs from what was cached before."""
        data = schema.to_json()
        content_hash = hashlib.sha256(
            json.dumps(data, sort_keys=True, default=str).encode()
        ).hexdigest()
        expires = datetime.now(UTC) + SCHEMA_CACHE_TTL
        async with self.db.transaction(actor.organization_id) as connection:
            previous = await fetch_one(
                connection,
                "SELECT content_hash FROM integration_schema_cache WHERE connection_id = :c",
                {"c": registered.id},
            )
            changed = previous is None or previous["content_hash"] != content_hash
            await execute(
                connection,
                "INSERT INTO integration_schema_cache (organization_id, connection_id, schema,"
                " tables, columns, indexes, foreign_keys, triggers, row_counts, sizes,"
                " table_count, content_hash, refreshed_at, expires_at) VALUES (:org, :c,"
                " CAST(:schema AS jsonb), CAST(:tables AS jsonb), CAST(:columns AS jsonb),"
                " CAST(:indexes AS jsonb), CAST(:fks AS jsonb), CAST(:triggers AS jsonb),"
                " CAST(:rows AS jsonb), CAST(:sizes AS jsonb), :count, :hash, now(), :exp)"
                " ON CONFLICT (connection_id) DO UPDATE SET schema = EXCLUDED.schema,"
                " tables = EXCLUDED.tables, columns = EXCLUDED.columns,"
                " indexes = EXCLUDED.indexes, foreign_keys = EXCLUDED.foreign_keys,"
                " triggers = EXCLUDED.triggers, row_counts = EXCLUDED.row_counts,"
                " sizes = EXCLUDED.sizes, table_count = EXCLUDED.table_count,"
                " content_hash = EXCLUDED.content_hash, refreshed_at = now(),"
                " expires_at = EXCLUDED.expires_at",
                {
                    "org": actor.organization_id,
                    "c": registered.id,
                    **_cache_columns(schema),
                    "hash": content_hash,
                    "exp": expires,
                },
            )
            if changed:
                version_row = await fetch_one(
                    connection,
                    "SELECT coalesce(max(schema_version), 0) + 1 AS v"
                    " FROM integration_database_contexts WHERE connection_id = :c",
                    {"c": registered.id},
                )
                assert version_row is not None
                await execute(
                    connection,
                    "INSERT INTO integration_database_contexts (organization_id, connection_id,"
                    " schema_version, context, content_hash, expires_at) VALUES (:org, :c, :v,"
                    " CAST(:ctx AS jsonb), :hash, :exp)",
                    {
                        "org": actor.organization_id,
                        "c": registered.id,
                        "v": version_row["v"],
                        "ctx": as_json(data),
                        "hash": content_hash,
                        "exp": expires,
                    },
                )
        return changed

    async def cached_schema(self, organization_id: UUID, connection_id: UUID) -> Schema | None:
        """The cached schema, or None when there is none or it has expired.

        The parsed schema is kept in memory by content hash: a schema of a thousand tables
        is megabytes of JSON, not to be read and parsed again for every question.
        """
        async with self.db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT content_hash, expires_at < now() AS expired FROM integration_schema_cache"
                " WHERE connection_id = :c",
                {"c": connection_id},
            )
            if row is None or row["expired"]:
                return None
            known = self._schemas.get(connection_id)
            if known and known[0] == row["content_hash"]:
                return known[1]
            full = await fetch_one(
                connection,
                "SELECT schema FROM integration_schema_cache WHERE connection_id = :c",
                {"c": connection_id},
            )
        assert full is not None
        schema = Schema.from_json(full["schema"])
        self._schemas[connection_id] = (row["content_hash"], schema)
        return schema

    async def glossary(self, organization_id: UUID, connection_id: UUID) -> list[Term]:
        """The business terms defined for a connection (and for every connection)."""
        async with self.db.transaction(organization_id) as connection:
            rows = await fetch_all(
                connection,
                "SELECT term, definition, sql FROM glossary_terms"
                " WHERE connection_id = :c OR connection_id IS NULL ORDER BY term",
                {"c": connection_id},
            )
        return [Term(r["term"], r["sql"], r["definition"]) for r in rows]

    async def define_term(
        self, actor: Actor, connection_name: str, term: str, sql: str, definition: str = ""
    ) -> None:
        registered = await self.get(actor.organization_id, connection_name)
        async with self.db.transaction(actor.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO glossary_terms (organization_id, connection_id, term, definition,"
                " sql) VALUES (:org, :c, :term, :definition, :sql)"
                " ON CONFLICT (organization_id, connection_id, term) DO UPDATE SET"
                " definition = EXCLUDED.definition, sql = EXCLUDED.sql",
                {
                    "org": actor.organization_id,
                    "c": registered.id,
                    "term": term,
                    "definition": definition,
                    "sql": sql,
                },
            )
            await audit(
                connection,
                actor,
                "glossary.define",
                "connection",
                str(registered.id),
                {"term": term, "sql": sql},
            )


def _cache_columns(schema: Schema) -> dict[str, Any]:
    tables = schema.tables
    return {
        "schema": as_json(schema.to_json()),
        "tables": as_json(
            [
                {"name": t.name, "schema": t.schema, "kind": t.kind, "comment": t.comment}
                for t in tables
            ]
        ),
        "columns": as_json(
            [
                {
                    "table": t.name,
                    "name": c.name,
                    "type": c.type,
                    "nullable": c.nullable,
                    "default": c.default,
                    "comment": c.comment,
                }
                for t in tables
                for c in t.columns
            ]
        ),
        "indexes": as_json(
            [
                {"table": t.name, "name": i.name, "columns": list(i.columns), "unique": i.unique}
                for t in tables
                for i in t.indexes
            ]
        ),
        "fks": as_json(
            [
                {
                    "table": t.name,
                    "columns": list(f.columns),
                    "ref_table": f.ref_table,
                    "ref_columns": list(f.ref_columns),
                }
                for t in tables
                for f in t.foreign_keys
            ]
        ),
        "triggers": as_json([{"table": t.name, "name": n} for t in tables for n in t.triggers]),
        "rows": as_json({t.name: t.row_count for t in tables}),
        "sizes": as_json({t.name: t.size_bytes for t in tables}),
        "count": len(tables),
    }


def config_to_dict(config: ConnectionConfig) -> dict[str, Any]:
    return config.to_dict()


def config_from_dict(data: dict[str, Any]) -> ConnectionConfig:
    return ConnectionConfig.from_dict(data)
