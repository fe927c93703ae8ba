"""bot.domain_checks.ses_dkim, through check_domain against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import dns.resolver

from bot.domain_checks import SesDomainInfo
from tests.bot.domain_checks.checks import check, google, rows, ses_rows
from tests.support.dns_ses import SES_TOKENS, ses_info


def test_ses_cnames_right_wrong_and_missing(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("sescname.test", dns_resolver, ses=ses_info("sescname.test"))
    _first, second, third = SES_TOKENS["sescname.test"]
    assert rows(report) == [
        *ses_rows("sescname.test", "pass", "fail", "fail"),
        google("sescname.test"),
        ("SPF", "sescname.test", "pass"),
        ("SPF", "sescname.test", "pass"),
        ("SPF", "sescname.test", "pass"),
        ("DMARC", "_dmarc.sescname.test", "pass"),
        ("DMARC", "_dmarc.sescname.test", "pass"),
        ("MX", "sescname.test", "pass"),
    ]
    wrong, missing = report.lines[1], report.lines[2]
    assert f"points at {second}.dkim.amazonses.com.sescname.test" in wrong.detail
    assert f"must point at {second}.dkim.amazonses.com" in wrong.detail
    assert wrong.fix == (f"{second}._domainkey.sescname.test. CNAME {second}.dkim.amazonses.com.")
    assert "no CNAME record" in missing.detail
    assert missing.fix == f"{third}._domainkey.sescname.test. CNAME {third}.dkim.amazonses.com."
    assert report.verdict == "fail"


def test_ses_dkim_target_uses_the_signing_hosted_zone(dns_resolver: dns.resolver.Resolver) -> None:
    info = ses_info("good.test", signing_hosted_zone="dkim.example-region.amazonses.com")
    report = check("good.test", dns_resolver, ses=info)
    token = SES_TOKENS["good.test"][0]
    line = report.lines_for("SES DKIM")[0]
    assert line.status == "fail"
    assert line.fix == (
        f"{token}._domainkey.good.test. CNAME {token}.dkim.dkim.example-region.amazonses.com."
    )


def test_ses_without_tokens_warns(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("good.test", dns_resolver, ses=SesDomainInfo(dkim_tokens=[]))
    (line,) = report.lines_for("SES DKIM")
    assert line.status == "warn"
    assert "no Easy DKIM tokens" in line.detail
