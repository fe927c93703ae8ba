"""Refuse mail server addresses that point inside our own network.

A person types the IMAP/SMTP host in a Slack modal; without this check they could make
Mailroom connect to loopback services, the private network or the cloud metadata endpoint
(server-side request forgery). An operator who really runs mail on an internal network
lists the host in MAILROOM_ALLOWED_PRIVATE_HOSTS.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection

from bot.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "MAILROOM_ALLOWED_PRIVATE_HOSTS"

# Carrier-grade NAT space: Python does not count it as private, but it is not public either.
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)


def check_host_allowed(
    host: str, port: int, allowed: Collection[str], *, field: str = "imap_host"
) -> None:
    """Raise ``UserError`` unless every address ``host`` resolves to is public or allowed.

    ``allowed`` holds exact host names, exact IP addresses and CIDR networks
    (``10.0.0.0/8``). Every resolved address is checked, because one internal answer
    among public ones is enough to reach inside.
    """
    name = normalise_host(host)
    if not name:
        raise UserError(
            "Enter the mail server's host name, for example imap.example.com.", field=field
        )
    if name in {normalise_host(entry) for entry in allowed}:
        return
    for address in resolve(name, port, field=field):
        reason = internal_reason(address)
        if reason is None or is_listed(address, allowed):
            continue
        shown = name if name == str(address) else f"{name} ({address})"
        raise UserError(
            f"The server {shown} is {reason}, so Mailroom will not connect to it. "
            "Use your provider's public host name. If your company really runs this mail "
            "server on an internal network, an operator can allow it by adding the host or "
            f"address to the {ALLOW_SETTING} setting.",
            field=field,
        )


def normalise_host(host: str) -> str:
    # Host names are case-insensitive and may end in the root dot; IPv6 may come bracketed.
    return host.strip().strip("[]").rstrip(".").lower()


def resolve(host: str, port: int, *, field: str = "imap_host") -> list[IPAddress]:
    """Every address ``host`` resolves to (literals need no network)."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            f"We could not find the server {host}. Check the spelling.", field=field
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope ("fe80::1%eth0") before parsing.
        literal = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(literal)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UserError(f"We could not find the server {host}. Check the spelling.", field=field)
    return addresses


def internal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is internal, in plain words; None when it is public."""
    # "::ffff:127.0.0.1" reaches 127.0.0.1: judge the IPv4 address inside.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "the cloud metadata address"
    if address.is_loopback:
        return "a loopback address (this machine itself)"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_NETWORK:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private network address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        # Documentation, benchmarking and other special ranges: nothing public lives there.
        return "a special-purpose address that is not on the public internet"
    return None


def is_listed(address: IPAddress, allowed: Collection[str]) -> bool:
    """Whether ``address`` is an allowed IP or inside an allowed CIDR network."""
    for entry in allowed:
        text = normalise_host(entry)
        try:
            if "/" in text:
                if address in ipaddress.ip_network(text, strict=False):
                    return True
            elif address == ipaddress.ip_address(text):
                return True
        except ValueError:
            # A host name entry: already compared by name.
            continue
    return False
