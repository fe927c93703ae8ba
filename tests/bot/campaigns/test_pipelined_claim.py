"""On PostgreSQL the worker writes a message's SMTP transaction while its claim is on the way;
the final "." waits for the claim's commit, so a row another worker holds is never sent."""

from __future__ import annotations

from sqlmodel import select

from bot.campaigns import ledger
from bot.campaigns.transport import Outcome, SmtpTransport
from storage.models import Audience, Campaign, CampaignRecipient, CampaignTemplate
from tests.support.campaigns import CHANNEL, marketing_account
from tests.support.harness import HarnessFactory

RAW = b"From: news@good.test\r\nTo: x@customer.example.com\r\nSubject: Hi\r\n\r\n.dot line\r\nbody"


def test_the_final_dot_waits_for_the_claim_and_a_lost_claim_sends_nothing(
    postgres_database: str, harness_with: HarnessFactory
) -> None:
    # PostgreSQL only: SQLite (one process) claims, then sends.
    h = harness_with(database_url=postgres_database)
    mailbox = h.connect(marketing_account(h), user="UADMIN", kind="marketing", channel=CHANNEL)
    with h.ctx.db.session() as session:
        audience = Audience(team_id="T1", name="a")
        template = CampaignTemplate(team_id="T1", name="t")
        session.add_all([audience, template])
        session.flush()
        campaign = Campaign(
            team_id="T1",
            mailbox_id=mailbox.id,  # type: ignore[arg-type]
            audience_id=audience.id,  # type: ignore[arg-type]
            template_id=template.id,  # type: ignore[arg-type]
            name="c",
            state="paused",  # not the app's own worker's: this test claims its rows
        )
        session.add(campaign)
        session.flush()
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
