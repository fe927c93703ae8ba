"""A real ``python app.py`` killed with SIGKILL three times in the middle of a campaign.

Counted at the SMTP sink: no recipient gets a mail twice, nobody is skipped (every recipient
either received the mail or is listed as uncertain), and at most one recipient per kill (the
one in flight) is uncertain.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from storage.db import Database
from storage.models import Audience, AudienceMember, Campaign, CampaignRecipient, Mailbox
from tests.support.dns_server import TestDnsServer
from tests.support.fake_slack import FakeSlack
from tests.support.harness import AppProcess, MailAccount, app_env, connect_values, launch
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.slack_requests import plain_input, static_select
from tests.support.wait import wait_until

CHANNEL = "C_NEWS"
RECIPIENTS = 400
KILLS = 3


@pytest.mark.slow
def test_kill_9_mid_campaign_sends_each_recipient_at_most_once_and_skips_nobody(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    dns_server: TestDnsServer,
    database_url: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    env = app_env(
        slack_fake,
        database_url,
        tmp_path / "data",
        DNS_NAMESERVERS=dns_server.address,
        PUBLIC_URL="https://mailroom.example.com",
    )
    app = launch(processes, env, tmp_path)
    db = Database(database_url)
    account = MailAccount("newsroom@good.test", "news-secret-1")
    dovecot.add_user(account.address, account.password)
    smtp_server.users[account.address] = account.password

    client = app.client()
    answer = client.submit_view(
        "mail_connect",
        connect_values(account, dovecot, smtp_server, kind="marketing", channel=CHANNEL),
        "UADMIN",
        private_metadata='{"mailbox_id": null}',
    )
    assert answer.status_code == 200, answer.text
    mailbox = wait_until(lambda: _one(db, Mailbox), message="the marketing mailbox saved")
    client.command("/mail-audience", "create big", "UADMIN")
    audience = wait_until(lambda: _one(db, Audience), message="the audience")
    addresses = [f"person{n:04d}@customers.example.com" for n in range(RECIPIENTS)]
    for start in range(0, RECIPIENTS, 100):
        client.command(
            "/mail-audience", "add big " + " ".join(addresses[start : start + 100]), "UADMIN"
        )
    wait_until(lambda: _count(db, AudienceMember) == RECIPIENTS, timeout=30, message="members")
    client.command("/mail-campaign", f"limits {account.address} 100 0 0", "UADMIN")
    saved = client.submit_view(
        "campaign_template",
        {
            "name": {"value": plain_input("news")},
            "subject": {"value": plain_input("News for {email}")},
            "body": {"value": plain_input("Hello {first_name|there}")},
        },
        "UADMIN",
        private_metadata='{"template_id": null}',
    )
    assert saved.status_code == 200
    template_id = wait_until(lambda: _template_id(db), message="the template")
    client.submit_view(
        "campaign_new",
        {
            "mailbox": {"value": static_select(str(mailbox.id))},
            "audience": {"value": static_select(str(audience.id))},
            "template": {"value": static_select(str(template_id))},
        },
        "UADMIN",
    )
    campaign = wait_until(lambda: _one(db, Campaign), timeout=20, message="the draft campaign")
    wait_until(
        lambda: any(
            "Ready to send?" in m.get("text", "") + json.dumps(m.get("blocks"))
            for m in slack_fake.messages("UADMIN")
        ),
        timeout=20,
        message="the confirmation",
    )
    client.action("campaign_send", str(campaign.id), "UADMIN", channel_id="DUADMIN")

    # Three kills at random moments while mail is flowing.
    marks = sorted(rng.sample(range(20, RECIPIENTS - 40), KILLS))
    for mark in marks:
        wait_until(
            lambda m=mark: len(smtp_server.messages) >= m,
            timeout=60,
            message=f"{mark} mails (seed {seed})",
        )
        app.kill()
        app = launch(processes, env, tmp_path)

    wait_until(
        lambda: _state(db, campaign.id) == "done",
        timeout=90,
        message=f"the campaign done (seed {seed})",
    )
    received = Counter(r for m in smtp_server.messages for r in m.recipients)
    by_id = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    with db.session() as session:
        rows = {r.address: r for r in session.exec(select(CampaignRecipient))}
    states = Counter(r.state for r in rows.values())
    duplicates = [a for a, n in received.items() if n > 1]
    skipped = [a for a in addresses if a not in received and rows[a].state != "uncertain"]
    print(f"seed {seed}: kills at {marks}, states {dict(states)}")
    assert duplicates == [], f"seed {seed}"
    assert max(by_id.values()) == 1
    assert skipped == [], f"seed {seed}: {states}"
    assert set(states) <= {"sent", "uncertain"}, states
    assert states["uncertain"] <= KILLS, f"seed {seed}: {states}"
    # Every row recorded as sent was really accepted, with the Message-ID the ledger names.
    ids = {m.recipients[0]: m.message["Message-ID"] for m in smtp_server.messages}
    assert all(ids.get(a) == r.message_id for a, r in rows.items() if r.state == "sent")
    db.dispose()


def _one(db: Database, model: type):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return session.exec(select(model)).first()


def _count(db: Database, model: type) -> int:
    with db.session() as session:
        return len(session.exec(select(model)).all())


def _template_id(db: Database) -> int | None:
    from storage.models import CampaignTemplate

    row = _one(db, CampaignTemplate)
    return row.id if row else None


def _state(db: Database, campaign_id: int) -> str:
    with db.session() as session:
        row = session.get(Campaign, campaign_id)
    return row.state if row else ""
