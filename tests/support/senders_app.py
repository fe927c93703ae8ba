"""The app wired for /mail-verify and /dkim-check: moto's SES, the test DNS server.

``senders_app(**env)`` (fixture) builds the whole app (tests.support.harness) with SES
switched on, boto3 pointed at moto through AWS_ENDPOINT_URL, the resolver at the test DNS
server (0.5 s timeout) and CADMIN as the admin channel; keyword arguments override or add
environment settings (e.g. ``MAILROOM_SES_ENABLED="false"``, ``AWS_ENDPOINT_URL=...``).
``senders_harness`` is that app with the defaults.

``verify`` and ``dkim_check`` run the commands and return the ephemeral answer that follows;
``buttons``, ``shown``, ``line_sections``, ``lines_for`` and ``status_of`` read such answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until

ADMIN_CHANNEL = "CADMIN"

STATUS_EMOJI = {
    "pass": ":white_check_mark: pass",
    "warn": ":warning: warn",
    "fail": ":x: fail",
    "unknown": ":grey_question: could not check",
}


@pytest.fixture
def senders_app(
    harness_with: HarnessFactory, dns_server: TestDnsServer, ses_endpoint: MotoSes
) -> Callable[..., Harness]:
    def build(**env: str) -> Harness:
        settings = {
            "MAILROOM_SES_ENABLED": "true",
            "AWS_ENDPOINT_URL": ses_endpoint.url,
            "DNS_NAMESERVERS": dns_server.address,
            "DNS_TIMEOUT_SECONDS": "0.5",
            "MAILROOM_ADMIN_CHANNEL": ADMIN_CHANNEL,
        }
        return harness_with(**(settings | env))

    return build


@pytest.fixture
def senders_harness(senders_app: Callable[..., Harness]) -> Harness:
    return senders_app()


def verify(h: Harness, text: str, user: str = "UADMIN") -> dict[str, Any]:
    """Run /mail-verify and return the ephemeral answer that follows it."""
    before = len(h.slack.ephemerals(user))
    response = h.client.command("/mail-verify", text, user)
    assert response.status_code == 200, response.text
    return wait_until(
        lambda: h.slack.ephemerals(user)[before:],
        timeout=15,
        message=f"the answer to /mail-verify {text}",
    )[0]


def dkim_check(h: Harness, text: str, user: str = "UADMIN") -> dict[str, Any]:
    """Run /dkim-check and return the ephemeral answer that follows it."""
    before = len(h.slack.ephemerals(user))
    response = h.client.command("/dkim-check", text, user)
    assert response.status_code == 200, response.text
    answers = wait_until(
        lambda: h.slack.ephemerals(user)[before:],
        timeout=15,
        message=f"the answer to /dkim-check {text}",
    )
    return answers[0]


def buttons(answer: dict[str, Any]) -> dict[str, str]:
    """The answer's buttons: label -> value."""
    return {
        e["text"]["text"]: e.get("value", "")
        for b in answer.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
    }


def shown(answer: dict[str, Any]) -> str:
    """Everything the answer shows: its text and its blocks."""
    return " ".join([answer["text"], json.dumps(answer.get("blocks") or [])])


def line_sections(answer: dict[str, Any]) -> list[str]:
    """The texts of the per-check sections (each starts with a status label)."""
    return [
        b["text"]["text"]
        for b in answer["blocks"] or []
        if b["type"] == "section" and b["text"]["text"].startswith(tuple(STATUS_EMOJI.values()))
    ]


def lines_for(answer: dict[str, Any], check: str) -> list[str]:
    return [t for t in line_sections(answer) if f"· *{check}* " in t]


def status_of(text: str) -> str:
    return next(s for s, label in STATUS_EMOJI.items() if text.startswith(label))
