"""DNS lookups for the domain checks, with outcomes people can act on.

A lookup ends one of three ways, and the difference matters to whoever reads the report:
``ok`` (records found), ``missing`` (the DNS answered: no such name, or no record of that
type) and ``error`` (we could not get an answer: timeout, SERVFAIL). Only ``missing`` is
evidence that a record is absent; an ``error`` must never be reported as "missing", or an
admin would go and "fix" a record that is already right because their DNS had a hiccup.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from locales import _
from providers.errors import UserError

DEFAULT_DNS_PORT = 53

LookupStatus = Literal["ok", "missing", "error"]


@dataclass(frozen=True)
class Lookup:
    """The outcome of one DNS question; ``error`` is a plain reason when status is "error"."""

    status: LookupStatus
    records: list[str] = field(default_factory=list)
    error: str | None = None


def parse_nameserver(entry: str) -> tuple[str, int]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` into (address, port).

    A bare IPv6 address (``::1``) is accepted too, since its colons cannot be a port.
    """
    text = entry.strip()
    if not text:
        raise UserError(
            _("A DNS server entry is empty; give an address like 1.1.1.1 or 10.0.0.2:53.")
        )
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise UserError(
                _(
                    "The DNS server {entry} is not valid; write IPv6 addresses with a port as "
                    "[::1]:5353."
                ).format(entry=repr(entry))
            )
        return check_nameserver_host(host, entry), parse_port(
            rest[1:], entry
        ) if rest else DEFAULT_DNS_PORT
    if text.count(":") > 1:
        return check_nameserver_host(text, entry), DEFAULT_DNS_PORT
    host, sep, port = text.partition(":")
    return check_nameserver_host(host, entry), parse_port(port, entry) if sep else DEFAULT_DNS_PORT


def check_nameserver_host(host: str, entry: str) -> str:
    """Accept only IP addresses: dnspython talks to servers by address, not by name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        raise UserError(
            _(
                "The DNS server {entry} is not an IP address; give one like 1.1.1.1 or "
                "127.0.0.1:5353."
            ).format(entry=repr(entry))
        ) from None


def parse_port(text: str, entry: str) -> int:
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    raise UserError(
        _("The DNS server {entry} has an invalid port; use a number from 1 to 65535.").format(
            entry=repr(entry)
        )
    )


def make_resolver(nameservers: Sequence[str] | None, timeout: float = 3.0) -> dns.resolver.Resolver:
    """A resolver asking ``nameservers`` (or the system's when None), bounded by ``timeout``.

    ``timeout`` bounds a whole lookup (dnspython's ``lifetime``), retries included, so one
    slow server cannot stall a domain check.
    """
    if nameservers is None:
        resolver = dns.resolver.Resolver(configure=True)
    else:
        resolver = dns.resolver.Resolver(configure=False)
        # One Do53Nameserver per entry, so servers on different ports can be mixed.
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(host, port)
            for host, port in map(parse_nameserver, nameservers)
        ]
    resolver.timeout = timeout
    resolver.lifetime = timeout
    # The domain checks want what the DNS says now, not what it said a minute ago.
    resolver.cache = None
    return resolver


def lookup(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> Lookup:
    """Ask for ``rdtype`` records at ``name``; never raises for DNS trouble."""
    try:
        qname = dns.name.from_text(name)
        answer = resolver.resolve(qname, rdtype, search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return Lookup("missing")
    except dns.exception.Timeout:
        return Lookup("error", error=_("the DNS server did not answer in time"))
    except dns.resolver.NoNameservers as exc:
        return Lookup("error", error=describe_no_nameservers(exc))
    except dns.exception.DNSException as exc:
        return Lookup("error", error=_("the DNS lookup failed ({error})").format(error=exc))
    return Lookup("ok", records=[render_rdata(rdata) for rdata in answer])


def describe_no_nameservers(exc: dns.resolver.NoNameservers) -> str:
    """Name the answer code the servers gave (usually SERVFAIL) in a short phrase."""
    errors = exc.kwargs.get("errors") or []
    codes = [err[3] for err in errors if len(err) > 3 and isinstance(err[3], str)]
    if codes:
        return _("the DNS server answered {code}").format(code=codes[-1])
    return _("no DNS server could answer")


def render_rdata(rdata: object) -> str:
    """Text for one record, in the shape the checks compare against."""
    rdtype = rdata.rdtype  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.TXT:
        # A TXT record is a list of <=255-byte strings that receivers concatenate as-is.
        return b"".join(rdata.strings).decode("utf-8", errors="replace")  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.CNAME:
        return str(rdata.target.to_text(omit_final_dot=True)).lower()  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        exchange = rdata.exchange.to_text(omit_final_dot=True).lower()  # type: ignore[attr-defined]
        return f"{rdata.preference} {exchange or '.'}"  # type: ignore[attr-defined]
    return str(rdata.to_text())  # type: ignore[attr-defined]
