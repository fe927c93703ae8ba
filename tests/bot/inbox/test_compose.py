"""/mail-send and the New email shortcut: From limited by role and kind (checked again on
submit), To/Cc suggested from the contacts of the mailboxes one may send from and validated
again on submit, files attached only when the person uploaded them, a thread started in the
mailbox's channel, the mail sent once, and the customer's answer landing in that thread."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

from sqlmodel import select

from storage.models import Conversation, Mailbox, Message
from tests.support.harness import Harness, make_email
from tests.support.slack_requests import (
    TEAM_ID,
    file_input,
    multi_external_select,
    plain_input,
    static_select,
)
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


def open_compose(h: Harness, user: str) -> dict | None:
    """The compose modal /mail-send opened, or None when the person was told why not."""
    opened, told = len(h.slack.calls_to("views.open")), len(h.slack.ephemerals(user))
    h.client.command("/mail-send", "", user, channel_id=CHANNEL)
    wait_until(
        lambda: (
            len(h.slack.calls_to("views.open")) > opened or len(h.slack.ephemerals(user)) > told
        ),
        message="the compose modal or an answer",
    )
    if len(h.slack.calls_to("views.open")) > opened:
        return h.slack.last_view()
    return None


def from_options(view: dict) -> list[str]:
    return [o["text"]["text"] for o in view["blocks"][0]["element"]["options"]]


def compose_values(
    mailbox_id: int,
    to: list[str],
    cc: list[str] | None = None,
    subject: str = "Our offer",
    files: list[dict] | None = None,
) -> dict:
    """The modal's state as Slack sends it: To/Cc are the options picked in the selects."""
    fields = {
        "from": static_select(str(mailbox_id)),
        "subject": plain_input(subject),
        "body": plain_input("Hello Carla,\n\nhere is *our offer*."),
    }
    values = {key: {"value": value} for key, value in fields.items()}
    values["to"] = {"mail_contacts": multi_external_select(to)}
    values["cc"] = {"mail_contacts": multi_external_select(cc or [])}
    values["files"] = {"files": file_input(files or [])}
    return values


def submit(h: Harness, view: dict, user: str, values: dict) -> dict:
    answer = h.client.submit_view("mail_compose", values, user, view=view)
    assert answer.status_code == 200
    return answer.json() if answer.content else {}


def test_compose_offers_only_allowed_mailboxes_and_checks_them_again(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    personal = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    shared = h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    marketing = h.connect(user="UADMIN", kind="marketing", channel="C_NEWS")

    alice = open_compose(h, "UALICE")
    assert from_options(alice) == [personal.address]
    sales = open_compose(h, "USALES")
    assert from_options(sales) == [shared.address]
    admin = open_compose(h, "UADMIN")
    assert shared.address in from_options(admin) and marketing.address not in from_options(admin)
    assert personal.address not in from_options(admin)
    assert open_compose(h, "UBOB") is None
    wait_until(
        lambda: any("no mailbox to send from" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="Bob told he has nothing to send from",
    )

    # Forged From choices are refused on submit: a marketing mailbox, someone else's.
    errors = submit(
        h, admin, "UADMIN", compose_values(marketing.id, ["carla@customer.example.com"])
    )
    assert "marketing mailbox" in errors["errors"]["from"]
    errors = submit(h, sales, "USALES", compose_values(personal.id, ["carla@customer.example.com"]))
    assert "personal mailbox" in errors["errors"]["from"]
    # The picked values are validated again (a forged one is refused); nothing was sent.
    errors = submit(h, alice, "UALICE", compose_values(personal.id, ["carla@"], cc=["x y"]))
    assert "not an email address" in errors["errors"]["to"]
    assert "not an email address" in errors["errors"]["cc"]
    assert (
        "Add a recipient"
        in submit(h, alice, "UALICE", compose_values(personal.id, []))["errors"]["to"]
    )
    many = [f"p{n}@customer.example.com" for n in range(11)]
    assert (
        "at most" in submit(h, alice, "UALICE", compose_values(personal.id, many))["errors"]["to"]
    )
    assert h.smtp.messages == []


def test_a_new_email_starts_a_thread_and_the_answer_lands_in_it(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", kind="personal", channel=CHANNEL)
    view = open_compose(h, "UALICE")
    values = compose_values(
        mailbox.id, ["carla@customer.example.com"], cc=["dave@customer.example.com"]
    )
    assert submit(h, view, "UALICE", values) == {}
    # The same modal submitted twice (a double click) records and sends once.
    submit(h, view, "UALICE", values)

    mail = h.smtp.wait_for_messages(1)[0]
    assert sorted(mail.recipients) == ["carla@customer.example.com", "dave@customer.example.com"]
    assert mail.message["Subject"] == "Our offer"
    assert "<strong>our offer</strong>" in mail.message.get_body(("html",)).get_content()
    root = wait_until(
        lambda: next(
            (m for m in h.slack.top_level(CHANNEL) if "Our offer" in json.dumps(m.get("blocks"))),
            None,
        ),
        message="the new thread's root post",
    )
    assert "<@UALICE> wrote from" in json.dumps(root["blocks"])
    assert "Waiting" in json.dumps(root["blocks"])
    wait_until(
        lambda: any("Reply sent" in m.get("text", "") for m in h.slack.thread(CHANNEL, root["ts"])),
        message="the sent confirmation in the thread",
    )

    # The customer answers our mail: it lands in the same thread, which opens again.
    our_id = mail.message["Message-ID"]
    h.deliver(
        account,
        make_email(
            to=account.address, subject="Re: Our offer", in_reply_to=our_id, references=our_id
        ),
    )
    h.sync(mailbox.id)
    wait_until(
        lambda: any(
            "Re: Our offer" in json.dumps(m.get("blocks")) or "Hello, how much" in json.dumps(m)
            for m in h.slack.thread(CHANNEL, root["ts"])
        ),
        message="the answer in the thread",
    )
    assert len(h.slack.top_level(CHANNEL)) == 1
    assert len(h.smtp.messages) == 1
    with h.ctx.db.session() as session:
        sent = session.exec(select(Message).where(Message.direction == "out")).all()
    assert [m.state for m in sent if m.source_ts and m.source_ts.startswith("compose:")] == ["sent"]


def test_the_global_shortcut_opens_the_same_modal(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    payload = {
        "type": "shortcut",
        "callback_id": "mail_send",
        "trigger_id": f"{uuid.uuid4().int % 10**10}.trigger",
        "user": {"id": "UALICE", "team_id": TEAM_ID},
        "team": {"id": TEAM_ID},
        "action_ts": f"{time.time():.6f}",
        "token": "verification",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert h.client.post(body, "application/x-www-form-urlencoded").status_code == 200
    view = wait_until(h.slack.last_view, message="the compose modal")
    assert view["callback_id"] == "mail_compose"
    assert from_options(view) == [mailbox.address]


def test_a_personal_mailbox_without_a_channel_starts_the_thread_in_the_dm(
    harness: Harness,
) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    with h.ctx.db.session() as session:
        stored = session.get(Mailbox, mailbox.id)
        stored.channel_id = None  # e.g. connected by sign-in before a channel was chosen
        session.add(stored)
    view = open_compose(h, "UALICE")
    assert (
        submit(h, view, "UALICE", compose_values(mailbox.id, ["carla@customer.example.com"])) == {}
    )
    h.smtp.wait_for_messages(1)
    dm = h.slack.calls_to("conversations.open")[-1]
    assert dm.params["users"] == "UALICE"
    with h.ctx.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.channel_id.startswith("D") and conversation.thread_ts
    root = h.slack.message(conversation.channel_id, conversation.thread_ts)
    assert root is not None and "Our offer" in json.dumps(root["blocks"])


def test_the_modal_asks_for_files_and_suggests_contacts(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    blocks = {b["block_id"]: b for b in open_compose(h, "UALICE")["blocks"]}
    for block in ("to", "cc"):
        element = blocks[block]["element"]
        assert element["type"] == "multi_external_select"
        assert element["action_id"] == "mail_contacts" and element["min_query_length"] == 1
    assert blocks["files"]["optional"] is True
    assert blocks["files"]["element"] == {
        "type": "file_input",
        "action_id": "files",
        "max_files": 10,
    }


def test_a_file_the_person_uploaded_leaves_attached_to_the_new_email(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    data = b"%PDF-1.4 the offer " + uuid.uuid4().bytes
    uploaded = h.slack.add_file(
        "offer.pdf", data, mimetype="application/pdf", filetype="pdf", user="UALICE"
    )
    view = open_compose(h, "UALICE")
    values = compose_values(mailbox.id, ["carla@customer.example.com"], files=[uploaded])
    assert submit(h, view, "UALICE", values) == {}
    # The file id was on record with the mail before the modal closed (so a crash after
    # the ack still sends it, with the file, once).
    with h.ctx.db.session() as session:
        row = session.exec(select(Message).where(Message.direction == "out")).one()
    assert [f["id"] for f in json.loads(row.files_json)] == [uploaded["id"]]
    assert [c.params["file"] for c in h.slack.calls_to("files.info")] == [uploaded["id"]]

    mail = h.smtp.wait_for_messages(1)[0].message
    attachments = [(a.get_filename(), a.get_content()) for a in mail.iter_attachments()]
    assert attachments == [("offer.pdf", data)]
    assert "our offer" in mail.get_body(("plain",)).get_content()
    wait_until(
        lambda: any(
            ":paperclip: offer.pdf" in json.dumps(m.get("blocks"))
            for m in h.slack.top_level(CHANNEL)
        ),
        message="the thread's root post naming the file",
    )


def test_a_file_somebody_else_uploaded_is_refused_and_nothing_is_sent(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    mine = h.slack.add_file("mine.txt", b"mine", mimetype="text/plain", user="UALICE")
    theirs = h.slack.add_file("payroll.csv", b"name,salary\n", user="UBOB")
    view = open_compose(h, "UALICE")
    values = compose_values(mailbox.id, ["carla@customer.example.com"], files=[mine, theirs])
    errors = submit(h, view, "UALICE", values)["errors"]
    assert list(errors) == ["files"]
    assert "payroll.csv was not uploaded by you" in errors["files"]
    # An id that Slack does not know is refused too.
    forged = compose_values(mailbox.id, ["carla@customer.example.com"], files=[{"id": "FNOPE"}])
    assert "no longer in Slack" in submit(h, view, "UALICE", forged)["errors"]["files"]
    time.sleep(0.5)
    assert h.smtp.messages == []
    assert h.slack.calls_to("files-pri") == []
    with h.ctx.db.session() as session:
        assert session.exec(select(Message).where(Message.direction == "out")).all() == []
        assert session.exec(select(Conversation)).all() == []


def suggest(h: Harness, user: str, query: str) -> list[dict]:
    answer = h.client.options("mail_contacts", query, user, block_id="to")
    assert answer.status_code == 200, answer.text
    return answer.json()["options"]


def test_to_and_cc_suggest_only_contacts_of_mailboxes_one_may_send_from(
    harness: Harness,
) -> None:
    h = harness
    alice_account = h.new_account()
    alice_box = h.connect(alice_account, user="UALICE", kind="personal", channel=CHANNEL)
    bob_account = h.new_account()
    bob_box = h.connect(bob_account, user="UBOB", kind="personal", channel="C_BOB")
    h.deliver(
        alice_account,
        make_email(sender='"Carla <C&C>" <carla@customer.example.com>', to=alice_account.address),
    )
    h.deliver(
        alice_account,
        make_email(
            sender="Dave Davies <dave@customer.example.com>",
            to=alice_account.address,
            subject="Another question",
        ),
    )
    h.deliver(
        bob_account,
        make_email(sender="Carlos Secret <carlos@rival.example.com>", to=bob_account.address),
    )
    h.sync(alice_box.id)
    h.sync(bob_box.id)
    wait_until(
        lambda: len(h.slack.top_level(CHANNEL)) >= 2 and h.slack.top_level("C_BOB"),
        message="the mails in Slack",
    )

    # By address or by name; Bob's customer never shows up for Alice (and vice versa).
    options = suggest(h, "UALICE", "carl")
    assert [o["value"] for o in options] == ["carla@customer.example.com"]
    assert options[0]["text"]["text"] == "Carla &lt;C&amp;C&gt; &lt;carla@customer.example.com&gt;"
    assert [o["value"] for o in suggest(h, "UALICE", "davies")] == ["dave@customer.example.com"]
    assert sorted(o["value"] for o in suggest(h, "UALICE", "customer.example.com")) == [
        "carla@customer.example.com",
        "dave@customer.example.com",
    ]
    assert suggest(h, "UALICE", "rival") == []
    assert [o["value"] for o in suggest(h, "UBOB", "carl")] == ["carlos@rival.example.com"]
    assert suggest(h, "UCAROL", "carl") == []  # no mailbox to send from: no contacts
    # A new, valid address typed in full is offered as it is.
    assert [o["value"] for o in suggest(h, "UALICE", "new.person@elsewhere.example")] == [
        "new.person@elsewhere.example"
    ]
    assert suggest(h, "UALICE", "not an address") == []

    # What is picked is exactly where the mail goes.
    view = open_compose(h, "UALICE")
    to = [suggest(h, "UALICE", "carla")[0]["value"]]
    cc = [suggest(h, "UALICE", "dave")[0]["value"], "new.person@elsewhere.example"]
    assert submit(h, view, "UALICE", compose_values(alice_box.id, to, cc=cc)) == {}
    sent = wait_until(
        lambda: next((m for m in h.smtp.messages if m.message["Subject"] == "Our offer"), None),
        message="the new email",
    )
    assert sorted(sent.recipients) == [
        "carla@customer.example.com",
        "dave@customer.example.com",
        "new.person@elsewhere.example",
    ]
    assert sent.message["To"].addresses[0].addr_spec == "carla@customer.example.com"
    assert [a.addr_spec for a in sent.message["Cc"].addresses] == [
        "dave@customer.example.com",
        "new.person@elsewhere.example",
    ]


def test_a_first_post_slack_took_before_a_crash_is_found_again_not_doubled(
    harness: Harness,
) -> None:
    """The process died after Slack accepted the conversation's first post and before the
    thread was recorded: recovery finds the post by its metadata instead of posting again."""
    from bot.inbox import compose

    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    view = open_compose(h, "UALICE")
    assert (
        submit(h, view, "UALICE", compose_values(mailbox.id, ["carla@customer.example.com"])) == {}
    )
    h.smtp.wait_for_messages(1)
    [root] = wait_until(lambda: h.slack.top_level(CHANNEL), message="the first post")
    with h.ctx.db.session() as session:
        row = session.exec(
            select(Message).where(Message.source_ts == f"compose:{view['id']}")
        ).one()
        conversation = session.get(Conversation, row.conversation_id)
        assert conversation is not None and conversation.thread_ts == root["ts"]
        conversation.thread_ts = None  # what a kill right after chat.postMessage leaves
        session.add(conversation)
        session.expunge(row)

    compose.post_root(h.ctx, row)
    compose.post_root(h.ctx, row)

    assert [m["ts"] for m in h.slack.top_level(CHANNEL)] == [root["ts"]]
    with h.ctx.db.session() as session:
        found = session.get(Conversation, row.conversation_id)
    assert found is not None and found.thread_ts == root["ts"]
