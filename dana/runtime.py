"""Wiring: the objects one process needs, built once from the settings."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property

from dana.config import Settings, get_settings
from dana.db.session import Database
from dana.db.urls import DatabaseUrls, resolve
from dana.integrations.engine import Engine
from dana.integrations.registry import Registry
from dana.integrations.secrets import Vault, load_vault
from dana.nl2sql.base import Translator
from dana.retrieval.embedder import Embedder, get_embedder

log = logging.getLogger(__name__)

DEMO_ORG_SLUG = "demo"
DEMO_CONNECTION = "demo"
DEMO_ADMIN_EMAIL = "admin@example.com"


@dataclass
class Runtime:
    settings: Settings
    urls: DatabaseUrls

    @classmethod
    def start(cls, settings: Settings | None = None) -> Runtime:
        settings = settings or get_settings()
        return cls(settings=settings, urls=resolve(settings))

    @cached_property
    def db(self) -> Database:
        return Database(self.urls.app)

    @cached_property
    def vault(self) -> Vault:
        return load_vault(self.settings, external_db=self.urls.embedded is None)

    @cached_property
    def registry(self) -> Registry:
        return Registry(self.db, self.vault, self.allowed_sqlite_dirs)

    @property
    def allowed_sqlite_dirs(self) -> list[str]:
        configured = [d for d in self.settings.sqlite_allowed_dirs.split(os.pathsep) if d]
        return [str(self.settings.data_dir.resolve()), *configured]

    @cached_property
    def engine(self) -> Engine:
        return Engine(
            self.db,
            self.settings.query_timeout_s,
            self.settings.max_rows,
            self.settings.daily_query_limit,
            self.allowed_sqlite_dirs,
        )

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings.embedding_model)

    @cached_property
    def translator(self) -> Translator:
        from dana.nl2sql.llm import make_translator

        return make_translator(self.settings)

    @cached_property
    def pipeline(self):  # noqa: ANN201 - imported lazily: the CLI's light commands skip it
        from dana.nl2sql.offline import OfflineTranslator
        from dana.pipeline import Pipeline

        fallback = None if self.translator.name == "offline" else OfflineTranslator()
        return Pipeline(
            self.db,
            self.registry,
            self.engine,
            self.embedder,
            self.translator,
            fallback=fallback,
            token_budget=self.settings.context_token_budget,
        )

    async def close(self) -> None:
        if "engine" in self.__dict__:
            await self.engine.close()
        if "db" in self.__dict__:
            await self.db.close()
