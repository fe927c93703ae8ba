"""`all:` replies: also to the customer mail's To/Cc (never the mailbox itself), shown on
the post, and still capped at MAX_REPLY_RECIPIENTS."""

from __future__ import annotations

import json

from bot.formatting.outbound import MAX_REPLY_RECIPIENTS
from tests.bot.test_replies import CHANNEL, outbound_rows
from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


def thread_with_copies(h: Harness, cc: str) -> tuple[str, int, str]:
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    raw = make_email(
        to=f"{account.address}, Bob <bob@customer.test>",
        extra_headers={"Cc": cc.replace("{me}", account.address)},
    )
    h.deliver(account, raw)
    assert h.sync(mailbox.id).posted == 1
    return account.address, mailbox.id, h.slack.top_level(CHANNEL)[-1]["ts"]


def test_all_prefix_copies_the_original_to_and_cc_but_not_the_mailbox(harness: Harness) -> None:
    h = harness
    own, _, ts = thread_with_copies(h, "Dave <dave@customer.test>, {me}")
    root = json.dumps(h.slack.message(CHANNEL, ts)["blocks"])
    assert "Copied: bob@customer.test, dave@customer.test" in root
    assert f"Copied: {own}" not in root

    h.reply(CHANNEL, ts, "Just Carla.")
    first = h.smtp.wait_for_messages(1)[0]
    assert first.recipients == ["carla@customer.test"]

    h.reply(CHANNEL, ts, "all: Thanks everyone, see you Monday.")
    mail = h.smtp.wait_for_messages(2)[1]
    assert sorted(mail.recipients) == [
        "bob@customer.test",
        "carla@customer.test",
        "dave@customer.test",
    ]
    assert own not in mail.recipients
    assert "bob@customer.test" in mail.message["Cc"] and "dave@customer.test" in mail.message["Cc"]
    body = mail.message.get_body(("plain",)).get_content()
    assert body.startswith("Thanks everyone") and "all:" not in body
    wait_until(
        lambda: any(
            "dave@customer.test" in m.get("text", "") and "Reply sent" in m.get("text", "")
            for m in h.slack.thread(CHANNEL, ts)
        ),
        message="the confirmation naming the copies",
    )


def test_all_reply_beyond_the_cap_is_refused_and_nothing_sent(harness: Harness) -> None:
    h = harness
    many = ", ".join(f"p{n}@customer.test" for n in range(MAX_REPLY_RECIPIENTS))
    _, mailbox_id, ts = thread_with_copies(h, many)
    h.reply(CHANNEL, ts, "all: hello crowd")
    wait_until(
        lambda: outbound_rows(h, mailbox_id) and outbound_rows(h, mailbox_id)[0].state == "failed",
        message="the reply refused",
    )
    assert h.smtp.messages == []
    assert "at most" in (outbound_rows(h, mailbox_id)[0].error or "")
