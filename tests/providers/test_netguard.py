"""providers.netguard: internal addresses are refused unless an operator allows them."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from providers.errors import UserError
from providers.imap import ImapSettings
from providers.imap import check_login as imap_check_login
from providers.netguard import check_host_allowed
from providers.smtp import SmtpSettings
from providers.smtp import check_login as smtp_check_login
from tests.support.dns_server import TestDnsServer
from tests.support.mail_servers import DovecotServer, MailUser, SmtpServer, write_self_signed

PUBLIC = "93.184.216.34"


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.5", "private"),
        ("192.168.1.10", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("100.64.0.1", "shared"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("localhost", "loopback"),
    ],
)
def test_internal_addresses_are_refused(host: str, reason: str) -> None:
    with pytest.raises(UserError) as caught:
        check_host_allowed(host, 993, allowed=[])
    message = caught.value.message
    assert caught.value.field == "imap_host"
    assert reason in message
    assert host in message
    assert "MAILROOM_ALLOWED_PRIVATE_HOSTS" in message


def test_public_literal_is_allowed() -> None:
    check_host_allowed(PUBLIC, 993, allowed=[])
    check_host_allowed("2606:2800:220:1:248:1893:25c8:1946", 993, allowed=[])


@pytest.mark.parametrize(
    "allowed",
    [["localhost"], ["LOCALHOST."], ["127.0.0.1", "::1"], ["127.0.0.0/8", "::1/128"]],
)
def test_listed_hosts_addresses_and_networks_are_allowed(allowed: list[str]) -> None:
    check_host_allowed("localhost", 993, allowed=allowed)


def test_cidr_entry_allows_only_its_network() -> None:
    check_host_allowed("10.0.0.5", 143, allowed=["10.0.0.0/8"])
    with pytest.raises(UserError):
        check_host_allowed("192.168.0.5", 143, allowed=["10.0.0.0/8"])


def test_field_is_configurable() -> None:
    with pytest.raises(UserError) as caught:
        check_host_allowed("127.0.0.1", 587, allowed=[], field="smtp_host")
    assert caught.value.field == "smtp_host"


def test_unknown_host_is_a_user_error() -> None:
    with pytest.raises(UserError) as caught:
        check_host_allowed("no-such-host.invalid", 993, allowed=[])
    assert caught.value.message == (
        "We could not find the server no-such-host.invalid. Check the spelling."
    )
    assert caught.value.field == "imap_host"


def test_one_internal_answer_among_public_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # A DNS answer we cannot get offline: fake only the resolver, not our code.
    def resolver(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        assert host == "mail.rebind.example"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(UserError) as caught:
        check_host_allowed("mail.rebind.example", 993, allowed=[])
    assert "10.1.2.3" in caught.value.message
    check_host_allowed("mail.rebind.example", 993, allowed=["10.1.2.3"])


# --- IPv6 forms that carry an IPv4 address --------------------------------------------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("2002:7f00:1::1", "6to4"),  # 6to4 of 127.0.0.1
        ("2002:5db8:d822::1", "6to4"),  # even of a public IPv4: a tunnel to anywhere
        ("2001:0:5db8:d822:0:f227:80ff:fffe", "Teredo"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:5", "private"),  # NAT64 of 10.0.0.5
        ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 of 169.254.169.254
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("::ffff:10.0.0.5", "private"),
    ],
)
def test_ipv6_embeddings_of_internal_or_tunnel_addresses_are_refused(
    host: str, reason: str
) -> None:
    with pytest.raises(UserError) as caught:
        check_host_allowed(host, 993, allowed=[])
    assert reason in caught.value.message


def test_nat64_of_a_public_address_is_allowed() -> None:
    # IPv6-only networks reach public IPv4 mail servers through NAT64 (64:ff9b::/96).
    check_host_allowed("64:ff9b::5db8:d822", 993, allowed=[])


# --- Resolve once, connect to the checked address, TLS on the name ------------------------------


class NamedTlsSmtpServer(SmtpServer):
    """aiosmtpd over implicit TLS presenting a certificate for a host name."""

    def __init__(self, users: dict[str, str], context: ssl.SSLContext) -> None:
        self._named_context = context
        super().__init__(users)

    def _make_controller(self) -> Any:
        self.ssl_context = self._named_context
        return super()._make_controller()


@pytest.fixture
def named_tls_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[NamedTlsSmtpServer, TestDnsServer]]:
    cert, key = write_self_signed(tmp_path, "smtp.rebind.test")
    # Trust that certificate the way an operator would: OpenSSL's SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = NamedTlsSmtpServer({"sender@example.com": "smtp-secret"}, context).start()
    dns = TestDnsServer().start()
    yield server, dns
    dns.stop()
    server.stop()


def smtp_to(name: str, server: SmtpServer, addresses: tuple[str, ...]) -> SmtpSettings:
    return SmtpSettings(
        host=name,
        port=server.port,
        security="ssl",
        username="sender@example.com",
        password="smtp-secret",
        timeout=5.0,
        addresses=addresses,
    )


def test_tls_checks_the_certificate_against_the_name_while_connecting_to_the_address(
    named_tls_smtp: tuple[NamedTlsSmtpServer, TestDnsServer],
) -> None:
    server, dns = named_tls_smtp
    dns.answer_in_turn("smtp.rebind.test", "A", ["127.0.0.1", "127.0.0.2"])
    dns.add("other.rebind.test", "A", "127.0.0.1")
    checked = check_host_allowed(
        "smtp.rebind.test", server.port, ["127.0.0.1"], nameservers=[dns.address]
    )
    assert checked.addresses == ("127.0.0.1",)
    smtp_check_login(smtp_to("smtp.rebind.test", server, checked.addresses))
    assert dns.asked("smtp.rebind.test", "A") == 1  # the login asked no DNS again

    # The certificate names smtp.rebind.test: another name at the same address fails.
    other = check_host_allowed(
        "other.rebind.test", server.port, ["127.0.0.1"], nameservers=[dns.address]
    )
    with pytest.raises(UserError) as caught:
        smtp_check_login(smtp_to("other.rebind.test", server, other.addresses))
    assert caught.value.field == "smtp_security"
    assert "certificate" in caught.value.message


def test_imap_login_goes_to_the_checked_address(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    dns = TestDnsServer().start()
    trap = socket.create_server(("127.0.0.2", dovecot.port))
    trap.settimeout(0.2)
    try:
        dns.answer_in_turn("imap.rebind.test", "A", ["127.0.0.1", "127.0.0.2"])
        checked = check_host_allowed(
            "imap.rebind.test", dovecot.port, ["127.0.0.1"], nameservers=[dns.address]
        )
        imap_check_login(
            ImapSettings(
                host="imap.rebind.test",
                port=dovecot.port,
                security="none",
                username=mail_user.address,
                password=mail_user.password,
                timeout=5.0,
                addresses=checked.addresses,
            )
        )
        assert dns.asked("imap.rebind.test", "A") == 1
        with pytest.raises(TimeoutError):
            trap.accept()  # nothing ever came to the second answer's address
    finally:
        trap.close()
        dns.stop()


def test_nameserver_trouble_is_a_sentence() -> None:
    dns = TestDnsServer().start()
    try:
        dns.servfail_name("broken.rebind.test")
        with pytest.raises(UserError) as caught:
            check_host_allowed("broken.rebind.test", 993, [], nameservers=[dns.address], timeout=2)
        assert "broken.rebind.test" in caught.value.message
        with pytest.raises(UserError) as missing:
            check_host_allowed("nowhere.rebind.test", 993, [], nameservers=[dns.address])
        assert "could not find" in missing.value.message
    finally:
        dns.stop()
