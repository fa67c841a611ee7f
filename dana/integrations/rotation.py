"""Re-encrypting every stored credential under a new key, without a moment of unreadability."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import psycopg

from dana.db.session import execute, fetch_all
from dana.errors import ConfigError
from dana.integrations.secrets import KEY_FILE, Vault, generate_key, split_keys

log = logging.getLogger(__name__)


def organization_ids(owner_url: str) -> list[Any]:
    """Every organization (only the owner may list them all)."""
    with psycopg.connect(owner_url) as connection:
        return [row[0] for row in connection.execute("SELECT id FROM organizations")]


async def reencrypt(runtime: Any, vault: Vault) -> int:
    """Re-encrypt every connection's config with `vault`'s newest key; returns how many."""
    count = 0
    for organization_id in organization_ids(runtime.urls.owner):
        async with runtime.db.transaction(organization_id) as connection:
            rows = await fetch_all(
                connection, "SELECT id, encrypted_config FROM integration_connections"
            )
            for row in rows:
                [token] = vault.rotate([row["encrypted_config"]])
                await execute(
                    connection,
                    "UPDATE integration_connections SET encrypted_config = :t WHERE id = :id",
                    {"t": token, "id": row["id"]},
                )
                count += 1
    return count


async def rotate_all(runtime: Any) -> int:
    """Rotate to a new key.

    With the data folder's key file: a new key is put in front (old ones still decrypt),
    everything is re-encrypted, then the old keys are dropped. With DANA_SECRET_KEY: the
    operator puts the new key in front first; this re-encrypts, and the old keys can then go.
    """
    settings = runtime.settings
    if settings.secret_key is not None:
        keys = split_keys(settings.secret_key.get_secret_value())
        if len(keys) < 2:
            raise ConfigError(
                "put a new key in front of DANA_SECRET_KEY (new,old), then run this again"
            )
        return await reencrypt(runtime, Vault(keys))
    path = Path(settings.data_dir) / KEY_FILE
    old = split_keys(path.read_text())
    new = generate_key()
    _write_keys(path, [new, *old])
    count = await reencrypt(runtime, Vault([new, *old]))
    _write_keys(path, [new])
    # The runtime's cached vault holds only the dropped keys: it could not read a connection.
    runtime.vault = runtime.registry.vault = Vault([new])
    log.info("re-encrypted %d connections under a new key", count)
    return count


def _write_keys(path: Path, keys: list[str]) -> None:
    draft = path.with_name(f".{path.name}.new")
    draft.write_text("\n".join(keys) + "\n")
    draft.chmod(0o600)
    draft.replace(path)
