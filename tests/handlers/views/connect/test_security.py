"""Issue 9, items 2, 3 and 11 on the connect modal: each test replays the review's attack with
signed Slack requests against the real Dovecot, SMTP server and moto's SES."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from storage.models import Mailbox
from tests.support.harness import Harness, MailAccount, make_email
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until


def reconnect_values(h: Harness, account: MailAccount, **overrides: str) -> dict[str, Any]:
    """The modal as Reconnect fills it: the same servers, the password left empty."""
    return h.connect_values(account, **({"imap_password": ""} | overrides))


class RecordingServer:
    """A mail server someone controls: it speaks just enough IMAP or SMTP for a client to
    send its login, and keeps every byte it receives."""

    def __init__(self, greeting: bytes, answer: Callable[[bytes], bytes]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.greeting, self.answer = greeting, answer
        self.received = bytearray()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            conn.sendall(self.greeting)
            buffer = b""
            try:
                for _ in range(50):  # bounded: a login takes a handful of lines
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    self.received += chunk
                    buffer += chunk
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        conn.sendall(self.answer(line))
            except OSError:
                return

    def saw(self, secret: str) -> bool:
        """Whether ``secret`` arrived, as typed or inside a base64 token (AUTH PLAIN/LOGIN)."""
        data = bytes(self.received)
        if secret.encode() in data:
            return True
        for token in data.split():
            try:
                if secret.encode() in base64.b64decode(token + b"==", validate=False):
                    return True
            except ValueError:
                continue
        return False

    def close(self) -> None:
        self.sock.close()


def _imap_answer(line: bytes) -> bytes:
    tag = line.split(b" ", 1)[0]
    if b"CAPABILITY" in line.upper():
        return b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag + b" OK done\r\n"
    return tag + b" NO [AUTHENTICATIONFAILED] nope\r\n"


def _smtp_answer(line: bytes) -> bytes:
    verb = line.split(b" ", 1)[0].upper()
    if verb in (b"EHLO", b"HELO"):
        return b"250-capture\r\n250 AUTH PLAIN LOGIN\r\n"
    if verb == b"QUIT":
        return b"221 bye\r\n"
    if verb == b"AUTH" or (line and not line[:1].isalpha()):
        return b"535 5.7.8 nope\r\n"
    return b"250 ok\r\n"


@pytest.fixture
def imap_trap() -> Iterator[RecordingServer]:
    server = RecordingServer(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", _imap_answer)
    yield server
    server.close()


@pytest.fixture
def smtp_trap() -> Iterator[RecordingServer]:
    server = RecordingServer(b"220 capture ESMTP\r\n", _smtp_answer)
    yield server
    server.close()


# --- Item 3: a saved password only goes back to the server it was saved for --------------------


def test_a_reconnect_to_another_imap_server_does_not_send_the_saved_password(
    harness: Harness, imap_trap: RecordingServer
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    # An admin reconnects Alice's mailbox to a server of their own, password left empty.
    answer = h.submit_connect(
        reconnect_values(h, account, imap_port=str(imap_trap.port)),
        user="UADMIN",
        mailbox_id=mailbox.id,
    )
    assert not imap_trap.saw(account.password) and imap_trap.connections == 0
    assert answer["response_action"] == "errors", answer
    assert "Type the password again" in answer["errors"]["imap_password"]
    assert h.ctx.mailboxes.get(mailbox.id).imap_port == h.dovecot.port


def test_a_reconnect_to_another_smtp_server_does_not_send_the_saved_password(
    harness: Harness, smtp_trap: RecordingServer
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    answer = h.submit_connect(
        reconnect_values(h, account, smtp_port=str(smtp_trap.port)),
        user="UADMIN",
        mailbox_id=mailbox.id,
    )
    assert not smtp_trap.saw(account.password) and smtp_trap.connections == 0
    assert answer["response_action"] == "errors", answer
    assert "Type the password again" in answer["errors"]["smtp_password"]


@pytest.mark.parametrize(
    "change",
    [{"imap_security": "ssl"}, {"imap_username": "someone.else@example.com"}],
    ids=["security", "username"],
)
def test_a_changed_security_or_username_needs_the_password_typed(
    harness: Harness, change: dict[str, str]
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    answer = h.submit_connect(
        reconnect_values(h, account, **change), user="UADMIN", mailbox_id=mailbox.id
    )
    assert answer["response_action"] == "errors", answer
    assert "Type the password again" in answer["errors"]["imap_password"]


def test_an_unchanged_reconnect_reuses_the_password_and_the_owner_is_told(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    answer = h.submit_connect(
        reconnect_values(h, account, sender_name="Sales desk"),
        user="UADMIN",
        mailbox_id=mailbox.id,
    )
    assert answer["response_action"] == "update", answer
    saved = h.ctx.mailboxes.get(mailbox.id)
    assert saved.sender_name == "Sales desk"
    assert h.ctx.mailboxes.secrets(saved)["imap_password"] == account.password
    told = wait_until(
        lambda: [m for m in h.slack.messages("UALICE") if "reconnected your mailbox" in m["text"]],
        message="owner told",
    )[0]
    assert "<@UADMIN>" in told["text"] and account.address in told["text"]
    # Her own reconnect tells nobody.
    h.submit_connect(reconnect_values(h, account), user="UALICE", mailbox_id=mailbox.id)
    assert len([m for m in h.slack.messages("UALICE") if "reconnected" in m["text"]]) == 1


# --- Item 2: sending as another address of an SES-verified domain ------------------------------


def _ses_mailbox(h: Harness, ses: MotoSes) -> tuple[MailAccount, Mailbox]:
    """Alice's personal mailbox, routed through SES by an admin; example.com is verified."""
    account = h.new_account()
    mailbox = h.connect(account, user="UALICE")
    ses.add_identity("example.com", "SUCCESS")
    h.client.action("ses_send_via", f"{mailbox.id}:ses", "UADMIN", channel_id="C_CMD")
    routed = wait_until(
        lambda: (m := h.ctx.mailboxes.get(mailbox.id)) and m.send_via == "ses" and m,
        message="routed through SES",
    )
    return account, routed


def test_the_address_must_be_the_login_when_reconnecting(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    account, mailbox = _ses_mailbox(h, ses_endpoint)
    # Alice keeps her own login and password and changes only the address.
    values = h.connect_values(
        account, imap_username=account.address, imap_password=account.password
    )
    values["address"]["value"]["value"] = "director@example.com"
    answer = h.submit_connect(values, user="UALICE", mailbox_id=mailbox.id)
    assert answer["response_action"] == "errors", answer
    assert "must be the account you log in with" in answer["errors"]["address"]
    saved = h.ctx.mailboxes.get(mailbox.id)
    assert saved.address == account.address and saved.send_via == "ses"


def test_a_changed_address_stops_sending_through_ses(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    _, mailbox = _ses_mailbox(h, ses_endpoint)
    other = h.new_account()  # another mailbox she can log in to
    answer = h.submit_connect(h.connect_values(other), user="UALICE", mailbox_id=mailbox.id)
    assert answer["response_action"] == "update", answer
    assert "sends through its own SMTP server again" in json.dumps(answer["view"])
    saved = h.ctx.mailboxes.get(mailbox.id)
    assert (saved.address, saved.send_via) == (other.address, "smtp")
    assert saved.ses_pinned_address is None


def test_a_verified_domain_alone_does_not_let_another_address_send(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    account, mailbox = _ses_mailbox(h, ses_endpoint)
    h.deliver(account, make_email(to=account.address))
    h.sync(mailbox.id)
    root = wait_until(lambda: [m for m in h.slack.top_level("C_SALES") if m.get("blocks")])[0]
    # The admin pinned SES to this address: it sends on its domain's verification.
    assert mailbox.ses_pinned_address == account.address
    h.reply("C_SALES", root["ts"], "First answer")
    sent = wait_until(lambda: ses_endpoint.backend.sent_messages, timeout=15)
    assert len(sent) == 1 and f"From: Ana from Acme <{account.address}>" in sent[0].raw_data
    # A row whose address was changed some other way (an older version, a direct edit) keeps
    # send_via=ses, but the address is neither verified by itself nor pinned: refused.
    h.ctx.mailboxes.set_fields(mailbox.id, address="director@example.com")
    h.reply("C_SALES", root["ts"], "Second answer")
    refusal = wait_until(
        lambda: [e for e in h.slack.ephemerals("UALICE") if "not sent" in e["text"]],
        message="reply refused",
    )[0]
    assert "director@example.com" in refusal["text"]
    assert len(ses_endpoint.backend.sent_messages) == 1
    assert h.smtp.messages == []


# --- Item 11: channel ids from the modal are checked ------------------------------------------


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ("UBOB", "not a person"),
        ("DUBOB", "not a person"),
        ("C1|<!channel>", "not a person"),
        ("G_BOARD", "not one you are in"),
    ],
    ids=["user-id", "dm", "mrkdwn", "private-not-member"],
)
def test_the_connect_modal_refuses_channels_the_person_may_not_use(
    harness: Harness, channel: str, words: str
) -> None:
    h = harness
    h.slack.add_channel("G_BOARD", "board", is_private=True, is_member=True, members=["UADMIN"])
    account = h.new_account()
    answer = h.submit_connect(h.connect_values(account, channel=channel))
    assert answer["response_action"] == "errors", answer
    assert words in answer["errors"]["channel"]
    assert h.mailbox_by_address(account.address) is None
    assert not h.slack.calls_to("conversations.join")
