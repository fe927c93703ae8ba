"""Waiting for the ephemeral answers a person gets from the app in the fake Slack."""

from __future__ import annotations

from typing import Any

from tests.support.harness import Harness
from tests.support.wait import wait_until


def ephemeral_to(h: Harness, user: str, words: str) -> dict[str, Any]:
    """The first ephemeral to ``user`` whose text contains ``words`` (waits for it)."""
    return wait_until(
        lambda: next((e for e in h.slack.ephemerals(user) if words in e["text"]), None),
        message=f"ephemeral to {user} saying {words!r}",
    )


def status_for(h: Harness, user: str) -> dict[str, Any]:
    """Run /mail-status as ``user`` and return the ephemeral answer that follows."""
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-status", "", user).status_code == 200
    return wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"status for {user}")[0]
