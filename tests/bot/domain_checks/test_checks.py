"""bot.domain_checks against the real test DNS server and its zones (tests.support.dns_ses)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import dns.resolver
import pytest

from bot.domain_checks import (
    DEFAULT_SELECTORS,
    CheckLine,
    DomainReport,
    SesDomainInfo,
    check_domain,
    render_record_fix,
)
from providers.errors import UserError
from tests.support.dns_server import TestDnsServer
from tests.support.dns_ses import DNS_TIMEOUT, SES_TOKENS, ses_info

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


# ---------------------------------------------------------------------------- good.test


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


def test_named_selector_is_checked_alone(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("good.test", dns_resolver, selectors=["Google"])
    assert rows(report)[0] == google("good.test")
    assert len(report.lines_for("DKIM")) == 1


def test_report_round_trips_through_json(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("pnone.test", dns_resolver)
    stored = json.loads(json.dumps(report.to_dict()))
    assert stored["verdict"] == "warn"
    again = DomainReport.from_dict(stored)
    assert again == report
    assert again.verdict == "warn"
    assert again.checked_at.tzinfo is not None


def test_verdict_order_is_fail_then_unknown_then_warn() -> None:
    def report(*statuses: str) -> DomainReport:
        lines = [CheckLine("MX", "x.test", s, "A sentence.") for s in statuses]  # type: ignore[arg-type]
        return DomainReport("x.test", lines, datetime.now(UTC))

    assert report("pass", "warn", "unknown", "fail").verdict == "fail"
    assert report("pass", "warn", "unknown").verdict == "unknown"
    assert report("pass", "warn").verdict == "warn"
    assert report("pass").verdict == "pass"
    assert report().verdict == "pass"


def test_domain_input_is_normalised_and_bad_input_is_a_user_error(
    dns_resolver: dns.resolver.Resolver,
) -> None:
    assert check(" Good.TEST. ", dns_resolver).domain == "good.test"
    assert check("sales@good.test", dns_resolver).domain == "good.test"
    with pytest.raises(UserError) as caught:
        check("not a domain", dns_resolver)
    assert caught.value.field == "domain"
    assert "example.com" in caught.value.message


# ---------------------------------------------------------------------------- DKIM


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


# ---------------------------------------------------------------------------- SES Easy DKIM


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


# ---------------------------------------------------------------------------- SPF


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


# ---------------------------------------------------------------------------- DMARC and MX


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


def test_missing_mx_fails_and_null_mx_fails(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("nomx.test", dns_resolver)
    assert rows(report)[-1] == ("MX", "nomx.test", "fail")
    assert "would bounce" in report.lines[-1].detail
    report = check("nullmx.test", dns_resolver)
    assert rows(report)[-1] == ("MX", "nullmx.test", "fail")
    assert "null MX" in report.lines[-1].detail


# ---------------------------------------------------------------------------- MAIL FROM


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


# ---------------------------------------------------------------------------- DNS trouble


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


def test_named_selector_that_times_out_is_unknown(dns_resolver: dns.resolver.Resolver) -> None:
    report = check("slow.test", dns_resolver, selectors=["google"])
    (line,) = report.lines_for("DKIM")
    assert (line.name, line.status) == ("google._domainkey.slow.test", "unknown")


# ---------------------------------------------------------------------------- rendering


def test_render_record_fix_forms() -> None:
    assert render_record_fix("a.example.com", "CNAME", "b.example.com") == (
        "a.example.com. CNAME b.example.com."
    )
    assert render_record_fix("example.com.", "MX", "10 mx.example.com") == (
        "example.com. MX 10 mx.example.com."
    )
    long_value = "v=DKIM1; p=" + "A" * 300
    fix = render_record_fix("s._domainkey.example.com", "TXT", long_value)
    first, second = fix.split(" TXT ", 1)[1].split('" "')
    assert first == '"' + long_value[:255]
    assert second == long_value[255:] + '"'
