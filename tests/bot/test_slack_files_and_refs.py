"""Pure checks behind the token-safe downloads and the "Show full email" references."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.email_access import row_id_of_reference, show_full_reference
from bot.settings import Settings
from bot.slack_files import is_remote_file, is_slack_hosted


def settings(tmp_path: Path, **fields: object) -> Settings:
    base: dict[str, object] = {
        "slack_bot_token": "xoxb-1",
        "slack_signing_secret": "s",
        "mailroom_data_dir": tmp_path,
    }
    base.update(fields)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com/files-pri/T1-F1/download/a.pdf",
        "https://FILES.slack.com:443/files-pri/T1-F1/a.pdf",
        "http://127.0.0.1:4567/files-pri/T1-F1/a.pdf",  # the configured SLACK_API_URL origin
    ],
)
def test_slack_file_hosts_are_allowed(tmp_path: Path, url: str) -> None:
    assert is_slack_hosted(settings(tmp_path, slack_api_url="http://127.0.0.1:4567/api/"), url)


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com.evil.test/a.pdf",
        "https://evil.test/files.slack.com/a.pdf",
        "https://files.slack.com@evil.test/a.pdf",
        "https://user:pw@files.slack.com/a.pdf",
        "http://files.slack.com/a.pdf",  # the token never travels in clear to Slack's host
        "https://files.slack.com:8443/a.pdf",
        "http://127.0.0.1:4568/a.pdf",  # loopback, but another port than SLACK_API_URL's
        "ftp://files.slack.com/a.pdf",
        "file:///etc/passwd",
        "https://[::1/",
        "",
    ],
)
def test_anything_else_is_refused(tmp_path: Path, url: str) -> None:
    assert not is_slack_hosted(settings(tmp_path, slack_api_url="http://127.0.0.1:4567/api/"), url)


def test_remote_and_external_files_are_recognised() -> None:
    assert is_remote_file({"mode": "external"})
    assert is_remote_file({"mode": "remote"})
    assert is_remote_file({"is_external": True})
    assert is_remote_file({"external_url": "https://drive.example/x"})
    assert not is_remote_file({"mode": "hosted", "url_private": "https://files.slack.com/x"})


def test_references_are_signed_and_survive_key_rotation(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = settings(tmp_path, mailroom_secret_key=old)
    ref = show_full_reference(before, 42)
    assert ref.startswith("42.") and row_id_of_reference(before, ref) == 42
    rotated = settings(tmp_path, mailroom_secret_key=f"{new},{old}")
    assert row_id_of_reference(rotated, ref) == 42
    assert row_id_of_reference(settings(tmp_path, mailroom_secret_key=new), ref) is None
    mac = ref.split(".", 1)[1]
    for forged in ("42", f"43.{mac}", f"42.{mac[:-1]}0", f"42.{mac}x", "", "x.y", f"-1.{mac}"):
        assert row_id_of_reference(before, forged) is None, forged
