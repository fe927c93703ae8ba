"""Security issue 9 items 4, 5 and 8, reliability issue 10 item 8 b/c/f, end to end.

Where a reply goes is shown before and after it is sent, and capped; the bot token goes to
Slack's file host only; a stored mail is readable only through a button Mailroom made, by
someone who can read its post; small user-visible fixes in the reply itself.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from email.utils import make_msgid, parseaddr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from bot.email_access import show_full_reference
from storage.models import Message
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

CHANNEL = "C_SALES"


# --- A server that must never see the bot token ----------------------------------------------


class Recorder:
    """An HTTP server on loopback that records every request's Authorization header."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(
                    {"path": self.path, "authorization": self.headers.get("Authorization", "")}
                )
                body = b"attacker-controlled bytes"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


# --- Helpers ---------------------------------------------------------------------------------


def open_thread(h: Harness, **email: str) -> tuple[int, str, dict]:
    """A personal mailbox of UALICE with one customer mail posted: (mailbox id, ts, root)."""
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    h.deliver(account, make_email(to=account.address, **email))
    assert h.sync(mailbox.id).posted == 1
    root = h.slack.top_level(CHANNEL)[-1]
    return mailbox.id, root["ts"], root


def rendered(message: dict) -> str:
    return json.dumps(message.get("blocks") or []) + message.get("text", "")


def thread_note(h: Harness, ts: str, words: str) -> dict:
    return wait_until(
        lambda: next((m for m in h.slack.thread(CHANNEL, ts) if words in rendered(m)), None),
        message=f"a thread message saying {words!r}",
    )


def outbound(h: Harness, mailbox_id: int) -> list[Message]:
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


def reacted(h: Harness, ts: str, name: str) -> bool:
    return any(
        c.params.get("timestamp") == ts and c.params.get("name") == name
        for c in h.slack.calls_to("reactions.add")
    )


# --- Item 4: replies silently redirected ------------------------------------------------------


def test_post_and_sent_confirmation_show_where_the_reply_goes(harness: Harness) -> None:
    h = harness
    _, ts, root = open_thread(h, reply_to="Billing Team <billing@customer.test>")
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
    mailbox_id, ts, root = open_thread(h, reply_to=crowd)
    assert "11 addresses" in rendered(root)
    h.reply(CHANNEL, ts, "This must not spread.")
    notice = thread_note(h, ts, "not sent")
    assert "Nothing was sent" in rendered(notice) and "at most 10" in rendered(notice)
    assert h.smtp.messages == []
    assert [r.state for r in outbound(h, mailbox_id)] == ["failed"]


def test_a_reply_to_foreign_reply_to_domain_is_warned_on_the_post(harness: Harness) -> None:
    h = harness
    _, _, root = open_thread(h, reply_to="payments@evilcustomer.test")
    assert "Check before replying" in rendered(root)
    assert "payments@evilcustomer.test" in rendered(root)


# --- Issue 10 item 8 b, f ---------------------------------------------------------------------


def test_the_reply_keeps_the_customers_display_name_even_with_a_comma(harness: Harness) -> None:
    h = harness
    _, ts, _ = open_thread(h, sender='"Cliente, Carla" <carla@customer.test>')
    h.reply(CHANNEL, ts, "Hello Carla.")
    mail = h.smtp.wait_for_messages(1)[0]
    assert mail.recipients == ["carla@customer.test"]
    assert parseaddr(str(mail.message["To"])) == ("Cliente, Carla", "carla@customer.test")


def test_a_refused_reply_stays_as_a_note_and_is_marked_like_one(harness: Harness) -> None:
    h = harness
    _, ts, _ = open_thread(h)
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


# --- Item 5: the bot token goes only to Slack's file host -------------------------------------


def test_a_file_pointing_elsewhere_never_receives_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_thread(h)
    stolen = {
        "id": "F0STEAL",
        "name": "invoice.pdf",
        "mimetype": "application/pdf",
        "size": 10,
        "url_private": f"{recorder.url}/steal",
        "url_private_download": f"{recorder.url}/steal",
    }
    h.reply(CHANNEL, ts, "Here is the invoice.", files=[stolen])
    notice = thread_note(h, ts, "not sent")
    assert "invoice.pdf is not stored in Slack" in rendered(notice)
    assert recorder.requests == []
    assert h.smtp.messages == []


def test_remote_files_are_left_out_and_listed_and_never_fetched(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_thread(h)
    remote = {
        "id": "F0REMOTE",
        "name": "design.fig",
        "mode": "external",
        "is_external": True,
        "external_url": f"{recorder.url}/design",
        "url_private": f"{recorder.url}/design",
        "size": 10,
    }
    real = h.slack.add_file("quote.pdf", b"%PDF quote", mimetype="application/pdf")
    h.reply(CHANNEL, ts, "The quote, and the design.", files=[remote, real])
    mail = h.smtp.wait_for_messages(1)[0].message
    assert [a.get_filename() for a in mail.iter_attachments()] == ["quote.pdf"]
    confirmation = thread_note(h, ts, "Reply sent to")
    assert "Not attached: design.fig" in rendered(confirmation)
    assert recorder.requests == []


def test_a_redirect_from_slacks_host_is_not_followed_with_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_thread(h)
    moved = h.slack.add_file(
        "moved.pdf", b"x", mimetype="application/pdf", redirect=f"{recorder.url}/moved"
    )
    h.reply(CHANNEL, ts, "Here it is.", files=[moved])
    notice = thread_note(h, ts, "not sent")
    assert "HTTP 302" in rendered(notice)
    assert len(h.slack.calls_to("files-pri")) == 1  # asked Slack once...
    assert recorder.requests == []  # ...and went nowhere else
    assert h.smtp.messages == []


def test_a_file_larger_than_announced_is_cut_off_at_the_cap(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(ATTACHMENT_MAX_BYTES="1000")
    _, ts, _ = open_thread(h)
    big = h.slack.add_file("big.bin", b"B" * 5000, mimetype="application/octet-stream")
    big["size"] = 10  # the event understates it; the download must still stop at the cap
    h.reply(CHANNEL, ts, "A big one.", files=[big])
    notice = thread_note(h, ts, "not sent")
    assert "big.bin is larger than the 1 KB limit" in rendered(notice)
    assert h.smtp.messages == []


def test_a_csv_import_from_elsewhere_never_receives_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    h.connect(user="UALICE")
    stolen = {
        "id": "F0CSV",
        "name": "contacts.csv",
        "filetype": "csv",
        "mimetype": "text/csv",
        "url_private_download": f"{recorder.url}/contacts.csv",
    }
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "DUALICE",
        "channel_type": "im",
        "user": "UALICE",
        "text": "",
        "ts": f"{1800000000 + uuid.uuid4().int % 1000}.000100",
        "files": [stolen],
    }
    assert h.client.event(event).status_code == 200
    wait_until(
        lambda: [m for m in h.slack.messages("DUALICE") if "not stored in Slack" in m["text"]],
        message="the refusal DM",
    )
    assert recorder.requests == []


# --- Item 8: stored mail readable by message id -----------------------------------------------


def show_full_button(message: dict) -> str:
    return next(
        e["value"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "email_show_full"
    )


def long_mail(h: Harness, account: object, **email: str) -> bytes:
    body = "\n".join(f"Line {n} of the contract." for n in range(200)) + "\nSECRET TERMS"
    return make_email(to=account.address, body=body, **email)  # type: ignore[attr-defined]


def opened(h: Harness) -> int:
    return len(h.slack.calls_to("views.open"))


def refusals(h: Harness, user: str) -> int:
    return len([e for e in h.slack.ephemerals(user) if "not available to you" in e["text"]])


def test_show_full_email_needs_the_button_mailroom_made_and_a_reader_of_the_post(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    h.deliver(account, long_mail(h, account))
    h.sync(mailbox.id)
    root = h.slack.top_level(CHANNEL)[-1]
    value = show_full_button(root)
    with h.ctx.db.session() as session:
        row_id = session.exec(select(Message.id).where(Message.mailbox_id == mailbox.id)).one()
    assert value != str(row_id) and str(row_id) in value

    def ask(user: str, button_value: str) -> None:
        h.client.action("email_show_full", button_value, user, channel_id=CHANNEL, message=root)

    # The sequential id, and a forged MAC, are refused even for the owner.
    for forged in (str(row_id), f"{row_id}.{'0' * 32}", f"{row_id + 1}.{value.split('.')[1]}"):
        before = refusals(h, "UALICE")
        ask("UALICE", forged)
        wait_until(lambda b=before: refusals(h, "UALICE") > b, message=f"refusal of {forged}")
    assert opened(h) == 0

    # Bob is not in the channel: refused. Once a member, he may read what he can see there.
    ask("UBOB", value)
    wait_until(lambda: refusals(h, "UBOB") == 1, message="refusal for a non-member")
    assert opened(h) == 0
    h.slack.set_members(CHANNEL, "UALICE", "UBOB")
    ask("UBOB", value)
    view = wait_until(h.slack.last_view, message="the modal for a channel member")
    assert "SECRET TERMS" in json.dumps(view["blocks"])
    h.slack.set_members(CHANNEL)  # the owner needs no membership
    ask("UALICE", value)
    wait_until(lambda: opened(h) == 2, message="the modal for the owner")


def test_mail_that_is_never_posted_keeps_no_body_and_cannot_be_shown(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE", channel=CHANNEL)
    # Someone's Sent folder, not answering any thread: recorded, never posted.
    h.deliver(
        account,
        long_mail(h, account, sender=account.address, subject="Private deal"),
        folder="Sent",
    )
    h.sync(mailbox.id)
    # Partial mode: mail from someone who is not a contact is skipped.
    h.client.command("/mail-contacts", "mode partial", "UALICE")
    wait_until(
        lambda: h.ctx.mailboxes.get(mailbox.id).sync_mode == "partial", message="partial mode"
    )
    h.deliver(account, long_mail(h, account, sender="stranger@elsewhere.test"))
    h.sync(mailbox.id)
    assert h.slack.top_level(CHANNEL) == []
    with h.ctx.db.session() as session:
        rows = session.exec(select(Message).where(Message.mailbox_id == mailbox.id)).all()
    assert len(rows) == 2
    assert [(r.state, r.body_text) for r in rows] == [("skipped", None), ("skipped", None)]

    # Even a correctly signed reference to an unposted mail shows nothing.
    for row in rows:
        before = refusals(h, "UALICE")
        ref = show_full_reference(h.ctx.settings, row.id)  # type: ignore[arg-type]
        h.client.action("email_show_full", ref, "UALICE", channel_id=CHANNEL)
        wait_until(lambda b=before: refusals(h, "UALICE") > b, message="refusal")
    assert opened(h) == 0
