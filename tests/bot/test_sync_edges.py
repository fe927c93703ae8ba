"""Sync edge cases: unrelated Sent mail stays out of Slack; one refused post never blocks."""

from __future__ import annotations

from tests.support.harness import Harness, make_email


def test_sent_mail_outside_known_threads_is_not_posted(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    # Someone writes to a supplier from their mail client: not a customer conversation.
    h.deliver(
        account,
        make_email(
            sender=account.address,
            to="supplier@vendor.test",
            subject="Invoice 42",
            body="Please find the invoice.",
        ),
        folder="Sent",
    )
    result = h.sync(mailbox.id)
    assert result.new == 1 and result.posted == 0
    assert h.slack.top_level("C_SALES") == []
    # ...but an answer sent from the mail client to a customer thread shows up in it.
    customer_id = "<c1@customer.test>"
    h.deliver(account, make_email(to=account.address, message_id=customer_id))
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[0]
    h.deliver(
        account,
        make_email(
            sender=account.address,
            to="carla@customer.test",
            subject="Re: Question about pricing",
            body="Sent from Thunderbird",
            in_reply_to=customer_id,
            references=customer_id,
        ),
        folder="Sent",
    )
    h.sync(mailbox.id)
    thread = h.slack.thread("C_SALES", root["ts"])
    assert any("Sent from Thunderbird" in str(m.get("blocks")) for m in thread)
    assert len(h.slack.top_level("C_SALES")) == 1


def test_a_post_slack_refuses_is_retried_as_plain_text(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)
    h.deliver(account, make_email(to=account.address, subject="Odd layout", body="Body <b>x</b>"))
    h.slack.fail_next("chat.postMessage", status=200, retry_after=None, error="invalid_blocks")
    result = h.sync(mailbox.id)
    assert result.error is None and result.posted == 1
    posts = h.slack.top_level("C_SALES")
    assert len(posts) == 1
    assert "Odd layout" in posts[0]["text"] and not posts[0].get("blocks")
    assert "&lt;b&gt;" in posts[0]["text"]  # still escaped
    assert h.ctx.mailboxes.get(mailbox.id).health == "ok"
