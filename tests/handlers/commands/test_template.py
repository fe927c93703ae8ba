"""/mail-template: saved replies added (through their modal), listed and removed, by the
mailbox's managers only (workspace ones by Mailroom admins); an unknown tag is refused."""

from __future__ import annotations

import json

from tests.support.harness import Harness
from tests.support.inbox import add_template
from tests.support.threads import CHANNEL, ephemeral_to, open_thread
from tests.support.wait import wait_until


def template_answer(h: Harness, user: str, text: str) -> dict:
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-template", text, user, channel_id=CHANNEL).status_code == 200
    return wait_until(
        lambda: h.slack.ephemerals(user)[before:], message="the /mail-template answer"
    )[-1]


def test_mail_template_adds_lists_and_removes_for_managers_only(harness: Harness) -> None:
    h = harness
    account, _, _ = open_thread(h, user="UALICE")
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

    listing = template_answer(h, "UALICE", "")
    assert "saved replies" in listing["text"]
    assert "Pricing" in json.dumps(listing["blocks"]) and "Thanks" in json.dumps(listing["blocks"])
    assert "Oops" not in json.dumps(listing["blocks"])

    assert (
        "Removed the saved reply" in template_answer(h, "UALICE", f"remove Pricing {scope}")["text"]
    )
    listing = json.dumps(template_answer(h, "UALICE", "")["blocks"])
    assert "Pricing" not in listing and "Thanks" in listing
