"""bot.domain_checks.spf, through check_domain against the real test DNS server and its zones
(tests.support.dns_ses)."""

from __future__ import annotations

import time

import dns.resolver
import pytest

from bot.domain_checks import SesDomainInfo
from tests.bot.domain_checks.checks import base_rows, check, google, rows
from tests.support.dns_server import TestDnsServer
from tests.support.dns_ses import ses_info


def test_spf_without_ses_include_fails_with_exact_fix(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("spfnoses.test", dns_resolver, ses=ses_info("spfnoses.test"))
    spf = report.lines_for("SPF")
    assert [line.status for line in spf] == ["pass", "fail", "pass"]
    assert spf[1].fix == 'spfnoses.test. TXT "v=spf1 mx include:amazonses.com -all"'
    assert "does not include amazonses.com" in spf[1].detail
    assert [line.status for line in report.lines_for("SES DKIM")] == ["pass"] * 3
    # Without SES sending for the domain, the include is not required.
    report = check("spfnoses.test", dns_resolver)
    assert [line.status for line in report.lines_for("SPF")] == ["pass", "pass"]
    report = check(
        "spfnoses.test", dns_resolver, ses=ses_info("spfnoses.test", sends_for_domain=False)
    )
    assert [line.status for line in report.lines_for("SPF")] == ["pass", "pass"]


def test_spf_over_ten_lookups_fails_naming_the_count(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("spfmany.test", dns_resolver)
    assert rows(report) == [
        google("spfmany.test"),
        ("SPF", "spfmany.test", "pass"),
        ("SPF", "spfmany.test", "fail"),
        *base_rows("spfmany.test")[2:],
    ]
    # 5 at the top + 3 in one + 4 in two + 1 in three (whose include loops back, once).
    assert "needs 13 DNS lookups" in report.lines[2].detail
    assert "limit is 10" in report.lines[2].detail


def test_two_spf_records_fail_with_a_merged_record(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("twospf.test", dns_resolver, ses=SesDomainInfo(dkim_tokens=[]))
    (line,) = report.lines_for("SPF")
    assert line.status == "fail"
    assert "exactly one is allowed" in line.detail
    assert line.fix == 'twospf.test. TXT "v=spf1 include:amazonses.com mx -all"'


@pytest.mark.parametrize(
    ("domain", "status", "fix", "said"),
    [
        ("softall.test", "pass", None, "~all"),
        (
            "plusall.test",
            "fail",
            'plusall.test. TXT "v=spf1 mx include:amazonses.com ~all"',
            "+all",
        ),
        (
            "neutral.test",
            "warn",
            'neutral.test. TXT "v=spf1 mx include:amazonses.com ~all"',
            "?all",
        ),
        ("noall.test", "warn", 'noall.test. TXT "v=spf1 mx include:amazonses.com ~all"', "no all"),
        ("redirect.test", "pass", None, "-all"),
    ],
)
def test_spf_final_all_qualifier(
    dns_resolver: dns.resolver.Resolver, domain: str, status: str, fix: str | None, said: str
) -> None:
    report = check(domain, dns_resolver)
    policy, lookups = report.lines_for("SPF")
    assert (policy.status, policy.fix) == (status, fix)
    assert said in policy.detail
    assert lookups.status == "pass"
    assert report.verdict == status


def test_spf_missing_fails_with_a_starter_record(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    dns_server.add("nospf.test", "MX", "10 mx.nospf.test")
    report = check("nospf.test", dns_resolver, ses=SesDomainInfo(dkim_tokens=[]))
    (line,) = report.lines_for("SPF")
    assert line.status == "fail"
    assert line.fix == 'nospf.test. TXT "v=spf1 include:amazonses.com ~all"'
    report = check("nospf.test", dns_resolver)
    assert report.lines_for("SPF")[0].fix == 'nospf.test. TXT "v=spf1 mx ~all"'


def test_spf_include_loop_terminates(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    dns_server.add("loop.test", "TXT", "v=spf1 include:a.loop.test -all")
    dns_server.add("a.loop.test", "TXT", "v=spf1 include:b.loop.test -all")
    dns_server.add("b.loop.test", "TXT", "v=spf1 include:a.loop.test include:loop.test -all")
    started = time.monotonic()
    report = check("loop.test", dns_resolver)
    assert time.monotonic() - started < 5
    _policy, lookups = report.lines_for("SPF")
    assert lookups.status == "pass"
    assert "needs 4 of the 10" in lookups.detail


def test_spf_include_without_a_record_fails(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    dns_server.add("deadinclude.test", "TXT", "v=spf1 include:gone.deadinclude.test -all")
    _, lookups = check("deadinclude.test", dns_resolver).lines_for("SPF")
    assert lookups.status == "fail"
    assert "gone.deadinclude.test, which has no SPF record" in lookups.detail


def test_spf_include_that_times_out_is_unknown(
    dns_server: TestDnsServer, dns_resolver: dns.resolver.Resolver
) -> None:
    dns_server.add("slowinclude.test", "TXT", "v=spf1 include:spf.slow.test -all")
    policy, lookups = check("slowinclude.test", dns_resolver).lines_for("SPF")
    assert policy.status == "pass"
    assert lookups.status == "unknown"
    assert "did not answer in time" in lookups.detail
