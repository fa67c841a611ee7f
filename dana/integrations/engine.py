"""Runs checked SQL on a registered connection: read-only, timed out, logged and metered."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from uuid import UUID

from dana.db.audit import Actor, security_event
from dana.db.session import Database, execute, fetch_one
from dana.errors import DanaError, LimitExceeded, QueryTimeout
from dana.integrations.connectors import Connector, QueryResult, make_connector
from dana.integrations.registry import Registered
from dana.sql.guard import pattern_of

log = logging.getLogger(__name__)

# Queries per organization per day, by plan; an organization's settings may lower it.
PLAN_DAILY_QUERIES = {"free": 2_000, "team": 20_000, "enterprise": 200_000}
# The day of the limit starts at midnight UTC, whatever time zone the app database uses.
TODAY_UTC = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"


@dataclass(frozen=True)
class RunContext:
    actor: Actor
    request_id: str | None = None
    conversation_id: UUID | None = None


class Engine:
    def __init__(
        self,
        db: Database,
        timeout_s: float,
        max_rows: int,
        daily_limit: int | None = None,
        allowed_sqlite_dirs: list[str] | None = None,
    ) -> None:
        self.db = db
        self.allowed_sqlite_dirs = allowed_sqlite_dirs
        self.timeout_s = timeout_s
        self.max_rows = max_rows
        self.daily_limit = daily_limit
        self._connectors: dict[tuple[UUID, str], Connector] = {}

    def connector(self, registered: Registered) -> Connector:
        """A pooled connector per connection, rebuilt when its configuration changes."""
        key = (registered.id, repr(sorted(registered.config.to_dict().items())))
        connector = self._connectors.get(key)
        if connector is None:
            connector = make_connector(registered.config, self.allowed_sqlite_dirs)
            self._connectors[key] = connector
        return connector

    async def run(self, registered: Registered, sql: str, run: RunContext) -> QueryResult:
        await self.check_limit(run.actor)
        started = time.perf_counter()
        try:
            result = await self.connector(registered).execute(
                sql, timeout_s=self.timeout_s, max_rows=self.max_rows
            )
        except DanaError as error:
            elapsed = (time.perf_counter() - started) * 1000
            status = "timeout" if isinstance(error, QueryTimeout) else error.status
            await self.record(registered, sql, run, status, None, elapsed, error)
            raise
        await self.record(registered, sql, run, "ok", len(result.rows), result.elapsed_ms, None)
        return result

    async def record(
        self,
        registered: Registered,
        sql: str,
        run: RunContext,
        status: str,
        rows: int | None,
        elapsed_ms: float,
        error: DanaError | None,
    ) -> None:
        """Write the query log row and fold the run into its pattern's metrics."""
        pattern = pattern_of(sql, registered.dialect)
        pattern_hash = _hash(pattern)
        async with self.db.transaction(run.actor.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO integration_query_logs (organization_id, connection_id, user_id,"
                " conversation_id, request_id, query_hash, pattern_hash, sql, status, row_count,"
                " execution_ms, error_class, error) VALUES (:org, :c, :u, :conv, :req, :qh, :ph,"
                " :sql, :status, :rows, :ms, :eclass, :error)",
                {
                    "org": run.actor.organization_id,
                    "c": registered.id,
                    "u": run.actor.user_id,
                    "conv": run.conversation_id,
                    "req": run.request_id,
                    "qh": _hash(sql),
                    "ph": pattern_hash,
                    "sql": sql,
                    "status": status,
                    "rows": rows,
                    "ms": elapsed_ms,
                    "eclass": type(error).__name__ if error else None,
                    "error": error.message if error else None,
                },
            )
            ok = 1 if status == "ok" else 0
            await execute(
                connection,
                "INSERT INTO integration_query_metrics AS m (organization_id, connection_id,"
                " pattern_hash, pattern, executions, successes, total_rows, avg_ms, min_ms,"
                " max_ms, last_run_at) VALUES (:org, :c, :ph, :pattern, 1, :ok, :rows, :ms, :ms,"
                " :ms, now()) ON CONFLICT (connection_id, pattern_hash) DO UPDATE SET"
                " executions = m.executions + 1, successes = m.successes + :ok,"
                " total_rows = m.total_rows + :rows,"
                " avg_ms = (m.avg_ms * m.executions + :ms) / (m.executions + 1),"
                " min_ms = least(m.min_ms, :ms), max_ms = greatest(m.max_ms, :ms),"
                " last_run_at = now()",
                {
                    "org": run.actor.organization_id,
                    "c": registered.id,
                    "ph": pattern_hash,
                    "pattern": pattern,
                    "ok": ok,
                    "rows": rows or 0,
                    "ms": elapsed_ms,
                },
            )
        log.info(
            "query connection=%s request=%s status=%s rows=%s ms=%.1f",
            registered.name,
            run.request_id,
            status,
            rows,
            elapsed_ms,
        )

    async def check_limit(self, actor: Actor) -> None:
        """Refuse past the organization's daily number of queries, and say so once."""
        async with self.db.transaction(actor.organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT o.plan, o.settings ->> 'daily_query_limit' AS custom,"
                " (SELECT count(*) FROM integration_query_logs l"
                f"  WHERE l.created_at >= {TODAY_UTC}) AS used,"
                " EXISTS (SELECT 1 FROM security_events e WHERE e.kind = 'limit.daily_queries'"
                f"  AND e.created_at >= {TODAY_UTC}) AS reported"
                " FROM organizations o WHERE o.id = :org",
                {"org": actor.organization_id},
            )
            if row is None:
                return
            limit = self.daily_limit or (
                int(row["custom"]) if row["custom"] else PLAN_DAILY_QUERIES.get(row["plan"], 2000)
            )
            if row["used"] < limit:
                return
            if not row["reported"]:
                await security_event(
                    connection,
                    actor,
                    "limit.daily_queries",
                    "low",
                    {"limit": limit, "used": row["used"]},
                )
        raise LimitExceeded(
            f"your organization has used its {limit} queries for today; "
            "the limit resets at midnight UTC"
        )

    async def usage_today(self, organization_id: UUID) -> dict[str, float]:
        async with self.db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT count(*) AS queries, coalesce(sum(row_count), 0) AS rows,"
                " coalesce(sum(execution_ms), 0) AS ms FROM integration_query_logs"
                f" WHERE created_at >= {TODAY_UTC}",
            )
        assert row is not None
        return {k: float(v) for k, v in row.items()}

    async def close(self) -> None:
        for connector in self._connectors.values():
            await connector.close()
        self._connectors.clear()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
