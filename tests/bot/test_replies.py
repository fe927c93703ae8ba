"""Thread replies out as email: notes, recipients (`all:`, caps, warnings), formatting, files,
failures, roles, and refusals in the author's language."""

from __future__ import annotations

import json
import uuid
from email.utils import make_msgid, parseaddr

from bot.formatting.outbound import MAX_REPLY_RECIPIENTS
from tests.support.harness import Harness, make_email
from tests.support.threads import (
    CHANNEL,
    ephemeral_to,
    open_posted_thread,
    open_thread,
    outbound_rows,
    reactions,
    rendered,
    thread_note,
)
from tests.support.wait import wait_until


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


# --- `all:` replies: also to the customer mail's To/Cc (never the mailbox itself), shown on
# the post, and still capped at MAX_REPLY_RECIPIENTS


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


# --- A refused reply is explained to its author in their Slack language


def test_refused_reply_notice_in_the_authors_language(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UALICE", "es-ES")
    h.ctx.languages.forget("UALICE")
    account, mailbox_id, ts = open_thread(h, user="UALICE")
    h.ctx.mailboxes.set_fields(mailbox_id, active=False)
    h.reply(CHANNEL, ts, "¿Hay alguien?", user="UALICE")
    notice = ephemeral_to(h, "UALICE", "está inactivo, así que no se envió nada")
    assert notice["text"].startswith(account.address)
    assert "`/mail-status`" in notice["text"]
    assert outbound_rows(h, mailbox_id) == []


def test_refused_reply_notice_stays_english_for_an_english_author(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UBOB", "en-US")
    h.ctx.languages.forget("UBOB")
    _account, mailbox_id, ts = open_thread(h, user="UBOB")
    h.ctx.mailboxes.set_fields(mailbox_id, active=False)
    h.reply(CHANNEL, ts, "Anyone there?", user="UBOB")
    ephemeral_to(h, "UBOB", "is inactive, so nothing was sent and nothing was queued")


# --- Where a reply goes is shown before and after it is sent, and capped (security issue 9
# item 4, reliability issue 10 item 8 b/c/f); small user-visible fixes in the reply itself


def reacted(h: Harness, ts: str, name: str) -> bool:
    return any(
        c.params.get("timestamp") == ts and c.params.get("name") == name
        for c in h.slack.calls_to("reactions.add")
    )


# --- Item 4: replies silently redirected ------------------------------------------------------


def test_post_and_sent_confirmation_show_where_the_reply_goes(harness: Harness) -> None:
    h = harness
    _, ts, root = open_posted_thread(h, reply_to="Billing Team <billing@customer.test>")
    assert "Replies in this thread go to billing@customer.test" in rendered(root)
    assert ":warning:" not in rendered(root)  # same domain as the sender

    h.reply(CHANNEL, ts, "Sent to billing.")
    mail = h.smtp.wait_for_messages(1)[0]
    assert mail.recipients == ["billing@customer.test"]
    confirmation = thread_note(h, ts, "Reply sent to")
    assert "Reply sent to billing@customer.test" in confirmation["text"]


def test_a_forged_mail_joining_the_thread_is_flagged_and_its_40_bystanders_get_nothing(
    harness_any_db: Harness,
) -> None:
    h = harness_any_db
    first_id = make_msgid(domain="customer.test")
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    h.deliver(account, make_email(to=account.address, message_id=first_id))
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[-1]
    bystanders = [f"person{n}@victims.test" for n in range(40)]
    h.deliver(
        account,
        make_email(
            sender="Carla Cliente <carla@customer.test>",
            to=account.address,
            subject="Re: Question about pricing",
            in_reply_to=first_id,
            references=first_id,
            reply_to=", ".join(["attacker@evil.test", *bystanders]),
            body="Please answer everyone.",
        ),
    )
    h.deliver(
        account,
        make_email(
            sender="Mallory <mallory@evil.test>",
            to=account.address,
            subject="Re: Question about pricing",
            in_reply_to=first_id,
            references=first_id,
            body="I am new here.",
        ),
    )
    assert h.sync(mailbox.id).posted == 2
    forged, newcomer = h.slack.thread(CHANNEL, root["ts"])
    shown = rendered(forged)
    assert "Check before replying" in shown and "attacker@evil.test" in shown
    assert "41 addresses" in shown and "will not be sent" in shown
    assert "New in this thread" not in shown  # Carla herself (spoofed or not) is known
    assert "New in this thread" in rendered(newcomer)
    assert "mallory@evil.test has not written here before" in rendered(newcomer)

    # The reply follows the newest mail from outside (Mallory's): to Mallory, who is shown.
    h.reply(CHANNEL, root["ts"], "Answer to the newest mail.")
    assert h.smtp.wait_for_messages(1)[0].recipients == ["mallory@evil.test"]
    thread_note(h, root["ts"], "Reply sent to Mallory &lt;mallory@evil.test&gt;")


def test_a_reply_to_more_than_ten_addresses_is_refused_and_nothing_is_sent(
    harness: Harness,
) -> None:
    h = harness
    crowd = ", ".join(f"p{n}@customer.test" for n in range(11))
    mailbox_id, ts, root = open_posted_thread(h, reply_to=crowd)
    assert "11 addresses" in rendered(root)
    h.reply(CHANNEL, ts, "This must not spread.")
    notice = thread_note(h, ts, "not sent")
    assert "Nothing was sent" in rendered(notice) and "at most 10" in rendered(notice)
    assert h.smtp.messages == []
    assert [r.state for r in outbound_rows(h, mailbox_id)] == ["failed"]


def test_a_reply_to_foreign_reply_to_domain_is_warned_on_the_post(harness: Harness) -> None:
    h = harness
    _, _, root = open_posted_thread(h, reply_to="payments@evilcustomer.test")
    assert "Check before replying" in rendered(root)
    assert "payments@evilcustomer.test" in rendered(root)


# --- Issue 10 item 8 b, f ---------------------------------------------------------------------


def test_the_reply_keeps_the_customers_display_name_even_with_a_comma(harness: Harness) -> None:
    h = harness
    _, ts, _ = open_posted_thread(h, sender='"Cliente, Carla" <carla@customer.test>')
    h.reply(CHANNEL, ts, "Hello Carla.")
    mail = h.smtp.wait_for_messages(1)[0]
    assert mail.recipients == ["carla@customer.test"]
    assert parseaddr(str(mail.message["To"])) == ("Cliente, Carla", "carla@customer.test")


def test_a_refused_reply_stays_as_a_note_and_is_marked_like_one(harness: Harness) -> None:
    h = harness
    _, ts, _ = open_posted_thread(h)
    refused_ts = "1800000123.000100"
    h.client.event(
        {
            "type": "message",
            "channel": CHANNEL,
            "channel_type": "channel",
            "user": "UBOB",
            "text": "Bob is not the owner.",
            "ts": refused_ts,
            "thread_ts": ts,
        }
    )
    refusal = wait_until(
        lambda: next((e for e in h.slack.ephemerals("UBOB") if "internal note" in e["text"]), None),
        message="the refusal",
    )
    assert refusal["thread_ts"] == ts
    wait_until(lambda: reacted(h, refused_ts, "lock"), message="the lock on the refused reply")
    assert h.smtp.messages == []


def test_hostile_smtp_answer_is_escaped_in_the_failure_notice(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account)
    h.deliver(account, make_email(to=account.address, subject="Question"))
    assert h.sync(mailbox.id).posted == 1
    ts = h.slack.top_level(CHANNEL)[-1]["ts"]
    h.smtp.fail_next(550, "5.7.1 <!channel> rejected, see <https://evil|https://bank>")
    h.reply(CHANNEL, ts, "Our offer.")
    notice = wait_until(
        lambda: next((m for m in h.slack.thread(CHANNEL, ts) if "not sent" in m["text"]), None),
        message="the failure notice",
    )
    rendered = json.dumps({"text": notice["text"], "blocks": notice["blocks"]})
    assert "rejected" in rendered
    assert "<!channel>" not in rendered and "<https://evil" not in rendered
