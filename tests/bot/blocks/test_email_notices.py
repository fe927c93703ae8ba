"""Notification text, file lists and the "could not be shown" notice (issue 10 items 3, 5, 8a)."""

from __future__ import annotations

import json

from bot.blocks.email import email_post_blocks, mail_failure_admin_text, mail_failure_blocks
from bot.formatting.inbound import Attachment
from storage.models import Message
from tests.bot.blocks.test_email_blocks import HOSTILE, inbound, mailbox


def test_the_notification_text_names_the_sender_as_the_post_does() -> None:
    parsed = inbound(from_name="Carla Cliente", from_address="carla@customer.test")
    text, _ = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True)
    assert text == "Email from Carla Cliente: Pricing"


def test_the_notification_text_of_our_own_mail_says_sent_by() -> None:
    parsed = inbound(from_name="Ventas Acme", from_address="ventas@example.com", to=["c@x.test"])
    text, _ = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=False, sent_copy=True)
    assert text == "Sent by Ventas Acme: Pricing"
    assert "Email from" not in text


def test_hostile_sender_names_in_the_notification_text_are_escaped() -> None:
    parsed = inbound(from_name="<!channel> <@U123>", subject="<#C1> hi")
    text, _ = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True)
    for needle in HOSTILE:
        assert needle not in text


def test_many_recipients_are_counted_not_listed() -> None:
    parsed = inbound(to=[f"p{n}@x.test" for n in range(50)], to_more=39_950)
    _, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True, sent_copy=True)
    assert "and 39,950 more" in json.dumps(blocks)


def test_files_not_uploaded_are_listed_by_name_and_size_escaped() -> None:
    files = [
        Attachment(f"<!here>-{n}.pdf", "application/pdf", 2048, b"", skipped="too_many")
        for n in range(20)
    ]
    parsed = inbound(attachments=files)
    _, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True)
    shown = json.dumps(blocks)
    assert "20 more files not uploaded here: &lt;!here&gt;-0.pdf (2.0 KB)" in shown
    assert "and 5 more" in shown
    assert "<!here>" not in shown


def test_the_failure_notice_is_escaped_and_has_a_retry_button() -> None:
    row = Message(
        id=12,
        mailbox_id=7,
        message_id="<m@x>",
        direction="in",
        state="ingest_failed",
        from_name="<!channel>",
        subject="<https://evil.test|bank>",
    )
    text, blocks = mail_failure_blocks(row, "Slack refused the post (invalid_blocks).")
    rendered = json.dumps({"text": text, "blocks": blocks})
    for needle in HOSTILE:
        assert needle not in rendered
    assert "could not be shown" in text and "invalid_blocks" in text
    [button] = blocks[-1]["elements"]
    assert (button["action_id"], button["value"]) == ("email_ingest_retry", "12")
    admin = mail_failure_admin_text(mailbox(), row, "x", "C_SALES")
    assert "<#C_SALES>" in admin and "<!channel>" not in admin
    assert "<#" not in mail_failure_admin_text(mailbox(), row, "x", "C1|<!here>")
