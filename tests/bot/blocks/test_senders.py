"""/mail-verify and /dkim-check blocks, as plain dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dns.resolver

from bot.blocks.senders import (
    MAX_REPORT_LINES,
    check_value,
    dkim_report_message,
    domain_footer_line,
    parse_check_value,
    verification_outcome_message,
    verification_status_line,
    verify_modal,
)
from bot.domain_checks import CheckLine, DomainReport
from bot.senders.answers import DomainCheck
from storage.models import DomainReportRow, Mailbox, SenderVerification
from tests.bot.domain_checks.checks import both

CHECKED = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


def result(
    *lines: CheckLine,
    ses_state: str = "off",
    watching: bool = False,
    ses_records: list[str] | None = None,
    selectors: list[str] | None = None,
) -> DomainCheck:
    return DomainCheck(
        report=DomainReport("example.test", list(lines), CHECKED),
        selectors=selectors or [],
        ses_state=ses_state,
        watching=watching,
        ses_records=ses_records or [],
    )  # type: ignore[arg-type]


def button_map(blocks: list[dict]) -> dict[str, tuple[str, str]]:
    return {
        e["text"]["text"]: (e["action_id"], e.get("value", ""))
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    }


def sections(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def test_report_has_one_line_per_check_with_status_emoji_and_fix_in_code() -> None:
    text, blocks = dkim_report_message(
        result(
            CheckLine("DKIM", "google._domainkey.example.test", "pass", "A 2048-bit RSA key."),
            CheckLine(
                "SPF",
                "example.test",
                "warn",
                "Ends with ?all.",
                'example.test. TXT "v=spf1 mx ~all"',
            ),
            CheckLine(
                "DMARC",
                "_dmarc.example.test",
                "fail",
                "No DMARC record.",
                '_dmarc.example.test. TXT "v=DMARC1; p=none"',
            ),
            CheckLine("MX", "example.test", "unknown", "Could not check example.test: timeout."),
        )
    )
    assert (
        text
        == "DKIM, SPF, DMARC and MX for example.test: fail (1 fail · 1 could not check · 1 warn · 1 pass)"
    )
    body = sections(blocks)
    assert body[0].startswith(":x: *example.test*: needs changes")
    assert body[1].startswith(":white_check_mark: pass · *DKIM* `google._domainkey.example.test`")
    assert body[2].startswith(":warning: warn · *SPF* `example.test`")
    assert body[2].endswith('```example.test. TXT "v=spf1 mx ~all"```')
    assert body[3].startswith(":x: fail · *DMARC*")
    assert body[4].startswith(":grey_question: could not check · *MX*")
    assert "```" not in body[1] and "```" not in body[4]


def test_report_escapes_dns_text_everywhere() -> None:
    _, blocks = dkim_report_message(
        result(
            CheckLine(
                "SPF",
                "<!here>.example.test",
                "fail",
                "Found include:<@U123> & <https://evil|bank>.",
                'example.test. TXT "v=spf1 include:<!channel> ~all"',
            ),
        )
    )
    dumped = json.dumps(blocks)
    for raw in ("<!here>", "<@U123>", "<https://evil|bank>", "<!channel>"):
        assert raw not in dumped
    assert "&lt;!channel&gt;" in dumped and "&amp;" in dumped


def test_ses_records_are_shown_together_exactly_as_to_publish() -> None:
    records = [f"t{n}._domainkey.example.test. CNAME t{n}.dkim.amazonses.com." for n in (1, 2, 3)]
    _, blocks = dkim_report_message(result(ses_state="pending", ses_records=records))
    assert "```" + "\n".join(records) + "```" in sections(blocks)[1]
    assert "still verifying example.test" in json.dumps(blocks)


def test_buttons_follow_the_state() -> None:
    _, blocks = dkim_report_message(result(ses_state="missing", selectors=["s1"]))
    buttons = button_map(blocks)
    assert buttons["Check again"] == ("dkim_check_again", check_value("example.test", ["s1"]))
    assert buttons["Watch this domain"][0] == "dkim_watch"
    assert buttons["Set up DKIM with SES"] == ("dkim_setup_ses", "example.test")
    _, blocks = dkim_report_message(result(ses_state="verified", watching=True))
    buttons = button_map(blocks)
    assert buttons["Stop watching"] == ("dkim_unwatch", "example.test")
    assert "Set up DKIM with SES" not in buttons and "Watch this domain" not in buttons


def test_long_reports_stay_under_slacks_block_limit() -> None:
    lines = [
        CheckLine("DKIM", f"s{n}._domainkey.example.test", "fail", "Missing.") for n in range(60)
    ]
    _, blocks = dkim_report_message(result(*lines))
    assert len(blocks) <= 50
    assert f"…and {60 - MAX_REPORT_LINES} more lines not shown" in json.dumps(
        blocks, ensure_ascii=False
    )


def test_check_value_round_trips_and_accepts_a_bare_domain() -> None:
    assert parse_check_value(check_value("a.test", ["x", "y"])) == ("a.test", ["x", "y"])
    assert parse_check_value("a.test") == ("a.test", [])


def test_verify_modal_offers_mailboxes_another_address_and_ses() -> None:
    mailbox = Mailbox(
        id=3, team_id="T1", kind="shared", owner_id="U1", address="sales@example.test"
    )
    view = verify_modal([mailbox], channel_id="C1")
    assert view["callback_id"] == "mail_verify" and json.loads(view["private_metadata"]) == {
        "channel_id": "C1"
    }
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids[1:] == ["mailbox", "address", "sender_name", "send_via"]
    options = view["blocks"][1]["element"]["options"]
    assert [o["value"] for o in options] == ["mailbox:3", "new"]
    assert "no-reply-aws@amazon.com" in view["blocks"][0]["text"]["text"]
    empty = verify_modal([])
    assert [b.get("block_id") for b in empty["blocks"]][1:] == ["address", "sender_name"]


def test_outcome_messages_offer_send_again_only_when_it_helps() -> None:
    row = SenderVerification(
        team_id="T1", identity="a@example.test", sender_name="<Ana>", status="SUCCESS"
    )
    text, blocks = verification_outcome_message(row, None)
    assert "a@example.test is verified in Amazon SES" in text and "*&lt;Ana&gt;*" in text
    assert not button_map(blocks)
    for status, words in (("FAILED", "could not verify"), ("EXPIRED", "has expired")):
        row.status = status
        text, blocks = verification_outcome_message(row, None)
        assert words in text
        assert button_map(blocks)["Send again"] == ("ses_verify_again", "a@example.test")
    domain = SenderVerification(team_id="T1", identity="example.test", status="SUCCESS")
    text, blocks = verification_outcome_message(domain, None)
    assert "Easy DKIM records are in place" in text
    assert button_map(blocks)["Check again"][0] == "dkim_check_again"


def test_status_lines() -> None:
    mailbox = Mailbox(
        id=3, team_id="T1", kind="shared", owner_id="U1", address="s@example.test", send_via="ses"
    )
    assert "not verified (run `/mail-verify s@example.test`)" in verification_status_line(
        mailbox, None, covered_by=None
    )
    pending = SenderVerification(
        team_id="T1", identity="s@example.test", status="PENDING", started_at=CHECKED
    )
    line = verification_status_line(mailbox, pending, covered_by=None)
    assert line.startswith("Sends through Amazon SES · SES sender: :hourglass_flowing_sand:")
    domain = SenderVerification(team_id="T1", identity="example.test", status="SUCCESS")
    assert "verified through its domain example.test" in verification_status_line(
        mailbox, pending, covered_by=domain
    )
    rows = [
        DomainReportRow(
            team_id="T1", domain="a.test", verdict="warn", report_json="{}", created_at=CHECKED
        )
    ]
    assert domain_footer_line(rows, {"a.test"}).startswith(
        "*Domains (latest /dkim-check):* a.test :warning: warn ("
    )
    assert domain_footer_line(rows, {"a.test"}).endswith(":eyes:")
    assert domain_footer_line([], set()) == ""


def test_rendered_spanish_report_keeps_the_fix_records(
    dns_resolver: dns.resolver.Resolver,
) -> None:
    english, spanish = both("badmailfrom.test", dns_resolver)

    def render(report: DomainReport) -> str:
        check = DomainCheck(report=report, selectors=[], ses_state="verified", watching=False)
        _text, blocks = dkim_report_message(check)
        return "\n".join(str(block.get("text", "")) for block in blocks)

    shown_en, shown_es = render(english), render(spanish)
    fixes = [line.fix for line in english.lines if line.fix]
    assert fixes
    for fix in fixes:
        # The same code block (escaped the same way) in both languages.
        code = "```" + fix.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert code in shown_en and code in shown_es
    for line in spanish.lines:
        assert line.detail.split(",")[0].replace("<", "&lt;") in shown_es
    assert "El registro MX de bounce.badmailfrom.test apunta a" in shown_es
