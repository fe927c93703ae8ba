"""The email post (its notification text and file list), the "Show full email" modal and the
failure notices, as plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.blocks.email import (
    email_post_blocks,
    full_email_modal,
    mail_failure_admin_text,
    mail_failure_blocks,
    sync_failure_blocks,
    sync_recovered_text,
)
from bot.formatting.inbound import Attachment, InboundEmail
from locales import speaking
from storage.models import Mailbox, Message
from tests.support.block_kit import action_ids

HOSTILE = ("<!channel>", "<!here>", "<@U123>", "<https://evil", "<#C1>")


def mailbox(**fields: object) -> Mailbox:
    base = {
        "id": 7,
        "team_id": "T1",
        "kind": "personal",
        "owner_id": "UALICE",
        "address": "sales@example.com",
        "channel_id": "C_SALES",
    }
    base.update(fields)
    return Mailbox(**base)  # type: ignore[arg-type]


def inbound(**fields: object) -> InboundEmail:
    base: dict[str, object] = {
        "message_id": "<m1@customer.test>",
        "synthetic_id": False,
        "in_reply_to": None,
        "references": [],
        "subject": "Pricing",
        "from_name": "Carla",
        "from_address": "carla@customer.test",
        "date": datetime(2024, 1, 2, 10, tzinfo=UTC),
        "text": "Hello",
        "summary": "Hello",
    }
    base.update(fields)
    return InboundEmail(**base)  # type: ignore[arg-type]


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_hostile_subject_sender_and_body_are_escaped() -> None:
    parsed = inbound(
        subject="<!channel> urgent",
        from_name="<@U123>",
        from_address="x@evil.test",
        text="<https://evil|https://bank> & <!here>",
        summary="<https://evil|https://bank> & <!here>",
    )
    text, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="1.ref", root=True)
    rendered = json.dumps({"text": text, "blocks": blocks})
    for needle in HOSTILE:
        assert needle not in rendered, needle
    assert "&lt;!channel&gt; urgent" in rendered
    assert "&lt;@U123&gt;" in rendered
    assert "&lt;https://evil|https://bank&gt; &amp; &lt;!here&gt;" in rendered


def test_root_post_shows_subject_and_later_posts_do_not() -> None:
    _, root = email_post_blocks(inbound(), mailbox(), show_full_ref="1.ref", root=True)
    _, reply = email_post_blocks(inbound(), mailbox(), show_full_ref="1.ref", root=False)
    assert "*Pricing*" in section_texts(root)[0]
    assert "*Pricing*" not in section_texts(reply)[0]
    assert "carla@customer.test" in section_texts(root)[0]


def test_long_body_is_cut_under_slack_limits_with_show_full_button() -> None:
    body = ("A long line of text with <tags> & entities. " * 400).strip()
    _, blocks = email_post_blocks(
        inbound(text=body, summary=body), mailbox(), show_full_ref="42.ref", root=True
    )
    assert all(len(t) <= 3000 for t in section_texts(blocks))
    assert len(blocks) <= 50
    # The root post's team inbox buttons (block ids "triage_...") are not email actions.
    show = [
        e
        for b in blocks
        if b["type"] == "actions" and not b.get("block_id", "").startswith("triage_")
        for e in b["elements"]
    ]
    assert [(e["action_id"], e["value"]) for e in show] == [("email_show_full", "42.ref")]


def test_short_complete_body_has_no_show_full_button() -> None:
    _, blocks = email_post_blocks(inbound(), mailbox(), show_full_ref="42.ref", root=True)
    assert "email_show_full" not in action_ids(blocks)


def test_trimmed_quote_offers_show_full_button() -> None:
    # The summary drops the quoted history: the person must be able to read the rest.
    parsed = inbound(text="Yes please.\n\n> earlier mail", summary="Yes please.")
    _, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="5.ref", root=False)
    assert "email_show_full" in action_ids(blocks)


def test_oversize_attachment_listed_by_name_and_size() -> None:
    big = Attachment(
        filename="<!here>-plans.pdf",
        content_type="application/pdf",
        size=20 * 1024 * 1024,
        payload=b"",
    )
    small = Attachment(filename="note.txt", content_type="text/plain", size=10, payload=b"hi")
    _, blocks = email_post_blocks(
        inbound(attachments=[big, small]),
        mailbox(),
        show_full_ref="1.ref",
        root=True,
        attachment_cap=1024 * 1024,
    )
    notes = json.dumps([b for b in blocks if b["type"] == "context"])
    assert "&lt;!here&gt;-plans.pdf (20.0 MB) is too large" in notes
    assert "note.txt" not in notes  # small files are uploaded into the thread instead


def test_auto_reply_and_bounce_are_labelled() -> None:
    _, auto = email_post_blocks(
        inbound(auto_kind="auto-reply"), mailbox(), show_full_ref="1.ref", root=True
    )
    _, bounce = email_post_blocks(
        inbound(auto_kind="bounce"), mailbox(), show_full_ref="1.ref", root=True
    )
    assert "Automatic reply" in json.dumps(auto)
    assert "bounce" in json.dumps(bounce)


def test_sent_copy_names_the_mail_client() -> None:
    parsed = inbound(from_address="sales@example.com", to=["carla@customer.test"])
    _, blocks = email_post_blocks(
        parsed, mailbox(), show_full_ref="1.ref", root=False, sent_copy=True
    )
    assert "with a mail client to carla@customer.test" in section_texts(blocks)[0]


def test_full_email_modal_splits_long_text_into_sections() -> None:
    body = "x<y " * 5000
    view = full_email_modal("<!channel>", "Evil <@U1>", body)
    texts = section_texts(view["blocks"])
    assert view["type"] == "modal" and "submit" not in view
    assert all(len(t) <= 3000 for t in texts)
    assert "".join(texts[1:]).count("x&lt;y") == 5000
    assert "<!channel>" not in json.dumps(view) and "<@U1>" not in json.dumps(view)


def test_sync_failure_notice_has_retry_and_reconnect_buttons() -> None:
    text, blocks = sync_failure_blocks(mailbox(), "The server said <b>no</b>.")
    assert "sales@example.com" in text
    assert action_ids(blocks) == ["mailbox_sync_now", "mailbox_reconnect"]
    assert "&lt;b&gt;no&lt;/b&gt;" in section_texts(blocks)[0]
    assert "syncing again" in sync_recovered_text(mailbox())


def test_sync_failure_notice_escapes_the_server_answer_in_its_text_too() -> None:
    # The notification text is parsed by Slack like the blocks (it is what a push shows).
    answer = 'The server said: "NO <!channel> see <https://evil|https://bank> <@U123>"'
    text, blocks = sync_failure_blocks(mailbox(address="a&b@example.com"), answer)
    for rendered in (text, json.dumps(blocks)):
        for hostile in HOSTILE:
            assert hostile not in rendered
    assert "&lt;!channel&gt;" in text and "a&amp;b@example.com" in text
    assert "<" not in sync_recovered_text(mailbox(address="<!here>@example.com"))


# --- Where a reply goes (issue 9, item 4) ------------------------------------------------------


def context_texts(blocks: list[dict]) -> list[str]:
    return [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]


def test_post_shows_who_a_reply_goes_to() -> None:
    _, blocks = email_post_blocks(inbound(), mailbox(), show_full_ref=None, root=True)
    assert any(
        "Replies in this thread go to carla@customer.test" in t for t in context_texts(blocks)
    )
    assert not any(":warning:" in t for t in section_texts(blocks))

    parsed = inbound(reply_to=["billing@customer.test"])
    _, blocks = email_post_blocks(parsed, mailbox(), show_full_ref=None, root=True)
    assert any("go to billing@customer.test" in t for t in context_texts(blocks))
    # Same organisation (a subdomain counts): nothing to warn about.
    parsed = inbound(reply_to=["help@support.customer.test"])
    _, blocks = email_post_blocks(parsed, mailbox(), show_full_ref=None, root=True)
    assert not any(":warning:" in t for t in section_texts(blocks))


def test_reply_to_outside_the_senders_domain_is_warned_about() -> None:
    parsed = inbound(reply_to=["<!channel>@evilcustomer.test", "carla@customer.test"])
    _text, blocks = email_post_blocks(parsed, mailbox(), show_full_ref=None, root=True)
    warning = next(t for t in section_texts(blocks) if ":warning:" in t)
    assert "&lt;!channel&gt;@evilcustomer.test" in warning and "customer.test" in warning
    assert "carla@customer.test" not in warning.split("not to")[0]
    for needle in HOSTILE:
        assert needle not in json.dumps(blocks)


def test_new_sender_and_too_many_recipients_are_warned_about() -> None:
    many = [f"person{n}@customer.test" for n in range(41)]
    parsed = inbound(reply_to=many, from_address="intruder@customer.test")
    _, blocks = email_post_blocks(
        parsed, mailbox(), show_full_ref=None, root=False, new_sender=True
    )
    warnings = "\n".join(section_texts(blocks))
    assert "intruder@customer.test has not written here before" in warnings
    assert "41 addresses" in warnings and "will not be sent" in warnings
    shown = next(t for t in context_texts(blocks) if "Replies in this thread go to" in t)
    assert "person9@customer.test and 31 more" in shown
    assert all(len(t) <= 3000 for t in section_texts(blocks) + context_texts(blocks))


def test_mail_sent_by_the_team_shows_no_reply_target() -> None:
    _, blocks = email_post_blocks(
        inbound(to=["carla@customer.test"]),
        mailbox(),
        show_full_ref=None,
        root=False,
        sent_copy=True,
    )
    assert not any("Replies in this thread go to" in t for t in context_texts(blocks))


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


def test_the_email_post_speaks_spanish_and_stays_escaped() -> None:
    parsed = inbound(from_name="Carla <!channel>", from_address="carla@customer.test")
    with speaking("es"):
        text, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True)
    assert text.startswith("Correo de Carla") and "<!channel>" not in text
    assert "Las respuestas en este hilo van a carla@customer.test" in json.dumps(blocks)
