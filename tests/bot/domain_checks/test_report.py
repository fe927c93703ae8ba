"""bot.domain_checks.report: a report's verdict and JSON form, domain names as typed, and the
records to publish in zone-file form (some through check_domain on the test DNS server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import dns.resolver
import pytest

from bot.domain_checks import (
    CheckLine,
    DomainReport,
    render_record_fix,
)
from bot.domain_checks.report import SesDomainInfo, normalise_domain, quote_txt
from providers.errors import UserError
from tests.bot.domain_checks.checks import check


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


def test_international_names_are_checked_in_their_dns_form() -> None:
    assert normalise_domain("ventas@Bücher.example.") == "xn--bcher-kva.example"
    with pytest.raises(UserError):
        normalise_domain("bad..example")


def test_txt_values_are_quoted_for_a_zone_file() -> None:
    assert quote_txt('say "hi" \\ bye') == '"say \\"hi\\" \\\\ bye"'
    assert quote_txt("") == '""'


def test_ses_info_is_read_from_the_identity_state() -> None:
    state = SimpleNamespace(
        dkim_tokens=("t1", "t2"), signing_hosted_zone="amazonses.com", mail_from_domain=None
    )
    info = SesDomainInfo.from_identity(state, "eu-west-1", sends_for_domain=False)
    assert info == SesDomainInfo(["t1", "t2"], "amazonses.com", False, None, "eu-west-1")
