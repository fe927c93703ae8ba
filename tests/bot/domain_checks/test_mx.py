"""bot.domain_checks.mx, through check_domain against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import dns.resolver

from tests.bot.domain_checks.checks import check, rows
from tests.support.dns_ses import ses_info


def test_missing_mx_fails_and_null_mx_fails(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("nomx.test", dns_resolver)
    assert rows(report)[-1] == ("MX", "nomx.test", "fail")
    assert "would bounce" in report.lines[-1].detail
    report = check("nullmx.test", dns_resolver)
    assert rows(report)[-1] == ("MX", "nullmx.test", "fail")
    assert "null MX" in report.lines[-1].detail


def test_mail_from_wrong_region_and_missing_spf(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("badmailfrom.test", dns_resolver, ses=ses_info("badmailfrom.test"))
    mx, spf = report.lines_for("MAIL FROM")
    assert (mx.name, mx.status) == ("bounce.badmailfrom.test", "fail")
    assert "feedback-smtp.eu-west-1.amazonses.com" in mx.detail
    assert mx.fix == "bounce.badmailfrom.test. MX 10 feedback-smtp.us-east-1.amazonses.com."
    assert spf.status == "fail"
    assert spf.fix == 'bounce.badmailfrom.test. TXT "v=spf1 include:amazonses.com ~all"'
    info = ses_info("good.test", mail_from_domain="nothing.good.test", region="eu-west-1")
    mx, spf = check("good.test", dns_resolver, ses=info).lines_for("MAIL FROM")
    assert (mx.status, spf.status) == ("fail", "fail")
    assert mx.fix == "nothing.good.test. MX 10 feedback-smtp.eu-west-1.amazonses.com."
