"""The product's spine, end to end through real parts: email → thread → reply → email."""

from __future__ import annotations

from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until


def root_posts(h: Harness, channel: str = "C_SALES") -> list[dict]:
    return [m for m in h.slack.top_level(channel) if "metadata" in m or m.get("blocks")]


def test_email_becomes_thread_and_reply_goes_out_with_threading_headers(
    harness_any_db: Harness,
) -> None:
    h = harness_any_db
    account = h.new_account()
    mailbox = h.connect(account)
    h.sync(mailbox.id)  # first run: starts from now

    first_id = "<first-1@customer.test>"
    h.deliver(
        account,
        make_email(
            to=account.address,
            message_id=first_id,
            subject="Question about pricing",
            body="Hello, how much is it?",
        ),
    )
    result = h.sync(mailbox.id)
    assert result.new == 1 and result.posted == 1, result

    roots = h.slack.top_level("C_SALES")
    assert len(roots) == 1
    root = roots[0]
    rendered = str(root["blocks"])
    assert "Question about pricing" in rendered and "how much is it" in rendered
    assert "carla@customer.test" in rendered

    # A sales person answers in the thread.
    h.reply("C_SALES", root["ts"], "Hi Carla, it is *50 EUR* a month.")
    sent = h.smtp.wait_for_messages(1)[0]
    mail = sent.message
    assert mail["To"] == "Carla Cliente <carla@customer.test>"
    assert sent.recipients == ["carla@customer.test"]
    assert mail["Subject"] == "Re: Question about pricing"
    assert mail["In-Reply-To"] == first_id
    assert first_id in mail["References"]
    assert account.address in mail["From"] and "Ana from Acme" in mail["From"]
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "it is 50 EUR a month" in plain and "*" not in plain.split("-- ")[0]
    assert "<strong>50 EUR</strong>" in html
    wait_until(lambda: h.slack.calls_to("reactions.add"), message="sent reaction")

    # The customer answers our reply: same thread, not a new conversation.
    h.deliver(
        account,
        make_email(
            to=account.address,
            subject="Re: Question about pricing",
            body="Great, I'll take it.",
            in_reply_to=mail["Message-ID"],
            references=f"{first_id} {mail['Message-ID']}",
        ),
    )
    h.sync(mailbox.id)
    assert len(h.slack.top_level("C_SALES")) == 1
    thread = h.slack.thread("C_SALES", root["ts"])
    assert any("take it" in str(m.get("blocks")) for m in thread)


def test_threads_follow_references_and_new_subjects_start_new_threads(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    first_id = "<order-1@customer.test>"
    h.deliver(account, make_email(to=account.address, message_id=first_id, subject="Order 1"))
    h.sync(mailbox.id)
    root = h.slack.top_level("C_SALES")[0]

    # A client that sets only References (no In-Reply-To) still lands in the thread...
    h.deliver(
        account,
        make_email(
            to=account.address,
            subject="Re: Order 1",
            body="Any news?",
            references=f"<unknown@elsewhere.test> {first_id}",
        ),
    )
    # ...while a fresh mail from the same customer is a new conversation.
    h.deliver(account, make_email(to=account.address, subject="Order 2", body="Another order"))
    assert h.sync(mailbox.id).posted == 2
    roots = h.slack.top_level("C_SALES")
    assert len(roots) == 2 and "Order 2" in str(roots[1]["blocks"])
    thread = h.slack.thread("C_SALES", root["ts"])
    assert len(thread) == 1 and "Any news?" in str(thread[0]["blocks"])

    # A reply in the thread answers the newest mail of that conversation.
    h.reply("C_SALES", root["ts"], "Shipped today.")
    mail = h.smtp.wait_for_messages(1)[0].message
    assert mail["Subject"] == "Re: Order 1"
    assert first_id in mail["References"]
