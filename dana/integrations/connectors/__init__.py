"""Target databases DANA reads: one connector per dialect behind one interface.

>>> cfg = parse_url("sqlite:////srv/data/shop.db")
>>> type(make_connector(cfg, allowed_sqlite_dirs=["/srv/data"])).__name__
'SqliteConnector'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dana.config import get_settings
from dana.integrations.connectors.base import (
    ConnectionProblem,
    ConnectionTestResult,
    Connector,
    QueryResult,
    jsonable,
)
from dana.integrations.connectors.mysql import MysqlConnector
from dana.integrations.connectors.postgres import PostgresConnector
from dana.integrations.connectors.sqlite import SqliteConnector
from dana.integrations.urls import ConnectionConfig, parse_url, sqlite_dirs, validate_config

CONNECTORS: dict[str, type[Connector]] = {
    "postgres": PostgresConnector,
    "mysql": MysqlConnector,
    "sqlite": SqliteConnector,
}


def make_connector(
    cfg: ConnectionConfig, allowed_sqlite_dirs: Iterable[str | Path] | None = None
) -> Connector:
    """A connector for a validated `cfg`; SQLite folders default to the settings' ones."""
    if allowed_sqlite_dirs is None:
        allowed_sqlite_dirs = sqlite_dirs(get_settings())
    cfg = validate_config(cfg, allowed_sqlite_dirs)
    return CONNECTORS[cfg.dialect](cfg)


__all__ = [
    "ConnectionConfig",
    "ConnectionProblem",
    "ConnectionTestResult",
    "Connector",
    "MysqlConnector",
    "PostgresConnector",
    "QueryResult",
    "SqliteConnector",
    "jsonable",
    "make_connector",
    "parse_url",
]
