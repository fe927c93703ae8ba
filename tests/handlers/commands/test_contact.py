"""/mail-contact through signed requests: recent activity with a contact, in and out, with
thread links."""

from __future__ import annotations

from tests.support.contacts import command
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


def test_activity_in_and_out_with_who_answered_and_thread_links(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    h.deliver(
        account,
        make_email(
            sender="Carla <carla@customer.test>", to=account.address, subject="Invoice question"
        ),
    )
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[0]
    h.reply("C_SALES", root["ts"], "Sent it again.")
    h.smtp.wait_for_messages(1)

    answer = wait_until(
        lambda: (
            (a := command(h, "carla@customer.test", cmd="/mail-contact"))
            and ":outbox_tray:" in a
            and a
        ),
        message="activity with the reply",
    )
    assert ":inbox_tray: in" in answer and ":outbox_tray: out" in answer
    assert "answered by <@UALICE>" in answer and "Invoice question" in answer
    assert f"https://slack.com/app_redirect?channel=C_SALES&message_ts={root['ts']}" in answer
    # A whole company, and someone else who cannot see the mailbox.
    assert "Invoice question" in command(h, "@customer.test", cmd="/mail-contact")
    assert "No activity" in command(h, "carla@customer.test", user="UBOB", cmd="/mail-contact")
    assert mailbox.address in answer

    # Mail sent from an ordinary mail client (found in the Sent folder) counts as well.
    h.deliver(
        account,
        make_email(
            sender=account.address, to="Carla <carla@customer.test>", subject="Catalogue attached"
        ),
        folder="Sent",
    )
    h.sync(mailbox.id)
    answer = command(h, "carla@customer.test", cmd="/mail-contact")
    assert "Catalogue attached" in answer and "sent from the mailbox" in answer
