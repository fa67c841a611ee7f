"""Alembic migrations of the app database, run as its owner."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from dana.db.urls import with_driver

HERE = Path(__file__).parent


def alembic_config(owner_url: str, app_role: str = "dana_app") -> Config:
    config = Config(str(HERE / "alembic.ini"))
    config.set_main_option("script_location", str(HERE / "migrations"))
    # Alembic's config is an INI file: a literal % must be doubled.
    config.set_main_option("sqlalchemy.url", with_driver(owner_url, "psycopg").replace("%", "%%"))
    config.set_main_option("dana.app_role", app_role)
    return config


def upgrade(owner_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(owner_url), revision)


def downgrade(owner_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(owner_url), revision)
