"""Channel messages (handlers.events.messages): which events are a person's thread reply.

Replies going out as email, end to end, are tested in tests/bot/test_replies.py."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.events.messages import is_human_thread_reply

REPLY: dict[str, Any] = {
    "type": "message",
    "channel": "C_SALES",
    "user": "UALICE",
    "text": "Thanks, on its way.",
    "ts": "1700000000.000200",
    "thread_ts": "1700000000.000100",
}


@pytest.mark.parametrize(
    "changes",
    [{}, {"subtype": "file_share"}, {"subtype": "thread_broadcast"}],
    ids=["plain", "with-files", "also-sent-to-channel"],
)
def test_a_person_s_reply_in_a_thread_counts(changes: dict[str, Any]) -> None:
    assert is_human_thread_reply({**REPLY, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"subtype": "message_changed"},
        {"subtype": "message_deleted"},
        {"subtype": "channel_join"},
        {"subtype": "bot_message"},
        {"bot_id": "B123"},
        {"user": None},
        {"thread_ts": None},
        {"thread_ts": "1700000000.000200"},  # a thread's root post is not a reply
    ],
    ids=["edit", "deletion", "join", "bot-subtype", "bot-id", "no-user", "top-level", "root"],
)
def test_edits_bots_and_top_level_posts_do_not(changes: dict[str, Any]) -> None:
    event = {key: value for key, value in {**REPLY, **changes}.items() if value is not None}
    assert not is_human_thread_reply(event)
