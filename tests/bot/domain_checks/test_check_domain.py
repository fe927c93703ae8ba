"""check_domain as a whole (bot.domain_checks), against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import time

import dns.resolver
import pytest

from bot.domain_checks import SesDomainInfo
from tests.bot.domain_checks.checks import (
    assert_every_line_explains,
    base_rows,
    check,
    google,
    rows,
    ses_rows,
)
from tests.support.dns_ses import DNS_TIMEOUT, ses_info


def test_good_domain_passes_every_check_line_by_line(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("good.test", dns_resolver, ses=ses_info("good.test"))
    assert rows(report) == [
        *ses_rows("good.test", "pass", "pass", "pass"),
        google("good.test"),
        ("SPF", "good.test", "pass"),  # -all
        ("SPF", "good.test", "pass"),  # includes amazonses.com
        ("SPF", "good.test", "pass"),  # lookups
        ("DMARC", "_dmarc.good.test", "pass"),
        ("DMARC", "_dmarc.good.test", "pass"),
        ("MX", "good.test", "pass"),
        ("MAIL FROM", "bounce.good.test", "pass"),
        ("MAIL FROM", "bounce.good.test", "pass"),
    ]
    assert report.verdict == "pass"
    assert_every_line_explains(report)
    details = [line.detail for line in report.lines]
    assert "2048-bit RSA key" in details[3]
    assert "-all" in details[4]
    assert "needs 2 of the 10 DNS lookups" in details[6]
    assert "p=reject" in details[7] and "Alignment:" in details[7] and "d=good.test" in details[7]
    assert "mailto:dmarc@good.test" in details[8]
    assert "mx1.good.test (10), mx2.good.test (20)" in details[9]


def test_good_domain_without_ses_has_no_ses_lines(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("good.test", dns_resolver)
    assert rows(report) == [google("good.test"), *base_rows("good.test")]
    assert report.verdict == "pass"


@pytest.mark.parametrize(
    ("domain", "reason"), [("slow.test", "did not answer in time"), ("broken.test", "SERVFAIL")]
)
def test_dns_trouble_is_unknown_never_fail(
    dns_resolver: dns.resolver.Resolver, domain: str, reason: str
) -> None:
    info = SesDomainInfo(dkim_tokens=["t1", "t2", "t3"], mail_from_domain=f"bounce.{domain}")
    started = time.monotonic()
    report = check(domain, dns_resolver, ses=info)
    # Lookups run in parallel: about one timeout in all, not one per record.
    assert time.monotonic() - started < DNS_TIMEOUT * 4
    assert rows(report) == [
        ("SES DKIM", f"t1._domainkey.{domain}", "unknown"),
        ("SES DKIM", f"t2._domainkey.{domain}", "unknown"),
        ("SES DKIM", f"t3._domainkey.{domain}", "unknown"),
        ("DKIM", f"_domainkey.{domain}", "unknown"),
        ("SPF", domain, "unknown"),
        ("DMARC", f"_dmarc.{domain}", "unknown"),
        ("MX", domain, "unknown"),
        ("MAIL FROM", f"bounce.{domain}", "unknown"),
        ("MAIL FROM", f"bounce.{domain}", "unknown"),
    ]
    for line in report.lines:
        assert line.detail.startswith("Could not check")
        assert reason in line.detail
        assert line.fix is None
    assert report.verdict == "unknown"
