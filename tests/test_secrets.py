"""The vault of stored credentials: round trips, key rotation and the generated key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from dana.config import Settings
from dana.errors import ConfigError
from dana.integrations.secrets import KEY_FILE, Vault, generate_key, load_vault

CREDENTIALS = {"dialect": "postgres", "username": "ana", "password": "s3cret-Ünïcode"}


def settings(data_dir: Path, secret_key: str | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        secret_key=SecretStr(secret_key) if secret_key else None,
        _env_file=None,
    )


def test_encrypt_then_decrypt_gives_the_same_dict() -> None:
    vault = Vault([generate_key()])

    token = vault.encrypt(CREDENTIALS)

    assert vault.decrypt(token) == CREDENTIALS
    assert "s3cret" not in token


def test_rotation_keeps_old_tokens_readable_then_reencrypts() -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = Vault([old_key]).encrypt(CREDENTIALS)
    both = Vault([new_key, old_key])

    readable = both.decrypt(old_token)
    rotated = both.rotate([old_token])

    assert readable == CREDENTIALS
    assert Vault([new_key]).decrypt(rotated[0]) == CREDENTIALS
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        Vault([new_key]).decrypt(old_token)


def test_keys_from_settings_are_newest_first(tmp_path: Path) -> None:
    old_key, new_key = generate_key(), generate_key()
    old_token = Vault([old_key]).encrypt(CREDENTIALS)

    vault = load_vault(settings(tmp_path, f"{new_key}, {old_key}"), external_db=True)

    assert vault.decrypt(old_token) == CREDENTIALS
    assert Vault([new_key]).decrypt(vault.encrypt(CREDENTIALS)) == CREDENTIALS
    assert not (tmp_path / KEY_FILE).exists()


def test_embedded_database_generates_a_private_key_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    first = load_vault(settings(data_dir), external_db=False)
    second = load_vault(settings(data_dir), external_db=False)

    key_file = data_dir / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert second.decrypt(first.encrypt(CREDENTIALS)) == CREDENTIALS
    assert [p.name for p in data_dir.iterdir()] == [KEY_FILE]


def test_a_key_file_readable_by_others_is_made_private(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE
    key_file.write_text(generate_key())
    key_file.chmod(0o644)

    load_vault(settings(tmp_path), external_db=False)

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_external_database_requires_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_vault(settings(tmp_path), external_db=True)

    assert caught.value.message == "DANA_SECRET_KEY must be set when the app database is external"


def test_an_invalid_key_is_refused_without_repeating_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_vault(settings(tmp_path, "not-a-key-hunter2"), external_db=True)

    assert "not a valid key" in caught.value.message
    assert "hunter2" not in caught.value.message
    assert "hunter2" not in repr(Vault([generate_key()]))
