"""Settings built in code for pure tests: only the required fields plus what a test sets."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings


def settings(tmp_path: Path, **fields: object) -> Settings:
    """Settings with the required Slack fields and ``tmp_path`` as the data directory; no .env."""
    base: dict[str, object] = {
        "slack_bot_token": "xoxb-1",
        "slack_signing_secret": "s",
        "mailroom_data_dir": tmp_path,
    }
    base.update(fields)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]
