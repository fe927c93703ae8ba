"""Settings: every problem reported at once, one line each; the generated key kept private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.settings import Settings, SettingsError, ensure_secret_key, load_settings

SETTING_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "DATABASE_URL",
    "MAILROOM_SECRET_KEY",
    "MAILROOM_ADMINS",
    "SYNC_INTERVAL_SECONDS",
    "PORT",
    "MAILROOM_ALLOWED_PRIVATE_HOSTS",
    "PUBLIC_URL",
    "SLACK_API_URL",
    "MAILROOM_DATA_DIR",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def problems(**values: object) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **values)
    return caught.value.problems


def test_missing_slack_settings_give_one_line_each() -> None:
    found = problems()
    assert len(found) == 2
    assert found[0].startswith("SLACK_BOT_TOKEN is not set") and "OAuth & Permissions" in found[0]
    assert found[1].startswith("SLACK_SIGNING_SECRET is not set") and "Signing Secret" in found[1]
    assert all("\n" not in line for line in found)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        slack_bot_token="xoxp-user-token",
        slack_signing_secret="s",
        slack_app_token="bad",
        mailroom_secret_key="not-a-key",
        sync_interval_seconds=0,
        port=70000,
        mailroom_allowed_private_hosts="10.0.0.0/33",
        public_url="mailroom.example.com",
    )
    assert len(found) == 7, found
    joined = "\n".join(found)
    for words in (
        "xoxb-",
        "xapp-",
        "Fernet",
        "SYNC_INTERVAL_SECONDS",
        "PORT",
        "'10.0.0.0/33'",
        "PUBLIC_URL",
    ):
        assert words in joined, words


def test_external_database_needs_a_shared_secret_key() -> None:
    found = problems(
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        database_url="postgresql://db.internal/mailroom",
    )
    assert found == [next(p for p in found if p.startswith("MAILROOM_SECRET_KEY is required"))]


def test_values_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("MAILROOM_ADMINS", "U1, U2;U3")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    settings = load_settings(_env_file=None)
    assert settings.mailroom_admins == ["U1", "U2", "U3"]
    assert settings.slack_api_url == "http://127.0.0.1:9/api/"
    assert settings.is_sqlite and settings.sync_failure_threshold == 3
    assert settings.attachment_max_bytes == 10 * 1024 * 1024


def test_generated_secret_key_is_private_and_reused(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        mailroom_data_dir=tmp_path / "data",
    )
    keys = ensure_secret_key(settings)
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(keys[0].encode())  # a valid key
    assert ensure_secret_key(settings) == keys  # a restart reads the same key back


def test_configured_keys_win_over_the_file(tmp_path: Path) -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings(
        _env_file=None, mailroom_secret_key=f"{new},{old}", mailroom_data_dir=tmp_path / "data"
    )
    assert ensure_secret_key(settings) == [new, old]
    assert not (tmp_path / "data" / "secret.key").exists()


def test_key_file_can_live_away_from_the_database(tmp_path: Path) -> None:
    """MAILROOM_SECRET_KEY_FILE: generated there (0600, in a new 0700 directory), read back,
    several keys for rotation, and enough for an external database."""
    key_file = tmp_path / "secrets" / "mailroom" / "key"
    settings = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        mailroom_data_dir=tmp_path / "data",
        mailroom_secret_key_file=key_file,
    )
    keys = ensure_secret_key(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert not (tmp_path / "data" / "secret.key").exists()
    assert ensure_secret_key(settings) == keys
    new = Fernet.generate_key().decode()
    key_file.write_text(f"{new}\n{keys[0]}\n")
    assert ensure_secret_key(settings) == [new, keys[0]]
    external = Settings(
        _env_file=None,
        slack_bot_token="xoxb-1",
        slack_signing_secret="s",
        database_url="postgresql://db/x",
        mailroom_secret_key_file=key_file,
    )
    assert not any("MAILROOM_SECRET_KEY" in p for p in external.validation_problems())


def test_generated_key_directory_is_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        settings = Settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            mailroom_data_dir=tmp_path / "data",
        )
        ensure_secret_key(settings)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
