"""Connection settings of a target database: reading them from a URL and refusing unsafe ones.

A config is checked twice: `validate_config` when it is saved (dialect, options, host,
SQLite folder), and `check_resolved_host` right before connecting, because a harmless
host name may resolve to a cloud metadata address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shlex
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from dana.config import Settings
from dana.errors import DanaError

DIALECTS = ("postgres", "mysql", "sqlite")
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}

# URL schemes people paste, with the SQLAlchemy-style drivers we accept after a "+".
# Whatever the driver named, DANA connects with asyncpg, aiomysql or sqlite3.
SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
}
DRIVERS = {
    "postgres": {"asyncpg", "psycopg", "psycopg2", "pg8000"},
    "mysql": {"aiomysql", "pymysql", "mysqldb", "mysqlconnector", "asyncmy"},
    "sqlite": {"aiosqlite", "pysqlite"},
}

# Instance metadata services hand out cloud credentials to whoever asks from inside the VM.
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)

HOST_PATTERN = re.compile(r"[A-Za-z0-9_.\-]+|\[?[0-9A-Fa-f:.]+(%\w+)?\]?")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MYSQL_SSL_MODES = ("disabled", "preferred", "required", "verify_ca", "verify_identity")
OPTIONS = {
    "postgres": ("application_name", "connect_timeout", "options", "sslmode"),
    "mysql": ("charset", "connect_timeout", "ssl", "ssl_mode"),
    "sqlite": (),
}
# Options that let the MySQL server read files of the machine DANA runs on.
LOCAL_INFILE_OPTIONS = {"localinfile", "allowloadlocalinfile", "allowurlinlocalinfile"}


class ConfigRefused(DanaError):
    """A connection setting DANA will not use; `field` names it (host, options, path...)."""

    status = "refused"

    def __init__(self, message: str, detail: str | None = None, field: str | None = None) -> None:
        super().__init__(message, detail)
        self.field = field


@dataclass(frozen=True)
class ConnectionConfig:
    dialect: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str | None = None  # SQLite file
    options: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        return display_url(self)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, password included: for the vault, never for display."""
        return {
            "dialect": self.dialect,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "username": self.username,
            "password": self.password,
            "path": self.path,
            "options": dict(self.options),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConnectionConfig:
        return cls(
            dialect=data["dialect"],
            host=data.get("host"),
            port=data.get("port"),
            database=data.get("database"),
            username=data.get("username"),
            password=data.get("password"),
            path=data.get("path"),
            options=dict(data.get("options") or {}),
        )


def parse_url(url: str) -> ConnectionConfig:
    """Read a connection URL; the password may be percent-encoded.

    >>> parse_url("postgresql://ana:s%40cret@db.local/shop?sslmode=require").port
    5432
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        # The text may hold the password: never repeat it.
        raise ConfigRefused(
            "the connection URL could not be read; check the port and percent-encode "
            "special characters of the password (@ : / ? #)",
            field="url",
        ) from None

    dialect = _dialect_of(parts.scheme)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if dialect == "sqlite":
        if parts.netloc:
            raise ConfigRefused(
                "a SQLite URL names a file, not a host: use sqlite:////absolute/path.db",
                field="path",
            )
        return ConnectionConfig(dialect="sqlite", path=unquote(parts.path[1:]), options=options)

    return ConnectionConfig(
        dialect=dialect,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[dialect],
        database=unquote(parts.path.lstrip("/")) or None,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        options=options,
    )


def _dialect_of(scheme: str) -> str:
    name, _, driver = scheme.lower().partition("+")
    dialect = SCHEMES.get(name)
    if dialect is None:
        raise ConfigRefused(
            f"unknown database type {name!r}: DANA connects to postgresql://, mysql://, "
            "mariadb:// and sqlite:/// URLs",
            field="dialect",
        )
    if driver and driver not in DRIVERS[dialect]:
        raise ConfigRefused(
            f"unknown driver {driver!r} for {name}: leave it out, DANA picks its own",
            field="dialect",
        )
    return dialect


def display_url(cfg: ConnectionConfig) -> str:
    """The config as a URL fit to show: the password is replaced by ***."""
    if cfg.dialect == "sqlite":
        return f"sqlite:///{cfg.path or ''}"
    user = quote(cfg.username or "", safe="")
    if cfg.password:
        user += ":***"
    host = cfg.host or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}@{host}" if user else host
    if cfg.port:
        netloc += f":{cfg.port}"
    scheme = "postgresql" if cfg.dialect == "postgres" else cfg.dialect
    return f"{scheme}://{netloc}/{quote(cfg.database or '', safe='')}"


def redact(cfg: ConnectionConfig) -> dict[str, Any]:
    """The config as a dict safe to show or log: no password, only whether there is one."""
    data = cfg.to_dict()
    del data["password"]
    data["has_password"] = bool(cfg.password)
    data["options"] = {k: ("***" if "pass" in k.lower() else v) for k, v in cfg.options.items()}
    return data


def sqlite_dirs(settings: Settings) -> list[Path]:
    """Folders SQLite connections may point into: the data folder and the configured ones."""
    extra = [Path(p) for p in settings.sqlite_allowed_dirs.split(os.pathsep) if p.strip()]
    return [settings.data_dir, *extra]


def validate_config(
    cfg: ConnectionConfig, allowed_sqlite_dirs: Iterable[str | Path]
) -> ConnectionConfig:
    """The config, ready to connect, or ConfigRefused naming the setting at fault.

    A SQLite path comes back resolved, so that a symlink swapped later cannot move it.
    """
    if cfg.dialect not in DIALECTS:
        raise ConfigRefused(
            f"unknown database type {cfg.dialect!r}: DANA connects to postgres, mysql and sqlite",
            field="dialect",
        )
    reject_read_write_options(cfg)
    reject_unknown_options(cfg)
    if cfg.dialect == "sqlite":
        return replace(cfg, path=str(require_allowed_path(cfg.path, allowed_sqlite_dirs)))

    if not cfg.host:
        raise ConfigRefused("the host is missing", field="host")
    if cfg.dialect == "postgres" and cfg.host.startswith("/"):
        # A socket folder reaches a local server that may trust any local user: only the
        # folders DANA itself owns (its embedded server lives in the data folder) are allowed.
        folder = require_allowed_path(cfg.host, allowed_sqlite_dirs, what="socket folder")
        return replace(cfg, host=str(folder))
    if not HOST_PATTERN.fullmatch(cfg.host):
        # A path would reach a local socket, where the server may trust any local user.
        raise ConfigRefused(f"host {cfg.host!r} is not a host name or an IP address", field="host")
    if is_metadata_host(cfg.host):
        raise ConfigRefused(
            f"host {cfg.host} is a cloud metadata service, not a database; it is never allowed",
            field="host",
        )
    if cfg.dialect == "mysql" and not cfg.database:
        raise ConfigRefused(
            "the database name is missing; DANA reads one MySQL database", field="database"
        )
    if cfg.port is not None and not 0 < cfg.port < 65536:
        raise ConfigRefused(f"port {cfg.port} is not between 1 and 65535", field="port")
    return cfg


def reject_read_write_options(cfg: ConnectionConfig) -> None:
    for key, value in cfg.options.items():
        squeezed = key.lower().replace("_", "").replace("-", "")
        if cfg.dialect == "mysql" and squeezed in LOCAL_INFILE_OPTIONS:
            raise ConfigRefused(
                f"option {key} lets the server read files of the machine DANA runs on; remove it",
                field="options",
            )
        text = f"{key}={value}".lower().replace("-", "_")
        if "transaction_read_only" in text or "tx_read_only" in text:
            raise ConfigRefused(
                f"option {key} changes read-only mode, which DANA always keeps on; remove it",
                field="options",
            )


def reject_unknown_options(cfg: ConnectionConfig) -> None:
    allowed = OPTIONS.get(cfg.dialect, ())
    for key, value in cfg.options.items():
        name = key.replace("-", "_") if cfg.dialect == "mysql" else key
        if name not in allowed:
            supported = ", ".join(allowed) or "none"
            raise ConfigRefused(
                f"option {key} is not supported for {cfg.dialect} (supported: {supported})",
                field="options",
            )
        if name == "connect_timeout" and not value.replace(".", "", 1).isdigit():
            raise ConfigRefused(
                f"option connect_timeout must be a number of seconds, not {value!r}",
                field="options",
            )
        if name == "sslmode" and value not in SSL_MODES:
            raise ConfigRefused(
                f"option sslmode must be one of {', '.join(SSL_MODES)}", field="options"
            )
        if name == "ssl_mode" and value.lower() not in MYSQL_SSL_MODES:
            raise ConfigRefused(
                f"option ssl_mode must be one of {', '.join(MYSQL_SSL_MODES)}", field="options"
            )
        if name == "ssl" and value.lower() not in ("true", "false", "1", "0"):
            raise ConfigRefused("option ssl must be true or false", field="options")
        if name == "options":
            postgres_server_settings(value)


def postgres_server_settings(options: str) -> dict[str, str]:
    """The settings of a libpq `options` value such as "-c search_path=sales".

    >>> postgres_server_settings("-c search_path=sales --work_mem=64MB")
    {'search_path': 'sales', 'work_mem': '64MB'}
    """
    try:
        words = shlex.split(options)
    except ValueError:
        raise ConfigRefused(
            "option options could not be read; quote it like -c name=value", field="options"
        ) from None
    settings: dict[str, str] = {}
    expect_setting = False
    for word in words:
        if word == "-c":
            expect_setting = True
            continue
        if expect_setting or word.startswith("--"):
            name, sep, value = word.removeprefix("--").partition("=")
            if sep:
                settings[name.replace("-", "_")] = value
                expect_setting = False
                continue
        raise ConfigRefused(
            f"option options may only hold -c name=value settings, not {word!r}", field="options"
        )
    return settings


def require_allowed_path(
    path: str | None, allowed_dirs: Iterable[str | Path], what: str = "SQLite file"
) -> Path:
    """`path` resolved, when it lies inside one of `allowed_dirs`."""
    field = "path" if what == "SQLite file" else "host"
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigRefused("the SQLite path must name a database file", field=field)
    resolved = Path(path).resolve()
    folders = [Path(d).resolve() for d in allowed_dirs]
    if any(resolved.is_relative_to(folder) for folder in folders):
        return resolved
    hint = "" if Path(path).is_absolute() else " (sqlite:////path with four slashes is absolute)"
    listed = ", ".join(str(f) for f in folders) or "none configured"
    raise ConfigRefused(
        f"{what} {resolved} is outside the allowed folders ({listed}){hint}; "
        "add its folder to DANA_SQLITE_ALLOWED_DIRS",
        field=field,
    )


def is_metadata_host(host: str) -> bool:
    name = host.strip().strip("[]").rstrip(".").lower()
    if name in METADATA_HOSTS:
        return True
    address = _as_address(name)
    return address is not None and _is_metadata_address(address)


def _as_address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        pass
    # inet_aton also reads the shorthand forms connect() accepts: 0xa9fea9fe, 2852039166.
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


def _is_metadata_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address in METADATA_ADDRESSES


async def check_resolved_host(host: str, port: int | None) -> None:
    """Refuse a host name that resolves to a metadata address; resolution errors pass on."""
    # TODO: the driver resolves the name again, so a DNS server that answers differently
    # the second time still gets through; connecting to the checked address would close it.
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return  # the driver reports an unknown host with its own words
    for info in infos:
        if _is_metadata_address(ipaddress.ip_address(info[4][0].split("%", 1)[0])):
            raise ConfigRefused(
                f"host {host} resolves to a cloud metadata service; it is never allowed",
                field="host",
            )
