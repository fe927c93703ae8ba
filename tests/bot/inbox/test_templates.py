"""Saved replies (bot/inbox/templates.py): filled in for the customer, edited in the modal and
sent like a thread reply (shown in the thread with who sent it). Who manages them through
/mail-template is in tests/handlers/commands/test_template.py."""

from __future__ import annotations

import json

from tests.support.harness import Harness
from tests.support.inbox import add_template, click
from tests.support.slack_requests import plain_input
from tests.support.threads import CHANNEL, ephemeral_to, open_thread, reactions
from tests.support.wait import wait_until


def test_a_template_is_filled_edited_and_sent_like_a_thread_reply(harness: Harness) -> None:
    h = harness
    account, _, ts = open_thread(h, user="UALICE")
    scope = f"mailbox:{account.address}"
    # Added as /mail-template adds them (who may add them: tests/handlers/commands/test_template.py).
    pricing = "Hi {customer_name},\n\nour price is 10 EUR.\n\n{sender_name} at {mailbox_email}"
    assert add_template(h, "UALICE", scope, "Pricing", pricing) == {}
    assert add_template(h, "UADMIN", "", "Thanks", "Thank you {customer_name}!") == {}

    click(h, "template_reply_open", "UALICE", ts)
    view = wait_until(
        lambda: (v := h.slack.last_view()) and v.get("callback_id") == "template_reply" and v,
        message="the template reply modal",
    )
    body_block = next(b for b in view["blocks"] if b.get("block_id", "").startswith("body_"))
    filled = body_block["element"]["initial_value"]
    assert filled.startswith("Hi Carla Cliente,")
    assert f"Ualice at {account.address}" in filled

    # Picking the other template refills the text.
    picker = view["blocks"][0]["elements"][0]
    other = next(o["value"] for o in picker["options"] if "Thanks" in o["text"]["text"])
    h.client.action(
        "template_pick",
        other,
        "UALICE",
        view=view,
        action_type="static_select",
        block_id="template_choice",
    )
    wait_until(
        lambda: "Thank you Carla Cliente!" in json.dumps(h.slack.last_view()),
        message="the modal refilled",
    )
    view = h.slack.last_view()
    body_block = next(b for b in view["blocks"] if b.get("block_id", "").startswith("body_"))
    edited = "Thank you Carla Cliente! The contract is attached to our next mail."
    answer = h.client.submit_view(
        "template_reply",
        {body_block["block_id"]: {"value": plain_input(edited)}},
        "UALICE",
        view=view,
    )
    assert answer.status_code == 200
    assert not answer.content or answer.json() == {}

    mail = h.smtp.wait_for_messages(1)[0]
    assert edited in mail.message.get_body(("plain",)).get_content()
    assert mail.recipients == ["carla@customer.test"]
    post = next(
        m for m in h.slack.thread(CHANNEL, ts) if "replied with a saved reply" in m.get("text", "")
    )
    assert "<@UALICE>" in post["text"]
    wait_until(lambda: post["ts"] in reactions(h, "white_check_mark"), message="the ✅")

    # Someone who may not answer from the mailbox cannot send one.
    click(h, "template_reply_open", "UBOB", ts)
    ephemeral_to(h, "UBOB", "cannot handle this conversation")
    assert len(h.smtp.messages) == 1
