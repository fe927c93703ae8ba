"""handlers.common: what a listener's user-facing error answers look like."""

from __future__ import annotations

from handlers.common import user_facing
from providers.errors import UserError
from tests.support.harness import Harness
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def test_user_facing_error_answer_escapes_remote_words(harness: Harness) -> None:
    h = harness

    @user_facing(h.ctx)
    def listener(body: dict) -> None:
        raise UserError('The IMAP server said: "NO <!channel> <https://evil|https://bank>"')

    listener(body={"user_id": "UALICE", "channel_id": CHANNEL})
    answer = wait_until(
        lambda: next((e for e in h.slack.ephemerals("UALICE") if "IMAP" in e["text"]), None),
        message="the error answer",
    )
    assert "<!channel>" not in answer["text"] and "<https://evil" not in answer["text"]
    assert "&lt;!channel&gt;" in answer["text"]
