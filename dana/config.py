"""Typed settings, read from the environment (variables prefixed DANA_) and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DANA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path(".dana"), description="Folder of the embedded database, keys and files."
    )
    database_url: SecretStr | None = Field(
        None,
        description="The app database (PostgreSQL with pgvector), for the app's own role. "
        "Unset: an embedded PostgreSQL is started in the data folder.",
    )
    owner_database_url: SecretStr | None = Field(
        None, description="The app database as its owner, for migrations. Defaults to database_url."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key(s) that encrypt stored credentials, comma-separated, newest first. "
        "Unset with the embedded database: generated into the data folder.",
    )
    admin_password: SecretStr | None = Field(
        None,
        description="Password of the demo admin admin@example.com; unset: generated and printed once.",
    )
    port: int = Field(8000, description="Port of the chat server.")
    query_timeout_s: float = Field(
        30.0, description="Statement timeout of a query on a target database."
    )
    max_rows: int = Field(1000, description="Most rows a query returns.")
    embedding_model: str | None = Field(
        None,
        description="Path or name of a sentence-transformers model; unset: the packaged all-MiniLM-L6-v2.",
    )
    llm_provider: str = Field(
        "offline",
        description="Translator: offline, openai (any OpenAI-compatible server) or anthropic.",
    )
    llm_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible endpoint.")
    llm_model: str | None = Field(None, description="Model name for the LLM provider.")
    llm_api_key: SecretStr | None = Field(None, description="API key of the LLM provider.")
    llm_timeout_s: float = Field(60.0, description="Timeout of one call to the LLM provider.")
    sqlite_allowed_dirs: str = Field(
        "",
        description="Folders (os.pathsep-separated) where SQLite connections may point; the data folder is always allowed.",
    )
    context_token_budget: int = Field(
        1500, description="Most tokens of schema context given to a translator."
    )
    daily_query_limit: int | None = Field(
        None,
        description="Queries per organization per day; unset: the organization's plan decides.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
