"""The thread notices of a reply (held, sent, undone, failed) and the Send later modal, as
plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.blocks.replies import (
    held_reply_blocks,
    held_reply_done_blocks,
    send_failed_blocks,
    send_later_modal,
    sent_confirmation_blocks,
)
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


def held(**fields: object) -> Message:
    base: dict[str, object] = {
        "id": 12,
        "mailbox_id": 1,
        "message_id": "<h@y>",
        "direction": "out",
        "state": "held",
        "author_id": "UALICE",
        "to_addresses": "carla@customer.test",
    }
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


def test_a_held_reply_offers_undo_and_send_later_to_its_author() -> None:
    when = datetime(2024, 5, 6, 7, 8, tzinfo=UTC)
    text, blocks = held_reply_blocks(held(send_after=when), scheduled=False)
    assert text.startswith(
        f":hourglass_flowing_sand: <@UALICE>'s reply to carla@customer.test leaves <!date^"
        f"{int(when.timestamp())}^"
    )
    buttons = blocks[1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("reply_undo", "12"),
        ("reply_send_later", "12"),
    ]
    assert blocks[2]["elements"][0]["text"] == "Only the author can undo or reschedule it."
    text, _ = held_reply_blocks(held(send_after=when), scheduled=True)
    assert text.startswith(":clock3: <@UALICE>'s reply to carla@customer.test is scheduled for")
    text, _ = held_reply_blocks(held(author_id=None, to_addresses="<!here>"), scheduled=False)
    assert text == ":hourglass_flowing_sand: The reply to &lt;!here&gt; leaves in a moment."


def test_a_held_reply_notice_ends_without_buttons() -> None:
    text, blocks = held_reply_done_blocks(held(), "cancelled")
    assert text == ":leftwards_arrow_with_hook: <@UALICE> undid this reply: nothing was sent."
    assert [b["type"] for b in blocks] == ["context"]
    assert held_reply_done_blocks(held(author_id=None), "sent")[0] == (
        ":outbox_tray: The reply has left."
    )


def test_the_sent_note_lists_recipients_and_files_left_out_escaped() -> None:
    text, blocks = sent_confirmation_blocks(["a@x.test", "<@U1>@x.test"], ["<!channel>.pdf"])
    assert text == ":white_check_mark: Reply sent to a@x.test, &lt;@U1&gt;@x.test."
    note = blocks[0]["elements"][1]["text"]
    assert note.startswith(":paperclip: Not attached: &lt;!channel&gt;.pdf.")
    assert len(sent_confirmation_blocks([], [])[1][0]["elements"]) == 1
    assert sent_confirmation_blocks([], [])[0] == ":white_check_mark: Reply sent to nobody."


def test_send_later_asks_a_day_and_time_for_the_held_reply() -> None:
    view = send_later_modal(12, "Europe/Madrid")
    assert (view["callback_id"], view["private_metadata"]) == ("reply_send_later", "12")
    assert view["submit"]["text"] == "Schedule"
    assert [b["block_id"] for b in view["blocks"]] == ["day", "time"]
