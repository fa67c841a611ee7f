"""What every target database offers DANA: a connection test, its schema, and read-only queries."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import math
import socket
import ssl
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any

from dana.errors import ConnectionFailed, DanaError, QueryRefused, QueryTimeout
from dana.integrations.urls import ConnectionConfig
from dana.schema import Schema

logger = logging.getLogger(__name__)

TEST_TIMEOUT_S = 10.0
POOL_SIZE = 5
# The client gives the server this long past the statement timeout to cancel by itself.
CANCEL_GRACE_S = 1.0
# Sample values: the same limits as dana.integrations.sqlite_schema.
SAMPLE_DISTINCT_LIMIT = 200
SAMPLE_MAX_CHARS = 60
# Sampling reads at most this many rows of a table, so a huge table costs one bounded scan.
SAMPLE_SCAN_ROWS = 100_000
SAMPLE_TIMEOUT_S = 5.0
INTROSPECT_TIMEOUT_S = 120.0
# Below this size an exact count(*) is cheap; above it the planner's estimate will do.
EXACT_COUNT_BYTES = 10 * 1024 * 1024
CAN_WRITE_WARNING = "this user can write; use a read-only user"
WRITE_REFUSED = "the database refused a change: DANA only reads, in a read-only session"


class ConnectionProblem(ConnectionFailed):
    """A connection failure pinned to the setting at fault (`field`: host, port, password...)."""

    def __init__(self, message: str, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(message, detail)
        self.field = field


@dataclass(frozen=True)
class ConnectionTestResult:
    success: bool
    response_ms: float | None = None
    server_version: str | None = None
    can_write: bool = False
    warning: str | None = None
    error: str | None = None
    error_field: str | None = None


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float

    def jsonable_rows(self) -> list[list[Any]]:
        """The rows with every value made fit for JSON (see `jsonable`)."""
        return [[jsonable(v) for v in row] for row in self.rows]


def jsonable(value: Any) -> Any:
    """A value JSON can carry: Decimal -> float, dates -> ISO text, bytes -> hex.

    >>> jsonable(Decimal("2.50")), jsonable(dt.date(2024, 5, 1))
    (2.5, '2024-05-01')
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)  # MySQL TIME values arrive as timedelta: "10:30:00"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def network_problem(exc: BaseException, where: str) -> tuple[str, str | None]:
    """The message and field for a socket-level failure to reach `where` (host:port)."""
    if isinstance(exc, TimeoutError):
        return f"host not reachable: no answer from {where}", "host"
    if isinstance(exc, socket.gaierror):
        return f"host not reachable: the name {where.rsplit(':', 1)[0]} is unknown", "host"
    if isinstance(exc, ssl.SSLError) or "SSL" in str(exc):
        return f"SSL negotiation with {where} failed; check the SSL options", "options"
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return f"host not reachable: nothing accepts connections at {where}", "port"
    if isinstance(exc, OSError):
        # asyncpg folds several attempts (IPv4, IPv6) into one OSError.
        if "refused" in str(exc).lower():
            return f"host not reachable: nothing accepts connections at {where}", "port"
        return f"host not reachable: {where} ({exc.strerror or type(exc).__name__})", "host"
    logger.warning("unexpected connection failure: %s", type(exc).__name__, exc_info=exc)
    return f"could not connect to {where} ({type(exc).__name__})", None


def timeout_error(timeout_s: float) -> QueryTimeout:
    return QueryTimeout(f"the query took longer than {timeout_s:g} s and was cancelled")


def write_refused(detail: str) -> QueryRefused:
    return QueryRefused(WRITE_REFUSED, detail)


def elapsed_ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


class Connector(ABC):
    """One registered database. Connections are opened lazily and pooled until `close`."""

    dialect: str

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    async def test(self) -> ConnectionTestResult:
        """Connect afresh and report what the user should fix, within 10 s."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(TEST_TIMEOUT_S):
                version, can_write = await self._probe()
        except TimeoutError:
            return ConnectionTestResult(
                success=False,
                error=f"host not reachable: no answer within {TEST_TIMEOUT_S:g} s",
                error_field="host",
            )
        except ConnectionProblem as exc:
            return ConnectionTestResult(
                success=False, error=self.scrub(exc.message), error_field=exc.field
            )
        except DanaError as exc:
            field = getattr(exc, "field", None)  # ConfigRefused names one
            return ConnectionTestResult(
                success=False, error=self.scrub(exc.message), error_field=field
            )

        return ConnectionTestResult(
            success=True,
            response_ms=elapsed_ms(started),
            server_version=version,
            can_write=can_write,
            warning=CAN_WRITE_WARNING if can_write else None,
        )

    @abstractmethod
    async def _probe(self) -> tuple[str, bool]:
        """Connect on a new connection; return the server version and whether the user can write."""

    @abstractmethod
    async def introspect(self) -> Schema: ...

    @abstractmethod
    async def execute(self, sql: str, *, timeout_s: float, max_rows: int) -> QueryResult:
        """Run `sql` in a read-only transaction, stopped after `timeout_s`, keeping `max_rows`."""

    @abstractmethod
    async def close(self) -> None:
        """Close pooled connections; the connector opens new ones if used again."""

    async def __aenter__(self) -> Connector:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def scrub(self, text: str) -> str:
        """`text` without the password, should a driver ever repeat it."""
        password = self.config.password
        if password and len(password) >= 3:
            return text.replace(password, "***")
        return text
