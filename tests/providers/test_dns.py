"""providers.dns against a real DNS server on loopback (tests.support.dns_server)."""

from __future__ import annotations

import time

import dns.nameserver
import dns.resolver
import pytest

from providers.dns import Lookup, lookup, make_resolver, parse_nameserver
from providers.errors import UserError
from tests.support.dns_server import TestDnsServer
from tests.support.dns_ses import DNS_TIMEOUT, SES_TOKENS


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        (" 10.0.0.2:53 ", ("10.0.0.2", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
        ("::1", ("::1", 53)),
        ("2001:db8::1", ("2001:db8::1", 53)),
    ],
)
def test_parse_nameserver_accepts_host_and_port_forms(
    entry: str, expected: tuple[str, int]
) -> None:
    assert parse_nameserver(entry) == expected


@pytest.mark.parametrize(
    ("entry", "mentions"),
    [
        ("", "empty"),
        ("dns.example.com", "not an IP address"),
        ("127.0.0.1:0", "invalid port"),
        ("127.0.0.1:99999", "invalid port"),
        ("127.0.0.1:abc", "invalid port"),
        ("[::1", "[::1]:5353"),
        ("[::1]x", "[::1]:5353"),
    ],
)
def test_parse_nameserver_rejects_bad_entries_with_a_fix(entry: str, mentions: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_nameserver(entry)
    assert mentions in caught.value.message
    assert caught.value.message.endswith(".")


def test_make_resolver_sets_servers_ports_and_lifetime() -> None:
    resolver = make_resolver(["127.0.0.1:5353", "[::1]", "10.0.0.2"], timeout=1.5)
    servers = resolver.nameservers
    assert all(isinstance(server, dns.nameserver.Do53Nameserver) for server in servers)
    assert [(s.address, s.port) for s in servers] == [  # type: ignore[union-attr]
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("10.0.0.2", 53),
    ]
    assert resolver.lifetime == 1.5
    assert resolver.timeout == 1.5


def test_make_resolver_without_servers_uses_the_system_configuration() -> None:
    try:
        resolver = make_resolver(None, timeout=2.0)
    except dns.resolver.NoResolverConfiguration:
        pytest.skip("this machine has no /etc/resolv.conf")
    assert resolver.nameservers
    assert resolver.lifetime == 2.0


def test_lookup_reaches_a_server_on_a_custom_port(
    dns_resolver: dns.resolver.Resolver, dns_server: TestDnsServer
) -> None:
    assert dns_server.port != 53
    result = lookup(dns_resolver, "good.test", "MX")
    assert result == Lookup("ok", ["10 mx1.good.test", "20 mx2.good.test"], None)


def test_lookup_joins_the_strings_of_a_long_txt_record(dns_resolver: dns.resolver.Resolver) -> None:
    # The 2048-bit key is ~400 base64 characters: served as two character-strings, and too
    # big for a 512-byte UDP answer, so this also goes through the TC bit and TCP.
    result = lookup(dns_resolver, "google._domainkey.good.test", "TXT")
    assert result.status == "ok"
    (record,) = result.records
    assert len(record) > 255
    assert record.startswith("v=DKIM1; k=rsa; p=MII")
    assert " " not in record.partition("p=")[2]


def test_lookup_serves_long_txt_over_tcp_when_udp_truncates() -> None:
    server = TestDnsServer().start()
    try:
        value = "".join(f"{n:04d}" for n in range(300))  # 1200 bytes: 5 strings, > 512 bytes
        server.add("long.test", "TXT", value)
        result = lookup(make_resolver([server.address], timeout=2.0), "long.test", "TXT")
    finally:
        server.stop()
    assert result == Lookup("ok", [value], None)


def test_lookup_returns_cname_targets_lowercase_without_final_dot(
    dns_resolver: dns.resolver.Resolver,
) -> None:
    token = SES_TOKENS["good.test"][0]
    result = lookup(dns_resolver, f"{token}._domainkey.GOOD.test", "CNAME")
    assert result == Lookup("ok", [f"{token}.dkim.amazonses.com"], None)


def test_lookup_follows_cnames_for_other_types(dns_server: TestDnsServer) -> None:
    dns_server.add("alias.cname.test", "CNAME", "Target.CNAME.test.")
    dns_server.add("target.cname.test", "TXT", "reached")
    resolver = make_resolver([dns_server.address], timeout=DNS_TIMEOUT)
    assert lookup(resolver, "alias.cname.test", "TXT") == Lookup("ok", ["reached"], None)


def test_lookup_reports_nxdomain_and_nodata_as_missing(dns_resolver: dns.resolver.Resolver) -> None:
    assert lookup(dns_resolver, "nothing-here.good.test", "TXT") == Lookup("missing", [], None)
    # The name exists (it has MX and TXT) but has no AAAA: NODATA.
    assert lookup(dns_resolver, "good.test", "AAAA") == Lookup("missing", [], None)
    # An empty non-terminal: _domainkey.good.test has children only.
    assert lookup(dns_resolver, "_domainkey.good.test", "TXT") == Lookup("missing", [], None)


def test_lookup_times_out_as_error_not_missing(dns_resolver: dns.resolver.Resolver) -> None:
    started = time.monotonic()
    result = lookup(dns_resolver, "slow.test", "TXT")
    elapsed = time.monotonic() - started
    assert result == Lookup("error", [], "the DNS server did not answer in time")
    assert elapsed < DNS_TIMEOUT + 1.0


def test_lookup_reports_servfail_as_error(dns_resolver: dns.resolver.Resolver) -> None:
    result = lookup(dns_resolver, "_dmarc.broken.test", "TXT")
    assert result == Lookup("error", [], "the DNS server answered SERVFAIL")


def test_lookup_reports_a_server_that_is_not_there_as_error(unreachable_aws_url: str) -> None:
    port = unreachable_aws_url.rsplit(":", 1)[1]  # a loopback port where nothing listens
    result = lookup(make_resolver([f"127.0.0.1:{port}"], timeout=DNS_TIMEOUT), "good.test", "MX")
    assert result.status == "error"
    assert result.records == []
    assert result.error
