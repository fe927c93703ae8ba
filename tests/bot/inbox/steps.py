"""Steps shared by the team inbox tests: the triage line of a thread's root post, and its
buttons clicked as a person would."""

from __future__ import annotations

from tests.bot.test_replies import CHANNEL
from tests.support.harness import Harness
from tests.support.wait import wait_until


def root_post(h: Harness, ts: str) -> dict:
    message = h.slack.message(CHANNEL, ts)
    assert message is not None
    return message


def triage_line(h: Harness, ts: str) -> str:
    block = next(b for b in root_post(h, ts)["blocks"] if b.get("block_id") == "triage_state")
    return block["elements"][0]["text"]


def shows(h: Harness, ts: str, *words: str) -> str:
    def current() -> str | None:
        line = triage_line(h, ts)
        return line if all(w in line for w in words) else None

    return wait_until(current, message=f"the root post showing {words}")


def click(h: Harness, action: str, user: str, ts: str) -> None:
    answer = h.client.action(action, None, user, channel_id=CHANNEL, message=root_post(h, ts))
    assert answer.status_code == 200
