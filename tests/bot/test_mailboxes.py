"""Mailboxes' IMAP/SMTP settings go through the private-address guard on every connection:
DNS rebinding, and a host no longer allowed when the app is opened again.

A loopback DNS server answers a mail host name with an allowed address first and with an
internal one (127.0.0.2, not allowed) on every later query, as a rebinding attacker's DNS
does. The connection test, a sync and a send must each resolve the name once and connect
to the address they checked: a trap listening on 127.0.0.2 must never see a connection.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dns_server import TestDnsServer
from tests.support.harness import HarnessFactory, make_email
from tests.support.listeners import Listener
from tests.support.wait import wait_until

CHANNEL = "C_SALES"
ALLOWED = "127.0.0.1"  # in the harness's MAILROOM_ALLOWED_PRIVATE_HOSTS
INSIDE = "127.0.0.2"  # loopback, not allowed: stands for the internal service attacked
IMAP_NAME, SMTP_NAME = "imap.rebind.test", "smtp.rebind.test"


@pytest.fixture
def rebinding_dns() -> Iterator[TestDnsServer]:
    server = TestDnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def traps(harness_with: HarnessFactory) -> Iterator[list[Listener]]:
    """Listeners on 127.0.0.2 at the real servers' ports: where a second answer would lead."""
    made = [
        Listener(INSIDE, harness_with.dovecot.port),
        Listener(INSIDE, harness_with.smtp.port),
    ]
    yield made
    for trap in made:
        trap.close()


def rebind(dns: TestDnsServer, first: str, then: str) -> None:
    for name in (IMAP_NAME, SMTP_NAME):
        dns.answer_in_turn(name, "A", [first, then])


def test_each_connection_uses_the_address_it_checked(
    harness_with: HarnessFactory, rebinding_dns: TestDnsServer, traps: list[Listener]
) -> None:
    dns = rebinding_dns
    h = harness_with(MAIL_DNS_NAMESERVERS=dns.address, MAILROOM_SCHEDULER="off")
    account = h.new_account()

    # The connection test: checked 127.0.0.1, and logged in there, not at the 2nd answer.
    rebind(dns, ALLOWED, INSIDE)
    mailbox = h.connect(account, imap_host=IMAP_NAME, smtp_host=SMTP_NAME)
    assert (mailbox.imap_host, mailbox.smtp_host) == (IMAP_NAME, SMTP_NAME)
    assert dns.asked(IMAP_NAME, "A") == 1 and dns.asked(SMTP_NAME, "A") == 1

    # A sync: one lookup, one IMAP connection to what it checked.
    rebind(dns, ALLOWED, INSIDE)
    assert h.sync(mailbox.id).error is None
    h.deliver(account, make_email(to=account.address, subject="Rebinding is no way in"))
    rebind(dns, ALLOWED, INSIDE)
    result = h.sync(mailbox.id)
    assert result.error is None and result.posted == 1, result
    assert dns.asked(IMAP_NAME, "A") == 3

    # A reply: the SMTP connection goes to the checked address too.
    rebind(dns, ALLOWED, INSIDE)
    root = h.slack.top_level(CHANNEL)[-1]
    h.reply(CHANNEL, root["ts"], "Thanks, sent from the checked address.")
    assert "checked address" in h.smtp.wait_for_messages(1)[0].message.as_string()
    assert dns.asked(SMTP_NAME, "A") == 2

    assert [trap.accepted for trap in traps] == [0, 0]


def test_an_internal_first_answer_is_refused_whatever_comes_next(
    harness_with: HarnessFactory, rebinding_dns: TestDnsServer, traps: list[Listener]
) -> None:
    dns = rebinding_dns
    h = harness_with(MAIL_DNS_NAMESERVERS=dns.address, MAILROOM_SCHEDULER="off")
    account = h.new_account()
    rebind(dns, INSIDE, ALLOWED)
    answer = h.client.submit_view(
        "mail_connect",
        h.connect_values(account, imap_host=IMAP_NAME, smtp_host=SMTP_NAME),
        "UALICE",
        private_metadata='{"mailbox_id": null}',
    ).json()
    assert answer["response_action"] == "errors", answer
    assert "loopback" in answer["errors"]["imap_host"]
    assert INSIDE in answer["errors"]["imap_host"]
    assert h.mailbox_by_address(account.address) is None
    assert [trap.accepted for trap in traps] == [0, 0]


class RebindingSystemResolver:
    """Stands in for the system resolver (socket.getaddrinfo) for the rebinding names only:
    the first lookup of a name gets ``first``, every later one ``then``. Addresses and
    other names go to the real resolver."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.turns: dict[str, list[str]] = {}
        self.asked: dict[str, int] = {}

    def rebind(self, first: str, then: str) -> None:
        for name in (IMAP_NAME, SMTP_NAME):
            self.turns[name] = [first, then]

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        turns = self.turns.get(str(host).lower())
        if turns is None:
            return self.real(host, port, *args, **kwargs)
        self.asked[str(host).lower()] = self.asked.get(str(host).lower(), 0) + 1
        address = turns.pop(0) if len(turns) > 1 else turns[0]
        return self.real(address, port, *args, **kwargs)


def test_system_resolver_is_asked_once_per_connection(
    harness_with: HarnessFactory, traps: list[Listener], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MAIL_DNS_NAMESERVERS the system resolver answers; the same rule holds."""
    resolver = RebindingSystemResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    h = harness_with(MAILROOM_SCHEDULER="off")
    account = h.new_account()
    resolver.rebind(ALLOWED, INSIDE)
    mailbox = h.connect(account, imap_host=IMAP_NAME, smtp_host=SMTP_NAME)
    resolver.rebind(ALLOWED, INSIDE)
    assert h.sync(mailbox.id).error is None
    assert resolver.asked == {IMAP_NAME: 2, SMTP_NAME: 1}
    assert [trap.accepted for trap in traps] == [0, 0]


# One key for both apps below, so the second can open the secrets the first sealed.
SECRET_KEY = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="


def test_host_no_longer_allowed_is_refused_at_sync_and_send_time(
    harness_with: HarnessFactory, tmp_path: Path
) -> None:
    """The modal checked the host once; DNS (or the operator's allow list) can change later.

    The same database is opened by a second app whose allow list no longer holds 127.0.0.1:
    its sync and its send must refuse to connect, saying why, instead of reaching inside.
    """
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = harness_with(database_url=url, MAILROOM_SECRET_KEY=SECRET_KEY, MAILROOM_SCHEDULER="off")
    account = first.new_account()
    mailbox = first.connect(account)
    first.sync(mailbox.id)  # the first sync starts from now (no backfill asked)
    first.deliver(account, make_email(to=account.address, subject="Before the change"))
    assert first.sync(mailbox.id).posted == 1
    thread_ts = first.slack.top_level(CHANNEL)[-1]["ts"]

    second = harness_with(
        database_url=url,
        MAILROOM_SECRET_KEY=SECRET_KEY,
        MAILROOM_SCHEDULER="off",
        MAILROOM_ALLOWED_PRIVATE_HOSTS="",
    )
    second.deliver(account, make_email(to=account.address, subject="After the change"))
    result = second.sync(mailbox.id)
    assert result.error is not None and "loopback" in result.error, result.error
    assert "MAILROOM_ALLOWED_PRIVATE_HOSTS" in result.error
    stored = second.ctx.mailboxes.get(mailbox.id)
    assert stored.health == "needs_attention" and "loopback" in (stored.last_error or "")
    assert not [m for m in second.slack.messages(CHANNEL) if "After the change" in json.dumps(m)]

    second.reply(CHANNEL, thread_ts, "This must not leave through 127.0.0.1.")
    notice = wait_until(
        lambda: next(
            (m for m in second.slack.thread(CHANNEL, thread_ts) if "not sent" in m["text"]),
            None,
        ),
        message="the refusal in the thread",
    )
    assert "loopback" in json.dumps(notice["blocks"])
    assert not second.smtp.messages
