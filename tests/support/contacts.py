"""Asking the app about contacts (/mail-contacts, /mail-contact) the way a person does."""

from __future__ import annotations

import json

from tests.support.harness import Harness
from tests.support.wait import wait_until


def command(h: Harness, text: str, user: str = "UALICE", cmd: str = "/mail-contacts") -> str:
    """Run a command; return the text and blocks of the answer it got."""
    before = len(h.slack.ephemerals(user))
    h.client.command(cmd, text, user)
    answer = wait_until(
        lambda: h.slack.ephemerals(user)[before:], message=f"answer to {cmd} {text}"
    )[0]
    return answer["text"] + json.dumps(answer.get("blocks") or [])


USAGE_EN = "Use `/mail-contact ana@customer.com`"
USAGE_ES = "Usa `/mail-contact ana@customer.com`"


def ephemeral_after(h: Harness, user: str, before: int) -> str:
    """The text of the first ephemeral ``user`` got after the first ``before``."""
    new = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {user}")
    return str(new[0]["text"])


def contact_usage(h: Harness, user: str) -> str:
    """/mail-contact without an address: the usage sentence, as an ephemeral answer."""
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-contact", "", user).status_code == 200
    return ephemeral_after(h, user, before)
