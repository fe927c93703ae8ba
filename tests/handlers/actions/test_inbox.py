"""The team inbox buttons on a thread's root post: which are offered, and Assign to me refused
to someone who may not answer from the mailbox."""

from __future__ import annotations

import json

from tests.support.harness import Harness
from tests.support.inbox import click, conversation, root_post, shows, thread_texts, triage_line
from tests.support.threads import ephemeral_to, open_thread
from tests.support.wait import wait_until


def test_root_post_shows_open_unassigned_and_assign_to_me_is_checked(harness: Harness) -> None:
    h = harness
    _, _, ts = open_thread(h, user="UALICE")
    line = triage_line(h, ts)
    assert "Open" in line and "Unassigned" in line
    ids = [
        e["action_id"]
        for b in root_post(h, ts)["blocks"]
        if b.get("block_id") == "triage_actions"
        for e in b["elements"]
    ]
    assert ids == [
        "triage_assign_me",
        "triage_assign",
        "triage_done",
        "triage_snooze",
        "template_reply_open",
    ]

    # Bob may not answer from Alice's personal mailbox, so he cannot take it.
    click(h, "triage_assign_me", "UBOB", ts)
    ephemeral_to(h, "UBOB", "cannot handle")
    assert conversation(h, ts).assignee_id is None

    click(h, "triage_assign_me", "UALICE", ts)
    shows(h, ts, "Assigned to <@UALICE>")
    wait_until(
        lambda: any("<@UALICE> took this conversation" in t for t in thread_texts(h, ts)),
        message="the change noted in the thread",
    )
    # The email part of the root post is kept as it was.
    assert "Question about pricing" in json.dumps(root_post(h, ts)["blocks"])
