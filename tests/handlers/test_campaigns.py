"""Campaigns end to end: the marketing role, audiences, templates, sending, unsubscribe, control.

Real Dovecot and aiosmtpd, the loopback DNS server for the domain verdict, fake Slack over
HTTP; every step goes through Slack's signed requests like a person's clicks.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select

from bot.campaigns import audiences as audience_service
from bot.campaigns import templates as template_service
from storage.models import AudienceMember, Campaign, CampaignRecipient, Suppression
from tests.support.campaigns import (
    CHANNEL,
    button_value,
    click,
    dms,
    grant,
    marketing_account,
    prepare_campaign,
    save_template,
    wait_for_dm,
)
from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until


@pytest.fixture
def app(harness_with: HarnessFactory, dns_server: TestDnsServer) -> Harness:
    return harness_with(DNS_NAMESERVERS=dns_server.address, PUBLIC_URL="http://testserver")


@pytest.fixture
def app_any_db(
    harness_with: HarnessFactory, dns_server: TestDnsServer, database_url: str
) -> Harness:
    return harness_with(
        database_url=database_url,
        DNS_NAMESERVERS=dns_server.address,
        PUBLIC_URL="http://testserver",
    )


def answer(h: Harness, command: str, text: str, user: str = "UALICE") -> str:
    before = len(h.slack.ephemerals(user))
    h.client.command(command, text, user)
    got = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {command}")[0]
    return got["text"] + json.dumps(got.get("blocks") or [])


def setup(h: Harness, addresses: list[str], domain: str = "good.test") -> tuple[int, int, int]:
    """A marketing mailbox, an audience with ``addresses`` and a template; returns their ids."""
    account = marketing_account(h, domain)
    mailbox = h.connect(account, user="UADMIN", kind="marketing", channel=CHANNEL)
    grant(h, "UALICE", "marketing")
    assert "created" in answer(h, "/mail-audience", "create news")
    assert "Added" in answer(h, "/mail-audience", "add news " + " ".join(addresses))
    save_template(
        h.client, "welcome", "Hello {first_name|there}", "Hi *{first_name|there}*, news from us."
    )
    audience = audience_service.find_audience(h.ctx, "T1", "news") or _only_audience(h)
    template = template_service.list_templates(h.ctx, audience.team_id)[0]
    return mailbox.id, audience.id, template.id  # type: ignore[return-value]


def _only_audience(h: Harness):  # type: ignore[no-untyped-def]
    with h.ctx.db.session() as session:
        from storage.models import Audience

        return session.exec(select(Audience)).one()


def start_campaign(h: Harness, mailbox_id: int, audience_id: int, template_id: int) -> int:
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    value = button_value(confirmation, "campaign_send")
    assert value, confirmation
    click(h, "campaign_send", value, "UALICE", confirmation)
    return int(value)


def campaign_row(h: Harness, campaign_id: int) -> Campaign:
    with h.ctx.db.session() as session:
        row = session.get(Campaign, campaign_id)
    assert row is not None
    return row


# --- Roles -----------------------------------------------------------------------------------


def test_campaign_commands_refuse_people_without_the_marketing_role(app: Harness) -> None:
    h = app
    for command in ("/mail-campaign", "/mail-audience", "/mail-campaign-template"):
        assert "marketing role" in answer(h, command, "list", user="UBOB")
    assert "now has the marketing role" in answer(h, "/mail-role", "<@UBOB> marketing", "UADMIN")
    assert "No audiences yet" in answer(h, "/mail-audience", "list", user="UBOB")
    # Granting is for admins only.
    assert "Only Mailroom admins" in answer(h, "/mail-role", "<@UALICE> marketing", "UBOB")


# --- Sending ---------------------------------------------------------------------------------


def test_a_campaign_sends_one_mail_per_recipient_with_unsubscribe_headers(
    app_any_db: Harness,
) -> None:
    h = app_any_db
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
        "gone@customer.example.com",
    ]
    mailbox_id, audience_id, template_id = setup(h, recipients)
    with h.ctx.db.session() as session:
        session.add(
            Suppression(team_id="T1", address="gone@customer.example.com", reason="unsubscribed")
        )
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    text = confirmation["text"] + json.dumps(confirmation["blocks"])
    assert "*3* recipients after suppression (1 suppressed)" in text
    assert "good.test: *pass*" in text
    value = button_value(confirmation, "campaign_send")
    assert value is not None
    click(h, "campaign_send", value, "UALICE", confirmation)

    mails = h.smtp.wait_for_messages(3, timeout=30)
    wait_until(lambda: campaign_row(h, int(value)).state == "done", timeout=20, message="done")
    assert sorted(r for m in mails for r in m.recipients) == recipients[:3]
    assert Counter(m.message["Message-ID"] for m in mails).most_common(1)[0][1] == 1
    for mail in mails:
        msg = mail.message
        assert len(mail.recipients) == 1 and msg["To"] == mail.recipients[0]
        assert msg["Bcc"] is None
        # Folded between its two URLs; unfolded it is "<https-url>, <mailto-url>".
        unsub = " ".join(str(msg["List-Unsubscribe"]).split())
        assert unsub.startswith("<http://testserver/unsubscribe/") and ">, <mailto:" in unsub
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["List-Id"] == f"<audience-{audience_id}.good.test>"  # RFC 2919 form
        assert msg["Subject"] == "Hello there"
        html = msg.get_body(("html",)).get_content()
        plain = msg.get_body(("plain",)).get_content()
        assert "<strong>there</strong>" in html and "Unsubscribe" in html
        assert "Hi there, news from us." in plain  # plain text: no Slack marks
    with h.ctx.db.session() as session:
        rows = session.exec(select(CampaignRecipient)).all()
    assert {r.address: r.state for r in rows} == dict.fromkeys(recipients[:3], "sent")
    assert {r.message_id for r in rows} == {m.message["Message-ID"] for m in mails}
    # The progress message in the mailbox's channel ends as the final report.
    report = wait_until(
        lambda: [m for m in h.slack.top_level(CHANNEL) if "Finished" in m["text"]],
        message="the final report",
    )
    assert len(report) == 1 and "3 sent" in report[0]["text"]
    assert len([m for m in h.slack.top_level(CHANNEL) if "campaign" in m["text"]]) == 1


def test_one_click_post_unsubscribes_and_the_get_page_only_asks(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(
        h, ["ana@customer.example.com", "ben@customer.example.com"]
    )
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    mails = h.smtp.wait_for_messages(2, timeout=30)
    ana = next(m for m in mails if m.recipients == ["ana@customer.example.com"])
    url = str(ana.message["List-Unsubscribe"]).strip().split(">")[0].lstrip("<")
    path = url.removeprefix("http://testserver")
    web = h.client.client  # the TestClient on the app

    page = web.get(path)
    assert page.status_code == 200
    assert "ana@customer.example.com" in page.text and '<form method="post"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert not _suppressed(h)  # a link scanner's GET changes nothing

    tampered = path[:-1] + ("0" if path[-1] != "0" else "1")
    assert web.post(tampered, content="List-Unsubscribe=One-Click").status_code == 404
    assert not _suppressed(h)

    done = web.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "is unsubscribed" in done.text
    assert _suppressed(h) == {"ana@customer.example.com": "unsubscribed"}
    with h.ctx.db.session() as session:
        assert session.exec(select(Suppression)).one().campaign_id == campaign_id

    # The next campaign to the same audience skips her.
    before = len(h.smtp.messages)
    second = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, second).state == "done", timeout=30, message="second done")
    assert [m.recipients for m in h.smtp.messages[before:]] == [["ben@customer.example.com"]]


def test_the_mailto_unsubscribe_works_and_admins_can_list_and_remove_entries(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(h, ["ana@customer.example.com"])
    start_campaign(h, mailbox_id, audience_id, template_id)
    [mail] = h.smtp.wait_for_messages(1, timeout=30)
    header = " ".join(str(mail.message["List-Unsubscribe"]).split())
    mailto = header.split("<mailto:", 1)[1].rstrip(">")
    address, _, query = mailto.partition("?subject=")
    subject = query.replace("%20", " ")
    assert subject.startswith("unsubscribe ")
    h.dovecot.append(
        address, make_email(sender="ana@customer.example.com", to=address, subject=subject)
    )
    # A forged token in the same form changes nothing.
    h.dovecot.append(
        address,
        make_email(
            sender="eve@customer.example.com", to=address, subject="unsubscribe 1." + "0" * 32
        ),
    )
    h.sync(mailbox_id)
    wait_until(lambda: _suppressed(h), message="the mailto unsubscribe")
    assert _suppressed(h) == {"ana@customer.example.com": "unsubscribed"}

    assert "marketing role" not in answer(h, "/mail-campaign", "suppressions", "UADMIN")
    assert "ana@customer.example.com — unsubscribed" in answer(
        h, "/mail-campaign", "suppressions", "UADMIN"
    )
    assert "Only Mailroom admins" in answer(
        h, "/mail-campaign", "unsuppress ana@customer.example.com", "UALICE"
    )
    assert "was removed" in answer(
        h,
        "/mail-campaign",
        "unsuppress <mailto:ana@customer.example.com|ana@customer.example.com>",
        "UADMIN",
    )
    assert _suppressed(h) == {}


def _suppressed(h: Harness) -> dict[str, str]:
    with h.ctx.db.session() as session:
        return {s.address: s.reason for s in session.exec(select(Suppression))}


def test_pause_resume_and_cancel_are_checked_against_who_clicks(app: Harness) -> None:
    h = app
    recipients = [f"r{n:02d}@customer.example.com" for n in range(30)]
    mailbox_id, audience_id, template_id = setup(h, recipients)
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    assert "2/second" in answer(h, "/mail-campaign", f"limits {mailbox.address} 2 0 0", "UADMIN")
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    h.smtp.wait_for_messages(2, timeout=30)

    # Someone without the role cannot pause it.
    click(h, "campaign_pause", str(campaign_id), "UBOB", channel=CHANNEL)
    wait_until(
        lambda: any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="refusal",
    )
    assert campaign_row(h, campaign_id).state == "sending"

    click(h, "campaign_pause", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: campaign_row(h, campaign_id).state == "paused", message="paused")
    settled = wait_until(lambda: _stable_count(h), timeout=10, message="sending stopped")
    assert settled < len(recipients)

    click(h, "campaign_resume", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: len(h.smtp.messages) >= settled + 2, timeout=20, message="resumed")
    click(h, "campaign_cancel", str(campaign_id), "UALICE", channel=CHANNEL)
    wait_until(lambda: campaign_row(h, campaign_id).state == "cancelled", message="cancelled")
    final = wait_until(lambda: _stable_count(h), timeout=10, message="sending stopped")
    assert final < len(recipients)
    with h.ctx.db.session() as session:
        states = Counter(r.state for r in session.exec(select(CampaignRecipient)))
    assert states["sent"] == final and states["cancelled"] == len(recipients) - final
    # Nobody got two mails.
    assert len({m.recipients[0] for m in h.smtp.messages}) == len(h.smtp.messages)


_last_counts: dict[int, tuple[int, float]] = {}


def _stable_count(h: Harness) -> int | None:
    """The sink's count once it stayed the same for 1.5 s (polled, never slept)."""
    import time

    count, now = len(h.smtp.messages), time.monotonic()
    last = _last_counts.get(id(h))
    if last is None or last[0] != count:
        _last_counts[id(h)] = (count, now)
        return None
    return count if now - last[1] >= 1.5 else None


def test_discard_cancels_a_draft_only_for_who_may_control_it(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(h, ["ana@customer.example.com"])
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    value = button_value(confirmation, "campaign_discard")
    assert value, confirmation

    click(h, "campaign_discard", value, "UBOB", channel=CHANNEL)
    wait_until(
        lambda: any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="refusal",
    )
    assert campaign_row(h, int(value)).state == "draft"

    click(h, "campaign_discard", value, "UALICE", confirmation)
    wait_until(lambda: campaign_row(h, int(value)).state == "cancelled", message="discarded")
    # A discarded campaign is no draft any more: Send (and a second Discard) are refused.
    click(h, "campaign_send", value, "UALICE", confirmation)
    click(h, "campaign_discard", value, "UALICE", confirmation)
    wait_until(
        lambda: sum("already started" in e["text"] for e in h.slack.ephemerals("UALICE")) >= 2,
        message="two refusals",
    )
    assert campaign_row(h, int(value)).state == "cancelled" and not h.smtp.messages


def test_a_domain_failing_its_checks_waits_for_an_admin(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(
        h, ["ana@customer.example.com"], domain="nodmarc.test"
    )
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    text = json.dumps(confirmation["blocks"])
    assert "nodmarc.test: *fail*" in text and "only a Mailroom admin can send anyway" in text
    assert button_value(confirmation, "campaign_send") is None
    value = button_value(confirmation, "campaign_confirm_domain")
    assert value
    # A marketing user cannot confirm, and sending directly is refused too.
    click(h, "campaign_confirm_domain", value, "UALICE", confirmation)
    click(h, "campaign_send", value, "UALICE", confirmation)
    wait_until(
        lambda: sum("admin" in e["text"] for e in h.slack.ephemerals("UALICE")) >= 2,
        message="two refusals",
    )
    assert campaign_row(h, int(value)).state == "draft" and not h.smtp.messages
    click(h, "campaign_confirm_domain", value, "UADMIN", confirmation)
    h.smtp.wait_for_messages(1, timeout=30)
    assert campaign_row(h, int(value)).domain_confirmed_by == "UADMIN"


def test_refused_recipients_and_bounces_in_the_inbox_suppress_the_address(app: Harness) -> None:
    h = app
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
    ]
    h.smtp.refuse_recipient("cid@customer.example.com")
    mailbox_id, audience_id, template_id = setup(h, recipients)
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=30, message="done")
    assert _suppressed(h) == {"cid@customer.example.com": "hard_bounce"}
    with h.ctx.db.session() as session:
        rows = {r.address: r for r in session.exec(select(CampaignRecipient))}
    assert rows["cid@customer.example.com"].state == "failed"
    assert "5.1.1" in (rows["cid@customer.example.com"].error or "")

    # A DSN for ana (Postfix's format) reaches the marketing mailbox's INBOX.
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    dsn = (Path(__file__).parents[1] / "bot/campaigns/dsn/postfix.eml").read_text()
    for key, value in {
        "sender": mailbox.address,
        "recipient": "ana@customer.example.com",
        "message_id": rows["ana@customer.example.com"].message_id,
    }.items():
        dsn = dsn.replace("{" + key + "}", value)
    h.dovecot.append(mailbox.address, dsn.encode())
    # An out-of-office answer from ben is not a bounce.
    h.dovecot.append(
        mailbox.address,
        make_email(
            sender="ben@customer.example.com",
            to=mailbox.address,
            subject="Automatic reply: Hello there",
            extra_headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    h.sync(mailbox_id)
    wait_until(lambda: "ana@customer.example.com" in _suppressed(h), timeout=20, message="bounce")
    assert _suppressed(h) == {
        "cid@customer.example.com": "hard_bounce",
        "ana@customer.example.com": "hard_bounce",
    }
    with h.ctx.db.session() as session:
        ana = session.exec(
            select(CampaignRecipient).where(CampaignRecipient.address == "ana@customer.example.com")
        ).one()
    assert ana.bounce == "hard" and ana.state == "sent"


def test_campaign_list_shows_past_campaigns(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(h, ["ana@customer.example.com"])
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=30, message="done")
    listing = answer(h, "/mail-campaign", "list")
    assert f"#{campaign_id} *welcome → news* — done, 1/1 sent" in listing


# --- Audiences and templates -----------------------------------------------------------------


def test_a_shared_csv_imports_with_a_report_of_every_skipped_row(app: Harness) -> None:
    h = app
    grant(h, "UALICE", "marketing")
    with h.ctx.db.session() as session:
        session.add(
            Suppression(team_id="T1", address="old@customer.example.com", reason="hard_bounce")
        )
    data = (
        b"First Name;Company;E-mail\n"
        b"Ana;Acme;ana@customer.example.com\n"
        b"Ben;Beta;not-an-address\n"
        b"Ana again;Acme;ANA@customer.example.com\n"
        b"Old;Gone;old@customer.example.com\n"
        b"Cid;;cid@customer.example.com\n"
    )
    file = h.slack.add_file("list.csv", data)
    before = len(dms(h, "UALICE"))
    h.client.event(
        {
            "type": "message",
            "subtype": "file_share",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience spring",
            "ts": "1800000001.000100",
            "files": [file],
        }
    )
    report = wait_for_dm(h, "UALICE", "added 2", before)["text"]
    assert "Merge fields: `{first_name}`, `{company}`" in report
    assert "line 3: invalid address not-an-address" in report
    assert "line 4: duplicate ana@customer.example.com" in report
    assert "line 5: suppressed old@customer.example.com" in report
    audience = audience_service.find_audience(h.ctx, "T1", "spring")
    assert audience is not None
    members = {
        m.address: json.loads(m.fields_json) for m in audience_service.members(h.ctx, audience.id)
    }
    assert members == {
        "ana@customer.example.com": {"first_name": "Ana", "company": "Acme"},
        "cid@customer.example.com": {"first_name": "Cid"},
    }
    # No contacts were imported by the contacts listener from the same file.
    assert not h.slack.ephemerals("UALICE") or all(
        "contact" not in e["text"] for e in h.slack.ephemerals("UALICE")
    )

    # A file that is not UTF-8 is refused with what to do.
    bad = h.slack.add_file(
        "latin.csv", "email,name\nana@customer.example.com,Jos\xe9\n".encode("latin-1")
    )
    before = len(dms(h, "UALICE"))
    h.client.event(
        {
            "type": "message",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience spring",
            "ts": "1800000002.000100",
            "files": [bad],
        }
    )
    assert "CSV UTF-8" in wait_for_dm(h, "UALICE", "not UTF-8", before)["text"]


def test_a_template_with_an_unknown_field_is_refused_and_preview_uses_a_real_recipient(
    app: Harness,
) -> None:
    h = app
    grant(h, "UALICE", "marketing")
    answer(h, "/mail-audience", "create vip")
    answer(h, "/mail-audience", "add vip zoe@customer.example.com")
    refused = save_template(h.client, "t1", "Hi {frist_name}", "Body")
    assert refused["response_action"] == "errors"
    assert "Unknown field {frist_name}" in refused["errors"]["subject"]
    assert template_service.list_templates(h.ctx, "T1") == []

    view = {"id": "VTPL", "callback_id": "campaign_template", "blocks": []}
    state = {
        "subject": {"value": {"type": "plain_text_input", "value": "For {email}"}},
        "body": {"value": {"type": "plain_text_input", "value": "Hello {first_name|friend}"}},
    }
    h.client.action("campaign_template_preview", None, "UALICE", view=view, state_values=state)
    pushed = wait_until(lambda: h.slack.calls_to("views.push"), message="preview pushed")[0]
    shown = json.dumps(pushed.params)
    assert "zoe@customer.example.com" in shown and "Hello friend" in shown, shown


def test_send_me_a_test_mails_the_filled_template_to_the_person(app: Harness) -> None:
    h = app
    setup(h, ["zoe@customer.example.com"])
    with h.ctx.db.session() as session:
        member = session.exec(select(AudienceMember)).one()
        member.fields_json = json.dumps({"first_name": "Zoë <b>"})
        session.add(member)
    view = {"id": "VTPL", "callback_id": "campaign_template", "blocks": []}
    state = {
        "subject": {"value": {"type": "plain_text_input", "value": "Hi {first_name|there}"}},
        "body": {"value": {"type": "plain_text_input", "value": "Hello *{first_name}*"}},
    }
    h.client.action("campaign_template_test", None, "UALICE", view=view, state_values=state)
    [mail] = h.smtp.wait_for_messages(1, timeout=20)
    assert mail.recipients == ["ualice@example.com"]
    assert mail.message["Subject"] == "[Test] Hi Zoë <b>"
    html = mail.message.get_body(("html",)).get_content()
    assert "<strong>Zoë &lt;b&gt;</strong>" in html
    # Clicked in a modal: the answer comes as a direct message.
    wait_for_dm(h, "UALICE", "Test sent to ualice@example.com")


def test_a_mailbox_that_sends_through_ses_sends_raw_mime_within_the_ses_quota(
    senders_app: Callable[..., Harness], ses_endpoint: MotoSes
) -> None:
    h = senders_app(PUBLIC_URL="http://testserver")
    recipients = ["ana@customer.example.com", "ben@customer.example.com"]
    mailbox_id, audience_id, template_id = setup(h, recipients)
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    ses_endpoint.add_identity(mailbox.address, "SUCCESS")
    h.ctx.mailboxes.set_fields(mailbox_id, send_via="ses")
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    assert "Amazon SES quota" in json.dumps(confirmation["blocks"])
    value = button_value(confirmation, "campaign_send") or button_value(
        confirmation, "campaign_confirm_domain"
    )
    assert value
    action = (
        "campaign_send"
        if button_value(confirmation, "campaign_send")
        else "campaign_confirm_domain"
    )
    click(h, action, value, "UADMIN" if action.endswith("domain") else "UALICE", confirmation)
    wait_until(lambda: campaign_row(h, int(value)).state == "done", timeout=30, message="done")
    raws = [m.raw_data for m in ses_endpoint.backend.sent_messages]
    assert not h.smtp.messages  # nothing went through SMTP
    assert sorted(line for raw in raws for line in raw.splitlines() if line.startswith("To: ")) == [
        "To: ana@customer.example.com",
        "To: ben@customer.example.com",
    ]
    for raw in raws:
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw


def test_a_scheduled_campaign_starts_at_its_time_and_can_be_cancelled(app: Harness) -> None:
    import time as clock

    h = app
    mailbox_id, audience_id, template_id = setup(h, ["ana@customer.example.com"])

    def schedule(at: float, confirmation: dict) -> None:
        value = button_value(confirmation, "campaign_schedule")
        assert value
        response = h.client.action(
            "campaign_schedule",
            value,
            "UALICE",
            channel_id="DUALICE",
            message_ts=confirmation["ts"],
            state_values={
                "campaign_confirm": {
                    "campaign_schedule_at": {
                        "type": "datetimepicker",
                        "selected_date_time": int(at),
                    }
                }
            },
        )
        assert response.status_code == 200

    first = prepare_campaign(h, mailbox_id, audience_id, template_id)
    first_id = int(button_value(first, "campaign_send") or 0)
    before = len(h.slack.ephemerals("UALICE"))
    schedule(clock.time() - 60, first)
    wait_until(
        lambda: any("in the future" in e["text"] for e in h.slack.ephemerals("UALICE")[before:]),
        message="a past time refused",
    )
    assert campaign_row(h, first_id).state == "draft"
    schedule(clock.time() + 3600, first)
    wait_until(lambda: campaign_row(h, first_id).state == "scheduled", message="scheduled")
    assert "starts <!date^" in answer(h, "/mail-campaign", "list")
    assert "cancelled" in answer(h, "/mail-campaign", f"cancel {first_id}")

    second = prepare_campaign(h, mailbox_id, audience_id, template_id)
    second_id = int(button_value(second, "campaign_send") or 0)
    schedule(clock.time() + 3, second)
    wait_until(lambda: campaign_row(h, second_id).state == "scheduled", message="scheduled")
    assert not h.smtp.messages
    [mail] = h.smtp.wait_for_messages(1, timeout=30)
    assert mail.recipients == ["ana@customer.example.com"]
    assert campaign_row(h, first_id).state == "cancelled"
    row = campaign_row(h, second_id)
    assert row.started_at is not None and row.scheduled_at is not None
    assert row.started_at >= row.scheduled_at


def test_a_mailbox_s_contacts_can_be_added_to_an_audience(app: Harness) -> None:
    h = app
    shared = h.connect(h.new_account(), user="UADMIN", kind="shared", channel="C_SALES")
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.command(
        "/mail-contacts",
        f"add pat@partner.example.com @partner.example.com mailbox:{shared.address}",
        "UADMIN",
    )
    wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], message="contacts added")
    assert "created" in answer(h, "/mail-audience", "create partners", "UADMIN")
    added = answer(h, "/mail-audience", f"add-contacts partners mailbox:{shared.address}", "UADMIN")
    assert "Added 1 address(es)" in added and "1 @domain contact(s)" in added
    audience = audience_service.find_audience(h.ctx, "T1", "partners")
    assert [m.address for m in audience_service.members(h.ctx, audience.id)] == [
        "pat@partner.example.com"
    ]


def test_tracked_clicks_and_replies_choose_who_gets_a_follow_up(app: Harness) -> None:
    import re
    from urllib.parse import urlsplit

    h = app
    recipients = [
        "ana@customer.example.com",
        "ben@customer.example.com",
        "cid@customer.example.com",
    ]
    mailbox_id, audience_id, _ = setup(h, recipients)
    save_template(
        h.client, "links", "Spring", "See <https://shop.example.com/spring?x=1&y=2|our shop>."
    )
    save_template(h.client, "reminder", "Last days", "Only a few days left, {first_name|friend}.")
    links = template_service.find_template(h.ctx, "T1", "links")
    confirmation = prepare_campaign(h, mailbox_id, audience_id, links.id, track_clicks=True)
    value = button_value(confirmation, "campaign_send")
    click(h, "campaign_send", value, "UALICE", confirmation)
    wait_until(lambda: campaign_row(h, int(value)).state == "done", timeout=30, message="done")
    assert campaign_row(h, int(value)).track_clicks
    mails = {m.recipients[0]: m for m in h.smtp.messages}

    html = mails["ana@customer.example.com"].message.get_body(("html",)).get_content()
    [tracked] = re.findall(r'href="(http://testserver/c/[^"]+)"', html)
    assert 'href="https://shop.example.com' not in html  # the link goes through Mailroom
    web = h.client.client
    path = urlsplit(tracked).path
    answer_ = web.get(path, follow_redirects=False)
    assert answer_.status_code == 302
    assert answer_.headers["location"] == "https://shop.example.com/spring?x=1&y=2"
    # The signed target cannot be swapped for another site: no open redirect.
    token, _, _ = path.removeprefix("/c/").partition("/")
    import base64

    evil = base64.urlsafe_b64encode(b"https://evil.example.net/").decode().rstrip("=")
    forged = web.get(f"/c/{token}/{evil}.{path.rsplit('.', 1)[1]}", follow_redirects=False)
    assert forged.status_code == 404 and "location" not in forged.headers

    # ben answers the campaign; the mail lands in the marketing mailbox.
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    h.dovecot.append(
        mailbox.address,
        make_email(sender="ben@customer.example.com", to=mailbox.address, subject="Re: Spring"),
    )
    h.sync(mailbox_id)

    before = len(h.smtp.messages)
    assert "Follow-up added" in answer(
        h, "/mail-campaign", f"followup {value} 0.00002 reminder no-reply"
    )
    assert "Follow-up added" in answer(
        h, "/mail-campaign", f"followup {value} 0.00002 reminder clicked"
    )

    def reminders() -> list[str] | None:
        got = sorted(
            m.recipients[0] for m in h.smtp.messages[before:] if m.message["Subject"] == "Last days"
        )
        return got if len(got) >= 3 else None

    got = wait_until(reminders, timeout=30, message="the follow-ups")
    assert got == [
        "ana@customer.example.com",
        "ana@customer.example.com",
        "cid@customer.example.com",
    ]
    # Both steps launched once each, as campaigns following the first.
    with h.ctx.db.session() as session:
        children = session.exec(select(Campaign).where(Campaign.parent_id == int(value))).all()
    assert len(children) == 2


def test_a_big_csv_imports_in_the_background_with_progress(app: Harness) -> None:
    h = app
    grant(h, "UALICE", "marketing")
    rows = "".join(f"p{n:05d}@customers.example.com,Name{n}\n" for n in range(12_000))
    file = h.slack.add_file("big.csv", ("email,first_name\n" + rows).encode())
    before = len(dms(h, "UALICE"))
    response = h.client.event(
        {
            "type": "message",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience big",
            "ts": "1800000003.000100",
            "files": [file],
        }
    )
    assert response.status_code == 200
    report = wait_for_dm(h, "UALICE", "added 12,000", before)
    assert "Skipped" not in report["text"]
    progress = [m for m in dms(h, "UALICE")[before:] if "stored" in m["text"]]
    assert len(progress) == 1 and "stored 12,000 of 12,000 addresses" in progress[0]["text"]
    assert len(h.slack.calls_to("chat.update")) >= 2  # 5,000 → 10,000 → 12,000
    audience = audience_service.find_audience(h.ctx, "T1", "big")
    assert len(audience_service.members(h.ctx, audience.id)) == 12_000


def test_the_confirmation_warns_when_the_limits_cannot_finish_within_a_day(app: Harness) -> None:
    h = app
    mailbox_id, audience_id, template_id = setup(
        h, ["ana@customer.example.com", "ben@customer.example.com"]
    )
    mailbox = h.ctx.mailboxes.get(mailbox_id)
    assert "1/day" in answer(h, "/mail-campaign", f"limits {mailbox.address} 0 0 1", "UADMIN")
    confirmation = prepare_campaign(h, mailbox_id, audience_id, template_id)
    assert "cannot finish within a day" in json.dumps(confirmation["blocks"])
    value = button_value(confirmation, "campaign_send")
    click(h, "campaign_send", value, "UALICE", confirmation)
    h.smtp.wait_for_messages(1, timeout=20)
    wait_until(
        lambda: "Daily limit of 1 reached" in campaign_row(h, int(value)).note, message="cap"
    )
    assert len(h.smtp.messages) == 1 and campaign_row(h, int(value)).state == "sending"


def test_app_home_shows_campaigns_to_the_marketing_role_only(app: Harness) -> None:
    from tests.support.slack_requests import app_home_opened

    h = app
    mailbox_id, _, _ = setup(h, ["ana@customer.example.com"])
    for user in ("UALICE", "UBOB"):
        h.client.event(app_home_opened(user))
    home = wait_until(lambda: h.slack.home_view("UALICE"), message="Alice's home")
    assert "campaign_home_new" in json.dumps(home)
    bob = wait_until(lambda: h.slack.home_view("UBOB"), message="Bob's home")
    assert "campaign_home_new" not in json.dumps(bob)

    h.client.action("campaign_home_new", None, "UALICE", view=home)
    opened = wait_until(
        lambda: [
            c for c in h.slack.calls_to("views.open") if "campaign_new" in json.dumps(c.params)
        ],
        message="the New campaign modal",
    )
    assert str(mailbox_id) in json.dumps(opened[0].params)
    h.client.action("campaign_home_new", None, "UBOB", view=bob)
    wait_until(
        lambda: (
            any("marketing role" in m.get("text", "") for m in dms(h, "UBOB"))
            or any("marketing role" in e["text"] for e in h.slack.ephemerals("UBOB"))
        ),
        message="Bob refused",
    )


def test_an_smtp_outage_fails_nobody_and_the_campaign_finishes_after_it(app: Harness) -> None:
    from tests.support.mail_servers import free_port

    h = app
    recipients = [f"r{n}@customer.example.com" for n in range(5)]
    mailbox_id, audience_id, template_id = setup(h, recipients)
    port = h.ctx.mailboxes.get(mailbox_id).smtp_port
    h.ctx.mailboxes.set_fields(mailbox_id, smtp_port=free_port())  # nothing listens there
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: "Waiting" in campaign_row(h, campaign_id).note, message="the outage seen")
    # Several retries later nobody has failed or used up attempts.
    wait_until(
        lambda: "Waiting 4 s" in campaign_row(h, campaign_id).note, timeout=20, message="backoff"
    )
    with h.ctx.db.session() as session:
        rows = session.exec(select(CampaignRecipient)).all()
    assert {r.state for r in rows} == {"queued"} and {r.attempts for r in rows} == {0}
    h.ctx.mailboxes.set_fields(mailbox_id, smtp_port=port)
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", timeout=40, message="done")
    assert sorted(m.recipients[0] for m in h.smtp.messages) == recipients


def test_a_temporary_refusal_is_retried_later_not_at_once(
    harness_with: HarnessFactory, dns_server: TestDnsServer
) -> None:
    h = harness_with(
        DNS_NAMESERVERS=dns_server.address,
        PUBLIC_URL="http://testserver",
        MAILROOM_CAMPAIGN_RETRY_SECONDS="3",
    )
    mailbox_id, audience_id, template_id = setup(h, ["ana@customer.example.com"])
    h.smtp.fail_next(451, "4.7.1 Greylisted, try again later")
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)

    def ana() -> CampaignRecipient | None:
        with h.ctx.db.session() as session:
            return session.exec(select(CampaignRecipient)).first()

    # The recipient's row appears once the campaign starts; then its retry is planned.
    waiting = wait_until(
        lambda: (r := ana()) is not None and r.retry_at is not None and r,
        message="the retry planned",
    )
    assert waiting.state == "queued" and waiting.attempts == 1 and "451" in (waiting.error or "")
    assert not h.smtp.messages
    [mail] = h.smtp.wait_for_messages(1, timeout=20)
    assert mail.recipients == ["ana@customer.example.com"]
    wait_until(lambda: campaign_row(h, campaign_id).state == "done", message="done")
    sent = ana()
    assert sent is not None and sent.state == "sent" and sent.attempts == 2
    assert sent.sent_at >= waiting.retry_at
