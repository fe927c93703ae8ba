"""The notices of a reply that could not be sent, as plain dicts."""

from __future__ import annotations

import json

from bot.blocks.replies import send_failed_blocks
from storage.models import Message


def test_send_failure_notice_escapes_a_hostile_recipient_and_answer() -> None:
    row = Message(
        id=9,
        mailbox_id=1,
        message_id="<x@y>",
        direction="out",
        state="failed",
        author_id="UALICE",
        to_addresses="<!channel>@customer.test",
    )
    text, blocks = send_failed_blocks(row, "550 <@U123> <https://evil|https://bank>")
    for rendered in (text, json.dumps(blocks)):
        assert "<!channel>" not in rendered and "<@U123>" not in rendered
        assert "<https://evil" not in rendered
    assert text.count("<@UALICE>") == 1  # our own mention of the author stays a mention


def test_send_failure_notice_quotes_the_server_and_offers_try_again() -> None:
    row = Message(
        id=9,
        mailbox_id=1,
        message_id="<x@y>",
        direction="out",
        state="failed",
        author_id="UALICE",
        to_addresses="carla@customer.test",
    )
    text, blocks = send_failed_blocks(row, 'The server said: "550 <spam>"')
    assert "<@UALICE>" in text
    assert "550 &lt;spam&gt;" in blocks[0]["text"]["text"]
    # The notification text carries the same remote words, escaped the same way.
    assert "550 &lt;spam&gt;" in text and "<spam>" not in text
    button = blocks[1]["elements"][0]
    assert (button["action_id"], button["value"]) == ("reply_retry", "9")
