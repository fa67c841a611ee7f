"""Encryption of stored credentials (connection passwords, API keys) with Fernet keys.

Keys come from DANA_SECRET_KEY, comma-separated, newest first: the first encrypts, all
decrypt, so a new key is added in front and old tokens are re-encrypted with `rotate`.
With the embedded app database and no key set, one is generated into the data folder.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from dana.config import Settings
from dana.errors import ConfigError

logger = logging.getLogger(__name__)

KEY_FILE = "secret.key"


def generate_key() -> str:
    """A new random key, as DANA_SECRET_KEY expects it."""
    return Fernet.generate_key().decode()


class Vault:
    def __init__(self, keys: Sequence[str | bytes]) -> None:
        if not keys:
            raise ConfigError("no secret key given")
        fernets = []
        for position, key in enumerate(keys, start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                # Never repeat the key itself: it is the secret.
                raise ConfigError(
                    f"secret key number {position} is not a valid key: it must be 32 url-safe "
                    "base64-encoded bytes; make one with python -c "
                    "'from dana.integrations.secrets import generate_key; print(generate_key())'"
                ) from None
        self._fernet = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "Vault(<keys hidden>)"

    def encrypt(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(token.encode())
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted: DANA_SECRET_KEY does not hold the key "
                "it was encrypted with (keep old keys after the new one while rotating)"
            ) from None
        data: dict[str, Any] = json.loads(plain)
        return data

    def rotate(self, tokens: Iterable[str]) -> list[str]:
        """The tokens re-encrypted with the newest key; run after adding a key in front."""
        try:
            return [self._fernet.rotate(token.encode()).decode() for token in tokens]
        except InvalidToken:
            raise ConfigError("a stored secret cannot be decrypted with any of the keys") from None


def load_vault(settings: Settings, external_db: bool) -> Vault:
    """The vault of the configured keys, or of the data folder's key file."""
    if settings.secret_key is not None:
        return Vault(split_keys(settings.secret_key.get_secret_value()))
    if external_db:
        # A key beside an external database would be lost with the container holding it.
        raise ConfigError("DANA_SECRET_KEY must be set when the app database is external")
    return Vault(split_keys(read_or_create_key_file(Path(settings.data_dir) / KEY_FILE)))


def split_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    if not keys:
        raise ConfigError("DANA_SECRET_KEY is empty")
    return keys


def read_or_create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        return _read_key_file(path)
    # Written aside then linked in place: of two processes starting together, one key wins
    # and nobody ever reads a half-written file.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(generate_key() + "\n")
    try:
        os.link(draft, path)
        logger.info("generated a secret key in %s; back it up with the data folder", path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return _read_key_file(path)


def _read_key_file(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("secret key file %s was readable by others (mode %o); now 0600", path, mode)
        path.chmod(0o600)
    text = path.read_text()
    if not text.strip():
        raise ConfigError(f"the secret key file {path} is empty; delete it to generate a new one")
    return text
