"""Where the app database is: the configured server, or the embedded one."""

from __future__ import annotations

from dataclasses import dataclass

from dana.config import Settings
from dana.db import embedded


@dataclass(frozen=True)
class DatabaseUrls:
    app: str  # libpq URL of the app's role (owns nothing, under row-level security)
    owner: str  # libpq URL of the owner, for migrations
    embedded: embedded.EmbeddedServer | None = None


def resolve(settings: Settings) -> DatabaseUrls:
    """The app database's URLs, starting the embedded server when none is configured."""
    if settings.database_url is not None:
        app = settings.database_url.get_secret_value()
        owner = settings.owner_database_url or settings.database_url
        return DatabaseUrls(app=app, owner=owner.get_secret_value())
    server = embedded.start(settings.data_dir)
    return DatabaseUrls(
        app=server.url(embedded.APP_ROLE, embedded.APP_DATABASE),
        owner=server.url(embedded.OWNER_ROLE, embedded.APP_DATABASE),
        embedded=server,
    )


def with_driver(url: str, driver: str) -> str:
    """`postgresql://...` as SQLAlchemy wants it for `driver` (psycopg or asyncpg)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+{driver}://{rest}"
