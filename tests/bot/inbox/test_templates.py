"""Saved replies: managed by the mailbox's managers, filled in for the customer, edited in
the modal and sent like a thread reply (shown in the thread with who sent it)."""

from __future__ import annotations

import json

from tests.bot.inbox.steps import click
from tests.bot.test_replies import CHANNEL, ephemeral_to, open_thread, reactions
from tests.support.harness import Harness
from tests.support.slack_requests import plain_input
from tests.support.wait import wait_until


def add_template(h: Harness, user: str, scope: str, name: str, body: str) -> dict:
    before = len(h.slack.calls_to("views.open"))
    h.client.command("/mail-template", f"add {scope}".strip(), user, channel_id=CHANNEL)
    wait_until(lambda: len(h.slack.calls_to("views.open")) > before, message="the template modal")
    view = h.slack.last_view()
    values = {"name": {"value": plain_input(name)}, "body": {"value": plain_input(body)}}
    answer = h.client.submit_view("template_save", values, user, view=view)
    return answer.json() if answer.content else {}


def test_a_template_is_filled_edited_and_sent_like_a_thread_reply(harness: Harness) -> None:
    h = harness
    account, _, ts = open_thread(h, user="UALICE")
    scope = f"mailbox:{account.address}"
    # Only managers: Bob cannot add to Alice's mailbox, Alice cannot add workspace ones.
    h.client.command("/mail-template", f"add {scope}", "UBOB", channel_id=CHANNEL)
    ephemeral_to(h, "UBOB", "You have no mailbox")
    h.client.command("/mail-template", "add", "UALICE", channel_id=CHANNEL)
    ephemeral_to(h, "UALICE", "Only Mailroom admins")
    bad = add_template(h, "UALICE", scope, "Oops", "Hi {customer_nam}")
    assert "Unknown tag {customer_nam}" in bad["errors"]["body"]
    assert (
        add_template(
            h,
            "UALICE",
            scope,
            "Pricing",
            "Hi {customer_name},\n\nour price is 10 EUR.\n\n{sender_name} at {mailbox_email}",
        )
        == {}
    )
    assert add_template(h, "UADMIN", "", "Thanks", "Thank you {customer_name}!") == {}

    h.client.command("/mail-template", "", "UALICE", channel_id=CHANNEL)
    listing = ephemeral_to(h, "UALICE", "saved replies")
    assert "Pricing" in json.dumps(listing["blocks"]) and "Thanks" in json.dumps(listing["blocks"])

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
    h.client.command("/mail-template", f"remove Pricing {scope}", "UALICE", channel_id=CHANNEL)
    ephemeral_to(h, "UALICE", "Removed the saved reply")
    assert len(h.smtp.messages) == 1
