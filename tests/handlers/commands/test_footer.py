"""/mail-footer through signed requests: who may edit which footer, and the workspace default."""

from __future__ import annotations

from tests.support.footers import GOOD, open_editor, save
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


def test_footer_permissions_and_workspace_default(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    shared = h.connect(account, user="UADMIN", kind="shared", channel="C_SHARED")
    h.sync(shared.id)
    h.client.command("/mail-role", "<@USALES> sales", "UADMIN")

    # A sales user may answer from the shared mailbox but not edit its footer.
    h.client.command("/mail-footer", shared.address, "USALES")
    refusal = wait_until(lambda: h.slack.ephemerals("USALES"), message="refusal")[-1]["text"]
    assert "footer" in refusal and not h.slack.calls_to("views.open")
    # Nor may they edit the workspace default.
    h.client.command("/mail-footer", "default", "USALES")
    wait_until(lambda: len(h.slack.ephemerals("USALES")) > 1, message="second refusal")
    assert not h.slack.calls_to("views.open")

    # The admin sets the workspace default: the shared mailbox (no footer of its own) uses it.
    view = open_editor(h, "UADMIN", "default")
    targets = [o["value"] for o in view["blocks"][0]["accessory"]["options"]]
    assert targets == ["default", str(shared.id)]
    assert (
        save(
            h,
            "UADMIN",
            view,
            {**GOOD, "format": "plain", "text": "Sent by {sender_name} for {company}"},
        )
        == {}
    )
    h.deliver(account, make_email(to=account.address, subject="Order"))
    h.sync(shared.id)
    root = h.slack.top_level("C_SHARED")[0]
    h.reply("C_SHARED", root["ts"], "On its way.", user="USALES")
    mail = h.smtp.wait_for_messages(1)[0].message
    plain = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "-- \nSent by Usales for Acme & Co" in plain
