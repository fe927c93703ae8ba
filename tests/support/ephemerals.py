"""Waiting for the ephemeral answers a person gets from the app in the fake Slack."""

from __future__ import annotations

import json
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


def status_text(h: Harness, user: str = "UALICE") -> str:
    """/mail-status as ``user``: the whole answer (text and blocks) as one string."""
    return json.dumps(status_for(h, user))


def answer_to(h: Harness, action_id: str, value: str, user: str = "UALICE") -> str:
    """Press the button ``action_id`` (value ``value``) in C_SALES as ``user``; return the text
    of the ephemeral answer that follows."""
    before = len(h.slack.ephemerals(user))
    response = h.client.action(action_id, value, user, channel_id="C_SALES")
    assert response.status_code == 200, response.text
    return str(
        wait_until(lambda: h.slack.ephemerals(user)[before:], message="the answer")[0]["text"]
    )
