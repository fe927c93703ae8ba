"""What the app posted in a channel (or a DM) of the fake Slack."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness


def channel_texts(h: Harness, channel: str) -> list[str]:
    """The text of every message in ``channel``."""
    return [str(m.get("text") or "") for m in h.slack.messages(channel)]


def posts_saying(h: Harness, channel: str, words: str) -> list[dict[str, Any]]:
    """The messages in ``channel`` whose text contains ``words``."""
    return [m for m in h.slack.messages(channel) if words in m["text"]]
