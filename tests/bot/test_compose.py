"""/mail-send and the New email shortcut: From limited by role and kind (checked again on
submit), addresses validated, a thread started in the mailbox's channel, the mail sent once,
and the customer's answer landing in that thread."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

from sqlmodel import select

from storage.models import Conversation, Mailbox, Message
from tests.support.harness import Harness, make_email
from tests.support.slack_requests import TEAM_ID, plain_input, static_select
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


def compose_values(mailbox_id: int, to: str, cc: str = "", subject: str = "Our offer") -> dict:
    fields = {
        "from": static_select(str(mailbox_id)),
        "to": plain_input(to),
        "cc": plain_input(cc),
        "subject": plain_input(subject),
        "body": plain_input("Hello Carla,\n\nhere is *our offer*."),
    }
    return {key: {"value": value} for key, value in fields.items()}


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
    errors = submit(h, admin, "UADMIN", compose_values(marketing.id, "carla@customer.example.com"))
    assert "marketing mailbox" in errors["errors"]["from"]
    errors = submit(h, sales, "USALES", compose_values(personal.id, "carla@customer.example.com"))
    assert "personal mailbox" in errors["errors"]["from"]
    # Addresses are validated; nothing was sent by any of this.
    errors = submit(h, alice, "UALICE", compose_values(personal.id, "carla@", cc="x y"))
    assert "not an email address" in errors["errors"]["to"]
    assert "not an email address" in errors["errors"]["cc"]
    many = ", ".join(f"p{n}@customer.example.com" for n in range(11))
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
        mailbox.id, "Carla <carla@customer.example.com>", cc="dave@customer.example.com"
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
    assert submit(h, view, "UALICE", compose_values(mailbox.id, "carla@customer.example.com")) == {}
    h.smtp.wait_for_messages(1)
    dm = h.slack.calls_to("conversations.open")[-1]
    assert dm.params["users"] == "UALICE"
    with h.ctx.db.session() as session:
        conversation = session.exec(select(Conversation)).one()
    assert conversation.channel_id.startswith("D") and conversation.thread_ts
    root = h.slack.message(conversation.channel_id, conversation.thread_ts)
    assert root is not None and "Our offer" in json.dumps(root["blocks"])
