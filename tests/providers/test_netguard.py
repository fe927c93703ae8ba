"""providers.netguard: internal addresses are refused unless an operator allows them."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from bot.errors import UserError
from providers.netguard import check_host_allowed

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
