"""Thread replies out as email: notes, recipients, formatting, files, failures and roles."""

from __future__ import annotations

import json
import uuid

from sqlmodel import select

from storage.models import Message
from tests.support.harness import Harness, MailAccount, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def open_thread(
    h: Harness,
    *,
    user: str = "UALICE",
    kind: str = "personal",
    channel: str = CHANNEL,
    **email: str,
) -> tuple[MailAccount, int, str]:
    """Connect a mailbox, let a customer mail arrive; return (account, mailbox id, thread ts)."""
    account = h.new_account()
    mailbox = h.connect(account, user=user, kind=kind, channel=channel)
    email.setdefault("subject", "Question about pricing")
    h.deliver(account, make_email(to=account.address, **email))
    assert h.sync(mailbox.id).posted == 1
    return account, mailbox.id, h.slack.top_level(channel)[-1]["ts"]


def outbound_rows(h: Harness, mailbox_id: int) -> list[Message]:
    """Replies recorded from Slack messages (not mail found in the Sent folder)."""
    with h.ctx.db.session() as session:
        return list(
            session.exec(
                select(Message).where(
                    Message.mailbox_id == mailbox_id,
                    Message.direction == "out",
                    Message.source_ts.is_not(None),
                )
            )
        )


def reactions(h: Harness, name: str) -> list[str]:
    return [
        c.params["timestamp"]
        for c in h.slack.calls_to("reactions.add")
        if c.params.get("name") == name
    ]


def ephemeral_to(h: Harness, user: str, words: str) -> dict:
    return wait_until(
        lambda: next((e for e in h.slack.ephemerals(user) if words in e["text"]), None),
        message=f"ephemeral to {user} saying {words!r}",
    )


def test_internal_note_is_never_sent_and_is_marked(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h)
    note = h.reply(CHANNEL, ts, "Note: this customer owes us money")
    assert note.status_code == 200
    wait_until(lambda: reactions(h, "lock"), message="the note's lock reaction")
    h.reply(CHANNEL, ts, "Hello Carla, here is the answer.")
    sent = h.smtp.wait_for_messages(1)
    wait_until(lambda: reactions(h, "white_check_mark"), message="sent reaction")
    assert len(h.smtp.messages) == 1
    assert "owes us money" not in sent[0].raw.decode(errors="replace")
    assert len(outbound_rows(h, mailbox_id)) == 1


def test_reply_goes_to_reply_to_when_the_customer_set_one(harness: Harness) -> None:
    h = harness
    _, _, ts = open_thread(h, reply_to="Billing Team <billing@customer.test>")
    h.reply(CHANNEL, ts, "Sent to billing.")
    mail = h.smtp.wait_for_messages(1)[0]
    assert mail.recipients == ["billing@customer.test"]
    assert mail.message["To"] == "billing@customer.test"


def test_slack_markup_becomes_readable_text_and_html(harness: Harness) -> None:
    h = harness
    _, _, ts = open_thread(h)
    h.reply(
        CHANNEL,
        ts,
        "Hi, <@UBOB> will call you. See "
        "<https://example.com/p?a=1&amp;b=2|our price list> &amp; reply "
        "&lt;soon&gt; *thanks*",
    )
    mail = h.smtp.wait_for_messages(1)[0].message
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert (
        "Hi, @Ubob will call you. See our price list (https://example.com/p?a=1&b=2) "
        "& reply <soon> thanks"
    ) in plain
    assert "*thanks*" not in plain  # Slack's marks are for the HTML part only
    assert "<@UBOB>" not in plain and "&amp;" not in plain
    assert '<a href="https://example.com/p?a=1&amp;b=2">our price list</a>' in html
    assert "<strong>@Ubob</strong>" in html and "<strong>thanks</strong>" in html
    assert "&amp; reply &lt;soon&gt;" in html
    assert [c.params["user"] for c in h.slack.calls_to("users.info")].count("UBOB") >= 1


def test_a_slack_file_in_the_reply_is_attached_to_the_email(harness: Harness) -> None:
    h = harness
    _, _, ts = open_thread(h)
    data = b"%PDF-1.4 the quote " + uuid.uuid4().bytes
    shared = h.slack.add_file("quote.pdf", data, mimetype="application/pdf", filetype="pdf")
    h.reply(CHANNEL, ts, "Here is the quote.", files=[shared])
    mail = h.smtp.wait_for_messages(1)[0].message
    attachments = list(mail.iter_attachments())
    assert [(a.get_filename(), a.get_content_type(), a.get_content()) for a in attachments] == [
        ("quote.pdf", "application/pdf", data)
    ]
    download = h.slack.calls_to("files-pri")[0]
    assert download.headers["authorization"].startswith("Bearer xoxb-")


def test_send_failure_is_explained_in_the_thread_and_try_again_works(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h)
    h.smtp.fail_next(550, "5.7.1 Message rejected as spam")
    h.reply(CHANNEL, ts, "Our offer, once more.", user="UALICE")
    notice = wait_until(
        lambda: next(
            (m for m in h.slack.thread(CHANNEL, ts) if "not sent" in m.get("text", "")), None
        ),
        message="the failure notice in the thread",
    )
    assert "5.7.1 Message rejected as spam" in json.dumps(notice["blocks"])
    assert "<@UALICE>" in notice["text"]
    button = notice["blocks"][-1]["elements"][0]
    assert button["action_id"] == "reply_retry"
    assert not h.smtp.messages
    assert outbound_rows(h, mailbox_id)[0].state == "failed"

    # Someone else cannot resend it for the author.
    h.client.action("reply_retry", button["value"], "UBOB", channel_id=CHANNEL, message=notice)
    ephemeral_to(h, "UBOB", "Only the author")
    h.client.action("reply_retry", button["value"], "UALICE", channel_id=CHANNEL, message=notice)
    mail = h.smtp.wait_for_messages(1)[0]
    assert "Our offer, once more." in mail.message.get_body(("plain",)).get_content()
    wait_until(lambda: outbound_rows(h, mailbox_id)[0].state == "sent", message="marked sent")
    wait_until(lambda: reactions(h, "white_check_mark"), message="sent reaction")
    assert len(h.smtp.messages) == 1


def test_shared_mailbox_replies_are_for_sales_and_admins(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h, user="UADMIN", kind="shared")
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    ephemeral_to(h, "UADMIN", "now has the sales role")

    h.reply(CHANNEL, ts, "Bob tries to answer.", user="UBOB")
    refusal = ephemeral_to(h, "UBOB", "for sales and admin users")
    assert refusal["thread_ts"] == ts
    h.reply(CHANNEL, ts, "Sales answers.", user="USALES")
    mail = h.smtp.wait_for_messages(1)[0]
    assert "Sales answers." in mail.message.get_body(("plain",)).get_content()
    assert [r.author_id for r in outbound_rows(h, mailbox_id)] == ["USALES"]


def test_personal_mailbox_replies_only_from_its_owner(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h, user="UALICE")
    h.reply(CHANNEL, ts, "Not my mailbox.", user="UBOB")
    ephemeral_to(h, "UBOB", "personal mailbox")
    h.reply(CHANNEL, ts, "Owner answers.", user="UALICE")
    h.smtp.wait_for_messages(1)
    assert [r.author_id for r in outbound_rows(h, mailbox_id)] == ["UALICE"]
    assert len(h.smtp.messages) == 1


def test_marketing_mailbox_never_sends_replies(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h, user="UADMIN", kind="marketing")
    h.reply(CHANNEL, ts, "Even an admin cannot.", user="UADMIN")
    ephemeral_to(h, "UADMIN", "marketing mailbox")
    assert outbound_rows(h, mailbox_id) == []
    assert h.smtp.messages == []


def test_inactive_mailbox_refuses_and_queues_nothing(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h, user="UALICE")
    h.client.action("mailbox_toggle_active", str(mailbox_id), "UALICE")
    ephemeral_to(h, "UALICE", "is paused")
    assert not h.ctx.mailboxes.get(mailbox_id).active
    h.reply(CHANNEL, ts, "Anyone there?", user="UALICE")
    ephemeral_to(h, "UALICE", "is inactive, so nothing was sent and nothing was queued")
    assert outbound_rows(h, mailbox_id) == []
    assert h.smtp.messages == []


def test_edits_deletions_and_bot_messages_send_nothing(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h)
    original = {
        "type": "message",
        "user": "UALICE",
        "text": "Edited text",
        "ts": "1800000001.000100",
        "thread_ts": ts,
    }
    h.client.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "hidden": True,
            "ts": "1800000002.000100",
            "message": original,
            "previous_message": {**original, "text": "First text"},
        }
    )
    h.client.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": CHANNEL,
            "hidden": True,
            "ts": "1800000003.000100",
            "deleted_ts": original["ts"],
            "previous_message": original,
        }
    )
    h.client.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "UOTHERBOT",
            "bot_id": "BOTHER",
            "text": "An integration speaks",
            "ts": "1800000004.000100",
            "thread_ts": ts,
        }
    )
    h.client.event(
        {
            "type": "message",
            "subtype": "bot_message",
            "channel": CHANNEL,
            "bot_id": "BOTHER",
            "text": "Another bot",
            "ts": "1800000005.000100",
            "thread_ts": ts,
        }
    )
    h.reply(CHANNEL, ts, "The only real reply.")
    mail = h.smtp.wait_for_messages(1)[0]
    wait_until(lambda: reactions(h, "white_check_mark"), message="sent reaction")
    assert len(h.smtp.messages) == 1
    assert "The only real reply." in mail.message.get_body(("plain",)).get_content()
    assert len(outbound_rows(h, mailbox_id)) == 1


def test_messages_outside_mailroom_threads_send_nothing(harness: Harness) -> None:
    h = harness
    _, mailbox_id, ts = open_thread(h)
    h.client.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "user": "UALICE",
            "text": "A top-level chat message",
            "ts": "1800000010.000100",
        }
    )
    h.reply(CHANNEL, "1700000000.000001", "A reply in some other thread")
    h.reply(CHANNEL, ts, "The reply that counts.")
    h.smtp.wait_for_messages(1)
    assert len(h.smtp.messages) == 1
    assert len(outbound_rows(h, mailbox_id)) == 1
