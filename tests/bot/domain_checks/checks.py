"""Helpers of the bot.domain_checks tests: the rows a report should have on the zones of the
test DNS server (tests.support.dns_ses), and a zone checked in English and in Spanish."""

from __future__ import annotations

import dns.resolver

from bot.domain_checks import (
    DomainReport,
    check_domain,
)
from locales import speaking
from tests.support.dns_ses import SES_TOKENS, ses_info

Row = tuple[str, str, str]


# The lines every otherwise-correct zone produces after its DKIM lines (no SES info given).
def base_rows(domain: str) -> list[Row]:
    return [
        ("SPF", domain, "pass"),
        ("SPF", domain, "pass"),
        ("DMARC", f"_dmarc.{domain}", "pass"),
        ("DMARC", f"_dmarc.{domain}", "pass"),
        ("MX", domain, "pass"),
    ]


def rows(report: DomainReport) -> list[Row]:
    return [(line.check, line.name, line.status) for line in report.lines]


def ses_rows(domain: str, *statuses: str) -> list[Row]:
    tokens = SES_TOKENS[domain]
    return [
        ("SES DKIM", f"{t}._domainkey.{domain}", s) for t, s in zip(tokens, statuses, strict=True)
    ]


def google(domain: str, status: str = "pass") -> Row:
    return ("DKIM", f"google._domainkey.{domain}", status)


def check(domain: str, resolver: dns.resolver.Resolver, **kwargs: object) -> DomainReport:
    return check_domain(domain, resolver=resolver, **kwargs)  # type: ignore[arg-type]


def assert_every_line_explains(report: DomainReport) -> None:
    for line in report.lines:
        assert line.detail.endswith("."), line
        assert "Traceback" not in line.detail
        if line.status == "pass":
            assert line.fix is None, line


# The same zone checked in English and inside speaking("es").
def both(domain: str, resolver: dns.resolver.Resolver) -> tuple[DomainReport, DomainReport]:
    english = check_domain(domain, resolver=resolver, ses=ses_info(domain))
    with speaking("es"):
        spanish = check_domain(domain, resolver=resolver, ses=ses_info(domain))
    return english, spanish
