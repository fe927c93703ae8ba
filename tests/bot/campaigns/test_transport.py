"""Sending one campaign mail (bot.campaigns.transport): SES sends raw MIME within its quota.

On PostgreSQL the worker writes a message's SMTP transaction while its claim is on the way;
the final "." waits for the claim's commit, so a row another worker holds is never sent."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlmodel import select

from bot.campaigns import ledger
from bot.campaigns.transport import Outcome, SmtpTransport
from storage.models import (
    CampaignRecipient,
)
from tests.support.campaigns import (
    CHANNEL,
    add_campaign,
    button_value,
    campaign_row,
    campaign_setup,
    click,
    marketing_account,
    prepare_campaign,
)
from tests.support.harness import Harness, HarnessFactory
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until

RAW = b"From: news@good.test\r\nTo: x@customer.example.com\r\nSubject: Hi\r\n\r\n.dot line\r\nbody"


def test_the_final_dot_waits_for_the_claim_and_a_lost_claim_sends_nothing(
    postgres_database: str, harness_with: HarnessFactory
) -> None:
    # PostgreSQL only: SQLite (one process) claims, then sends.
    h = harness_with(database_url=postgres_database)
    mailbox = h.connect(marketing_account(h), user="UADMIN", kind="marketing", channel=CHANNEL)
    with h.ctx.db.session() as session:
        # paused: not the app's own worker's, this test claims its rows
        campaign = add_campaign(session, mailbox.id, name="c", state="paused")
        taken = CampaignRecipient(
            campaign_id=campaign.id,  # type: ignore[arg-type]
            address="taken@customer.example.com",
            state="sending",
            claimed_by="other-worker",
        )
        free = CampaignRecipient(
            campaign_id=campaign.id,  # type: ignore[arg-type]
            address="free@customer.example.com",
        )
        session.add_all([taken, free])
    transport = SmtpTransport(h.ctx, mailbox)
    conn = h.ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        # Another worker holds the row: the data went out, the "." never did.
        pending = ledger.start_claim(conn, taken, "me", accepted=None)
        assert pending is not None
        result = transport.send(RAW, mailbox.address, taken.address, gate=pending)
        assert result.outcome == Outcome.NOT_SENT
        assert pending() is False

        # A free row: claimed (committed) before the server is asked to accept the message.
        asked: list[str] = []

        def gate() -> bool:
            won = pending_free()
            with h.ctx.db.session() as session:
                asked.append(session.get(CampaignRecipient, free.id).state)  # type: ignore[union-attr]
            return won

        pending_free = ledger.start_claim(conn, free, "me", accepted=None)
        assert pending_free is not None
        result = transport.send(RAW, mailbox.address, free.address, gate=gate)
        assert result.outcome == Outcome.SENT and asked == ["sending"]
        # The connection is usable again: the acceptance is recorded on it.
        ledger.mark_sent(h.ctx, free.id, conn)  # type: ignore[arg-type]
    finally:
        conn.close()
        transport.close()
    [mail] = h.smtp.wait_for_messages(1)
    assert mail.recipients == ["free@customer.example.com"]
    assert mail.message.get_payload().startswith(".dot line")  # dot-stuffing undone
    with h.ctx.db.session() as session:
        rows = {r.address: r for r in session.exec(select(CampaignRecipient))}
    assert rows[taken.address].state == "sending"
    assert rows[taken.address].claimed_by == "other-worker"
    assert rows[free.address].state == "sent" and rows[free.address].claimed_by == "me"


def test_a_mailbox_that_sends_through_ses_sends_raw_mime_within_the_ses_quota(
    senders_app: Callable[..., Harness], ses_endpoint: MotoSes
) -> None:
    h = senders_app(PUBLIC_URL="http://testserver")
    recipients = ["ana@customer.example.com", "ben@customer.example.com"]
    mailbox_id, audience_id, template_id = campaign_setup(h, recipients)
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
