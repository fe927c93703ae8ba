"""/dkim-check through the signed slash command: every verdict of the test zones, as the
admin sees it in the ephemeral answer, with moto's SES for Easy DKIM."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from storage.models import DomainReportRow
from tests.support.dns_ses import SES_TOKENS, Zone
from tests.support.harness import Harness
from tests.support.senders_app import buttons, dkim_check, line_sections, lines_for, status_of
from tests.support.ses_server import ACCESS_DENIED, AwsErrorServer, MotoSes
from tests.support.wait import wait_until


def all_text(answer: dict[str, Any]) -> str:
    return json.dumps(answer["blocks"])


def ses_domain(ses: MotoSes, domain: str, status: str = "SUCCESS") -> None:
    """Make ``domain`` an SES identity with the Easy DKIM tokens its test zone publishes."""
    ses.add_identity(domain, status)
    ses.set_dkim_tokens(domain, SES_TOKENS[domain])


# ---------------------------------------------------------------------------- verdicts


def test_correct_domain_passes_with_the_three_ses_cnames_shown(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    ses_domain(ses_endpoint, "good.test")
    answer = dkim_check(senders_harness, "good.test")
    statuses = {status_of(t) for t in line_sections(answer)}
    assert statuses == {"pass"}, line_sections(answer)
    assert answer["text"].startswith("DKIM, SPF, DMARC and MX for good.test: pass")
    ses_lines = lines_for(answer, "SES DKIM")
    assert len(ses_lines) == 3
    records = [
        f"{t}._domainkey.good.test. CNAME {t}.dkim.amazonses.com." for t in SES_TOKENS["good.test"]
    ]
    assert "```" + "\n".join(records) + "```" in all_text(answer).replace("\\n", "\n")
    for token, line in zip(SES_TOKENS["good.test"], ses_lines, strict=True):
        assert f"points at {token}.dkim.amazonses.com, as SES expects" in line
    assert [status_of(t) for t in lines_for(answer, "DKIM")] == ["pass"]
    assert "2048-bit RSA key" in lines_for(answer, "DKIM")[0]
    assert "includes amazonses.com" in " ".join(lines_for(answer, "SPF"))
    assert "p=reject" in " ".join(lines_for(answer, "DMARC"))
    assert "Alignment:" in " ".join(lines_for(answer, "DMARC"))
    assert "mx1.good.test (10)" in lines_for(answer, "MX")[0]
    # MAIL FROM is not played by moto (no MailFromAttributes): no such line here.
    assert "Set up DKIM with SES" not in buttons(answer)
    assert {"Check again", "Watch this domain"} <= set(buttons(answer))


ZONE_VERDICTS = [
    # (zone, check, status, words in that line, record the line asks to publish or None)
    (
        "nodkim.test",
        "DKIM",
        "fail",
        "No DKIM key was found at the usual selectors (google, selector1",
        None,
    ),
    ("revoked.test", "DKIM", "fail", "is revoked (its p= tag is empty)", None),
    ("weak.test", "DKIM", "warn", "is a 1024-bit RSA key", None),
    (
        "tiny.test",
        "DKIM",
        "fail",
        "is a 512-bit RSA key; receivers ignore keys under 1024 bits",
        None,
    ),
    ("spfmany.test", "SPF", "fail", "needs 13 DNS lookups", None),
    (
        "twospf.test",
        "SPF",
        "fail",
        "has 2 SPF records; exactly one is allowed",
        'twospf.test. TXT "v=spf1 include:amazonses.com mx -all"',
    ),
    (
        "plusall.test",
        "SPF",
        "fail",
        "ends with +all",
        'plusall.test. TXT "v=spf1 mx include:amazonses.com ~all"',
    ),
    (
        "nodmarc.test",
        "DMARC",
        "fail",
        "has no DMARC record",
        '_dmarc.nodmarc.test. TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.test"',
    ),
    (
        "pnone.test",
        "DMARC",
        "warn",
        "The DMARC policy is p=none",
        '_dmarc.pnone.test. TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@pnone.test"',
    ),
    ("nomx.test", "MX", "fail", "has no MX record", None),
    ("nullmx.test", "MX", "fail", "null MX", None),
    ("softall.test", "SPF", "pass", "~all", None),
    (
        "neutral.test",
        "SPF",
        "warn",
        "?all",
        'neutral.test. TXT "v=spf1 mx include:amazonses.com ~all"',
    ),
    (
        "noall.test",
        "SPF",
        "warn",
        "no all",
        'noall.test. TXT "v=spf1 mx include:amazonses.com ~all"',
    ),
    ("redirect.test", "SPF", "pass", "-all", None),
]


@pytest.mark.parametrize(
    ("zone", "check", "status", "words", "record"), ZONE_VERDICTS, ids=[z[0] for z in ZONE_VERDICTS]
)
def test_each_defect_has_its_verdict_and_record(
    senders_harness: Harness, zone: str, check: str, status: str, words: str, record: str | None
) -> None:
    answer = dkim_check(senders_harness, zone)
    matching = [t for t in lines_for(answer, check) if words in t]
    assert matching, (words, lines_for(answer, check))
    line = matching[0]
    assert status_of(line) == status, line
    if record:
        assert f"```{record}```" in line.replace("&quot;", '"'), line
    verdict = "fail" if any(status_of(t) == "fail" for t in line_sections(answer)) else status
    assert answer["text"].startswith(f"DKIM, SPF, DMARC and MX for {zone}: {verdict}")


def test_pnone_also_warns_about_the_missing_reporting_address(senders_harness: Harness) -> None:
    dmarc = lines_for(dkim_check(senders_harness, "pnone.test"), "DMARC")
    assert [status_of(t) for t in dmarc] == ["warn", "warn"]
    assert "no reporting address (rua=)" in dmarc[1]


def test_spf_without_ses_fails_only_when_ses_sends_for_the_domain(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    before = lines_for(dkim_check(senders_harness, "spfnoses.test"), "SPF")
    assert all(status_of(t) == "pass" for t in before), before  # SES does not send for it yet
    ses_domain(ses_endpoint, "spfnoses.test")
    after = lines_for(dkim_check(senders_harness, "spfnoses.test"), "SPF")
    missing = [t for t in after if "does not include amazonses.com" in t]
    assert missing and status_of(missing[0]) == "fail"
    assert '```spfnoses.test. TXT "v=spf1 mx include:amazonses.com -all"```' in missing[0]


def test_ses_cnames_right_wrong_and_missing(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    ses_domain(ses_endpoint, "sescname.test", status="PENDING")
    answer = dkim_check(senders_harness, "sescname.test")
    first, second, third = SES_TOKENS["sescname.test"]
    ses_lines = lines_for(answer, "SES DKIM")
    assert [status_of(t) for t in ses_lines] == ["pass", "fail", "fail"]
    assert f"points at {first}.dkim.amazonses.com, as SES expects" in ses_lines[0]
    assert (
        f"points at {second}.dkim.amazonses.com.sescname.test, but it must point at {second}.dkim.amazonses.com"
        in ses_lines[1]
    )
    assert (
        f"```{second}._domainkey.sescname.test. CNAME {second}.dkim.amazonses.com.```"
        in ses_lines[1]
    )
    assert f"There is no CNAME record at {third}._domainkey.sescname.test" in ses_lines[2]
    assert (
        f"```{third}._domainkey.sescname.test. CNAME {third}.dkim.amazonses.com.```" in ses_lines[2]
    )
    assert "Amazon SES is still verifying sescname.test" in all_text(answer)


def test_odd_dkim_records_each_get_their_verdict(senders_harness: Harness) -> None:
    answer = dkim_check(senders_harness, "dkimodd.test ed badb64 vlate dsa notkey two")
    dkim = lines_for(answer, "DKIM")
    assert [status_of(t) for t in dkim] == ["pass", "fail", "fail", "fail", "fail", "fail"]
    for line, words in zip(
        dkim,
        ["Ed25519", "not valid base64", "must be first", "k=dsa", "not an RSA public key"],
        strict=False,
    ):
        assert words in line, line
    assert "2 TXT records" in dkim[5]
    assert answer["text"].startswith("DKIM, SPF, DMARC and MX for dkimodd.test: fail")


def test_explicit_selectors_are_each_checked(senders_harness: Harness) -> None:
    answer = dkim_check(senders_harness, "good.test google absent")
    dkim = lines_for(answer, "DKIM")
    assert len(dkim) == 2
    assert status_of(dkim[0]) == "pass" and "`google._domainkey.good.test`" in dkim[0]
    assert (
        status_of(dkim[1]) == "fail"
        and "There is no DKIM record at absent._domainkey.good.test" in dkim[1]
    )
    # The selectors ride along on "Check again".
    assert json.loads(buttons(answer)["Check again"]) == {
        "d": "good.test",
        "s": ["google", "absent"],
    }


@pytest.mark.parametrize("zone", ["slow.test", "broken.test"])
def test_dns_trouble_is_could_not_check_never_missing(senders_harness: Harness, zone: str) -> None:
    answer = dkim_check(senders_harness, zone)
    sections = line_sections(answer)
    assert sections and all(status_of(t) == "unknown" for t in sections), sections
    for text in sections:
        assert "Could not check" in text
        assert "no DKIM key" not in text and "has no" not in text and "There is no" not in text
    expected = "did not answer in time" if zone == "slow.test" else "answered SERVFAIL"
    assert expected in " ".join(sections)
    assert answer["text"].startswith(f"DKIM, SPF, DMARC and MX for {zone}: could not check")


def test_custom_mail_from_records_are_checked(
    senders_app: Callable[..., Harness], aws_error_server: AwsErrorServer
) -> None:
    # moto has no MailFromAttributes: a small SESv2 stand-in answers GetEmailIdentity.
    tokens = SES_TOKENS["badmailfrom.test"]
    aws_error_server.respond_with(
        {
            "IdentityType": "DOMAIN",
            "VerificationStatus": "SUCCESS",
            "VerifiedForSendingStatus": True,
            "DkimAttributes": {"Status": "SUCCESS", "Tokens": tokens, "SigningEnabled": True},
            "MailFromAttributes": {
                "MailFromDomain": "bounce.badmailfrom.test",
                "MailFromDomainStatus": "FAILED",
                "BehaviorOnMxFailure": "USE_DEFAULT_VALUE",
            },
        }
    )
    h = senders_app(AWS_ENDPOINT_URL=aws_error_server.url)
    mail_from = lines_for(dkim_check(h, "badmailfrom.test"), "MAIL FROM")
    assert [status_of(t) for t in mail_from] == ["fail", "fail"]
    assert "points at feedback-smtp.eu-west-1.amazonses.com" in mail_from[0]
    assert (
        "```bounce.badmailfrom.test. MX 10 feedback-smtp.us-east-1.amazonses.com.```"
        in mail_from[0]
    )
    assert '```bounce.badmailfrom.test. TXT "v=spf1 include:amazonses.com ~all"```' in mail_from[1]


def test_ses_trouble_is_could_not_check_and_dns_checks_still_run(
    senders_app: Callable[..., Harness], aws_error_server: AwsErrorServer
) -> None:
    aws_error_server.respond_with(ACCESS_DENIED)
    h = senders_app(AWS_ENDPOINT_URL=aws_error_server.url)
    answer = dkim_check(h, "good.test")
    ses_line = lines_for(answer, "SES DKIM")
    assert len(ses_line) == 1 and status_of(ses_line[0]) == "unknown"
    assert "lacks the ses:GetEmailIdentity permission" in ses_line[0]
    assert [status_of(t) for t in lines_for(answer, "DKIM")] == ["pass"]
    assert "Set up DKIM with SES" not in buttons(answer)


def test_without_ses_the_report_says_so_and_offers_no_setup(
    senders_app: Callable[..., Harness],
) -> None:
    h = senders_app(MAILROOM_SES_ENABLED="false")
    answer = dkim_check(h, "good.test")
    assert (
        "Amazon SES is not configured on this Mailroom server, so Easy DKIM was not checked"
        in all_text(answer)
    )
    assert not lines_for(answer, "SES DKIM")
    assert "Set up DKIM with SES" not in buttons(answer)


def test_untrusted_dns_text_is_escaped(senders_harness: Harness, dns_server: Any) -> None:
    dns_server.add("evil.test", "TXT", "v=spf1 include:<!channel> ?all")
    answer = dkim_check(senders_harness, "evil.test")
    text = all_text(answer)
    assert "<!channel>" not in text
    assert "&lt;!channel&gt;" in text


# ---------------------------------------------------------------------------- the command


def test_acks_at_once_and_answers_after_the_dns_work(senders_app: Callable[..., Harness]) -> None:
    h = senders_app(DNS_TIMEOUT_SECONDS="2")
    started = time.monotonic()
    response = h.client.command("/dkim-check", "slow.test", "UADMIN")
    acked = time.monotonic() - started
    assert response.status_code == 200 and acked < 1.5, acked
    assert not h.slack.ephemerals("UADMIN")  # the report needs the (slow) DNS first
    answer = wait_until(lambda: h.slack.ephemerals("UADMIN"), timeout=15)[0]
    assert "could not check" in answer["text"]


def test_non_admins_are_refused(senders_harness: Harness) -> None:
    answer = dkim_check(senders_harness, "good.test", user="UALICE")
    assert answer["text"].startswith("Only Mailroom admins can check a domain's DKIM")
    assert not answer["blocks"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Give the domain to check, for example `/dkim-check example.com`"),
        ("not_a_domain", "is not a domain name"),
        ("good.test bad/selector", "is not a DKIM selector"),
    ],
)
def test_bad_input_gets_a_sentence(senders_harness: Harness, text: str, expected: str) -> None:
    answer = dkim_check(senders_harness, text)
    assert expected in answer["text"]
    assert answer["text"].rstrip().endswith((".", ")")), answer["text"]


def test_slack_linked_domains_and_addresses_are_understood(senders_harness: Harness) -> None:
    answer = dkim_check(senders_harness, "<mailto:sales@good.test|sales@good.test>")
    assert "for good.test:" in answer["text"]
    answer = dkim_check(senders_harness, "<http://good.test|good.test>")
    assert "for good.test:" in answer["text"]


# ---------------------------------------------------------------------------- storage


def test_reports_are_stored_and_status_shows_each_latest_verdict(
    senders_harness: Harness, dns_server: Any
) -> None:
    h = senders_harness
    h.connect(user="UADMIN")  # /mail-status lists mailboxes first; the verdicts go below them
    Zone("fixme.test", dmarc=None).publish(dns_server)
    dkim_check(h, "good.test")
    dkim_check(h, "fixme.test")
    dns_server.add("_dmarc.fixme.test", "TXT", "v=DMARC1; p=quarantine; rua=mailto:d@fixme.test")
    dkim_check(h, "fixme.test")
    with h.ctx.db.session() as session:
        rows = session.exec(select(DomainReportRow).order_by(DomainReportRow.id)).all()
    assert [(r.domain, r.verdict) for r in rows] == [
        ("good.test", "pass"),
        ("fixme.test", "fail"),
        ("fixme.test", "pass"),
    ]
    stored = json.loads(rows[1].report_json)
    assert any(line["check"] == "DMARC" and line["status"] == "fail" for line in stored["lines"])

    before = len(h.slack.ephemerals("UADMIN"))
    h.client.command("/mail-status", "", "UADMIN")
    status = wait_until(lambda: h.slack.ephemerals("UADMIN")[before:])[0]
    footer = json.dumps(status["blocks"])
    assert "good.test :white_check_mark: pass" in footer
    assert "fixme.test :white_check_mark: pass" in footer and "fixme.test :x: fail" not in footer

    # Non-admins do not see the workspace's domains.
    h.client.command("/mail-status", "", "UALICE")
    alice = wait_until(lambda: h.slack.ephemerals("UALICE"))[0]
    assert "good.test" not in json.dumps(alice["blocks"])
