"""bot.domain_checks.dkim, through check_domain against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import dns.resolver

from bot.domain_checks import (
    DEFAULT_SELECTORS,
    SesDomainInfo,
)
from tests.bot.domain_checks.checks import (
    assert_every_line_explains,
    base_rows,
    check,
    google,
    rows,
)
from tests.support.dns_server import TestDnsServer


def test_named_selector_is_checked_alone(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("good.test", dns_resolver, selectors=["Google"])
    assert rows(report)[0] == google("good.test")
    assert len(report.lines_for("DKIM")) == 1


def test_nodkim_fails_once_for_the_default_selectors(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("nodkim.test", dns_resolver)
    assert rows(report) == [("DKIM", "_domainkey.nodkim.test", "fail"), *base_rows("nodkim.test")]
    (line,) = report.lines_for("DKIM")
    assert "No DKIM key was found at the usual selectors" in line.detail
    assert all(selector in line.detail for selector in DEFAULT_SELECTORS)
    assert line.fix is None
    assert report.verdict == "fail"


def test_no_dkim_key_is_fine_when_ses_easy_dkim_passes(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    tokens = ["sesonlya", "sesonlyb", "sesonlyc"]
    for token in tokens:
        dns_server.add(f"{token}._domainkey.sesonly.test", "CNAME", f"{token}.dkim.amazonses.com")
    report = check("sesonly.test", dns_resolver, ses=SesDomainInfo(dkim_tokens=tokens))
    assert [line.status for line in report.lines_for("SES DKIM")] == ["pass"] * 3
    (line,) = report.lines_for("DKIM")
    assert (line.name, line.status) == ("_domainkey.sesonly.test", "pass")
    assert "Easy DKIM" in line.detail
    # nodkim.test has no SES CNAMEs: SES fails, and the missing key still fails.
    report = check("nodkim.test", dns_resolver, ses=SesDomainInfo(dkim_tokens=tokens))
    assert [line.status for line in report.lines_for("SES DKIM")] == ["fail"] * 3
    assert report.lines_for("DKIM")[0].status == "fail"


def test_revoked_key_fails(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("revoked.test", dns_resolver)
    assert rows(report) == [google("revoked.test", "fail"), *base_rows("revoked.test")]
    assert "revoked" in report.lines[0].detail


def test_1024_bit_key_warns(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("weak.test", dns_resolver)
    assert rows(report) == [google("weak.test", "warn"), *base_rows("weak.test")]
    assert "1024-bit" in report.lines[0].detail and "2048-bit" in report.lines[0].detail
    assert report.verdict == "warn"


def test_512_bit_key_fails(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("tiny.test", dns_resolver)
    assert rows(report) == [google("tiny.test", "fail"), *base_rows("tiny.test")]
    assert "512-bit" in report.lines[0].detail


def test_named_selectors_each_get_a_line(dns_resolver: dns.resolver.Resolver) -> None:
    selectors = ["ed", "badb64", "vlate", "dsa", "notkey", "two", "absent"]
    report = check("dkimodd.test", dns_resolver, selectors=selectors)
    dkim = report.lines_for("DKIM")
    assert [(line.name, line.status) for line in dkim] == [
        ("ed._domainkey.dkimodd.test", "pass"),
        ("badb64._domainkey.dkimodd.test", "fail"),
        ("vlate._domainkey.dkimodd.test", "fail"),
        ("dsa._domainkey.dkimodd.test", "fail"),
        ("notkey._domainkey.dkimodd.test", "fail"),
        ("two._domainkey.dkimodd.test", "fail"),
        ("absent._domainkey.dkimodd.test", "fail"),
    ]
    said = [line.detail for line in dkim]
    assert "Ed25519" in said[0]
    assert "not valid base64" in said[1]
    assert "must be first" in said[2]
    assert "k=dsa" in said[3]
    assert "not an RSA public key" in said[4]
    assert "2 TXT records" in said[5]
    assert "no DKIM record" in said[6]
    assert_every_line_explains(report)


def test_named_selector_that_times_out_is_unknown(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("slow.test", dns_resolver, selectors=["google"])
    (line,) = report.lines_for("DKIM")
    assert (line.name, line.status) == ("google._domainkey.slow.test", "unknown")
