"""Refuse mail server addresses that point inside our own network.

A person types the IMAP/SMTP host in a Slack modal; without this check they could make
Mailroom connect to loopback services, the private network or the cloud metadata endpoint
(server-side request forgery). An operator who really runs mail on an internal network
lists the host in MAILROOM_ALLOWED_PRIVATE_HOSTS.

The name is resolved once: the addresses checked are the addresses connected to
(``CheckedHost.addresses``, ``connect_checked``), so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot lead inside. The host name itself is kept
for TLS only (SNI and the certificate check).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import dns.exception
import dns.resolver

from locales import _
from providers.dns import make_resolver
from providers.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_SETTING = "MAILROOM_ALLOWED_PRIVATE_HOSTS"

# Carrier-grade NAT space: Python does not count it as private, but it is not public either.
SHARED_NETWORK = ipaddress.ip_network("100.64.0.0/10")
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
# IPv6 ranges that carry an IPv4 address inside, so one of them can lead to any IPv4 host:
# 6to4 and Teredo tunnels are refused outright (RFC 7526 deprecated 6to4); NAT64's
# well-known prefix is judged by the IPv4 address it translates to; its local-use prefix
# (RFC 8215) is an operator's internal translator.
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# A name with many addresses must not multiply the connect timeout without bound.
MAX_CONNECT_ATTEMPTS = 4


@dataclass(frozen=True)
class CheckedHost:
    """A host name and the addresses it resolved to when checked: connect only to these."""

    name: str
    addresses: tuple[str, ...]


def check_host_allowed(
    host: str,
    port: int,
    allowed: Collection[str],
    *,
    field: str = "imap_host",
    nameservers: Sequence[str] = (),
    timeout: float = 5.0,
) -> CheckedHost:
    """Resolve ``host`` once; raise ``UserError`` unless every address is public or allowed.

    ``allowed`` holds exact host names, exact IP addresses and CIDR networks
    (``10.0.0.0/8``). Every resolved address is checked, because one internal answer
    among public ones is enough to reach inside. The answer carries the checked
    addresses; the connection must use them rather than resolve the name again.
    ``nameservers`` (``host[:port]``) replace the system resolver when given.
    """
    name = normalise_host(host)
    if not name:
        raise UserError(
            _("Enter the mail server's host name, for example imap.example.com."), field=field
        )
    addresses = resolve(name, port, field=field, nameservers=nameservers, timeout=timeout)
    if name not in {normalise_host(entry) for entry in allowed}:
        for address in addresses:
            reason = internal_reason(address)
            if reason is None or is_listed(address, allowed):
                continue
            shown = name if name == str(address) else f"{name} ({address})"
            raise UserError(
                _(
                    "The server {server} is {reason}, so Mailroom will not connect to it. "
                    "Use your provider's public host name. If your company really runs this mail "
                    "server on an internal network, an operator can allow it by adding the host "
                    "or address to the {setting} setting."
                ).format(server=shown, reason=reason, setting=ALLOW_SETTING),
                field=field,
            )
    return CheckedHost(name, tuple(str(address) for address in addresses))


def connect_checked(addresses: Sequence[str], port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to the first of ``addresses`` that accepts, never resolving a name.

    Like ``socket.create_connection`` over the addresses a check has already approved.
    """
    if not addresses:
        raise OSError("no address to connect to")
    error: OSError | None = None
    for address in addresses[:MAX_CONNECT_ATTEMPTS]:
        # An IP literal: getaddrinfo parses it without asking any DNS server.
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


def normalise_host(host: str) -> str:
    # Host names are case-insensitive and may end in the root dot; IPv6 may come bracketed.
    return host.strip().strip("[]").rstrip(".").lower()


def resolve(
    host: str,
    port: int,
    *,
    field: str = "imap_host",
    nameservers: Sequence[str] = (),
    timeout: float = 5.0,
) -> list[IPAddress]:
    """Every address ``host`` resolves to (literals need no network)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if nameservers:
        addresses = _ask_nameservers(host, nameservers, timeout, field)
    else:
        addresses = _ask_system(host, port, field)
    if not addresses:
        raise UserError(
            _("We could not find the server {host}. Check the spelling.").format(host=host),
            field=field,
        )
    return addresses


def _ask_system(host: str, port: int, field: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UserError(
            _("We could not find the server {host}. Check the spelling.").format(host=host),
            field=field,
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 scope ("fe80::1%eth0") before parsing.
        literal = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(literal)
        if address not in addresses:
            addresses.append(address)
    return addresses


def _ask_nameservers(
    host: str, nameservers: Sequence[str], timeout: float, field: str
) -> list[IPAddress]:
    resolver = make_resolver(nameservers, timeout=timeout)
    addresses: list[IPAddress] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except dns.exception.DNSException as exc:
            raise UserError(
                _(
                    "We could not look up the server {host} right now (DNS trouble). "
                    "Try again in a few minutes."
                ).format(host=host),
                field=field,
            ) from exc
        for rdata in answer:
            address = ipaddress.ip_address(rdata.address)
            if address not in addresses:
                addresses.append(address)
    return addresses


def internal_reason(address: IPAddress) -> str | None:
    """Why ``address`` is internal, in plain words; None when it is public."""
    # "::ffff:127.0.0.1" reaches 127.0.0.1: judge the IPv4 address inside.
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in SIX_TO_FOUR:
            return _("a 6to4 tunnel address (2002::/16), which can lead to any IPv4 address")
        elif address in TEREDO:
            return _("a Teredo tunnel address (2001::/32), which can lead to any IPv4 address")
        elif address in NAT64_LOCAL:
            return _("a local-use NAT64 address (64:ff9b:1::/48) of an internal translator")
        elif address in NAT64:
            # NAT64 reaches the IPv4 address in its last 32 bits: judge that one.
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in METADATA_ADDRESSES:
        return _("the cloud metadata address")
    if address.is_loopback:
        return _("a loopback address (this machine itself)")
    if address.is_unspecified:
        return _("an unspecified address")
    if address.is_link_local:
        return _("a link-local address")
    if address.is_multicast:
        return _("a multicast address")
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_NETWORK:
        return _("a shared (carrier-grade NAT) address")
    if address.is_private:
        return _("a private network address")
    if address.is_reserved:
        return _("a reserved address")
    if not address.is_global:
        # Documentation, benchmarking and other special ranges: nothing public lives there.
        return _("a special-purpose address that is not on the public internet")
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
