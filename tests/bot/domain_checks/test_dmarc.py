"""bot.domain_checks.dmarc, through check_domain against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import dns.resolver

from tests.bot.domain_checks.checks import check, google, rows
from tests.support.dns_server import TestDnsServer


def test_missing_dmarc_fails_with_starter_record(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("nodmarc.test", dns_resolver)
    assert rows(report) == [
        google("nodmarc.test"),
        ("SPF", "nodmarc.test", "pass"),
        ("SPF", "nodmarc.test", "pass"),
        ("DMARC", "_dmarc.nodmarc.test", "fail"),
        ("MX", "nodmarc.test", "pass"),
    ]
    line = report.lines[3]
    assert line.fix == (
        '_dmarc.nodmarc.test. TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.test"'
    )
    assert "p=none" in line.detail and "p=quarantine" in line.detail


def test_dmarc_p_none_warns_and_missing_rua_warns(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("pnone.test", dns_resolver)
    policy, reporting = report.lines_for("DMARC")
    assert (policy.status, reporting.status) == ("warn", "warn")
    assert "only monitors" in policy.detail
    assert "adkim=r" in policy.detail and "aspf=r" in policy.detail
    assert policy.fix == (
        '_dmarc.pnone.test. TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@pnone.test"'
    )
    assert "no reporting address" in reporting.detail
    assert reporting.fix == (
        '_dmarc.pnone.test. TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@pnone.test"'
    )
    assert report.verdict == "warn"


def test_dmarc_strict_alignment_and_bad_policy(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    dns_server.add(
        "_dmarc.strict.test", "TXT", "v=DMARC1; p=quarantine; adkim=s; rua=mailto:r@strict.test"
    )
    policy, reporting = check("strict.test", dns_resolver).lines_for("DMARC")
    assert (policy.status, reporting.status) == ("pass", "pass")
    assert "DKIM is strict (adkim=s)" in policy.detail
    dns_server.add("_dmarc.badpolicy.test", "TXT", "v=DMARC1; p=maybe")
    (line,) = check("badpolicy.test", dns_resolver).lines_for("DMARC")
    assert line.status == "fail"
    assert line.fix == '_dmarc.badpolicy.test. TXT "v=DMARC1; p=none"'
