"""The campaign ledger (bot.campaigns.ledger) on SQLite and PostgreSQL: the audience snapshot
leaves suppressed addresses out and is idempotent, a row is claimed by one worker only, and
each state move (sent, released for a retry, uncertain after a crash, cancelled) holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from bot.campaigns import ledger
from storage.models import (
    AudienceMember,
    Campaign,
    CampaignRecipient,
    Suppression,
    utcnow,
)
from tests.support.campaigns import CHANNEL, add_campaign, marketing_account
from tests.support.harness import Harness, HarnessFactory

ADDRESSES = ["ana@customer.example.com", "ben@customer.example.com", "cid@customer.example.com"]


@pytest.fixture
def h(harness_with: HarnessFactory, database_url: str) -> Harness:
    return harness_with(database_url=database_url)


def paused_campaign(h: Harness) -> Campaign:
    """A campaign over ADDRESSES (cid suppressed), paused so the app's worker leaves it alone."""
    mailbox = h.connect(marketing_account(h), user="UADMIN", kind="marketing", channel=CHANNEL)
    with h.ctx.db.session() as session:
        campaign = add_campaign(session, mailbox.id, name="c", state="paused")
        for address in ADDRESSES:
            session.add(AudienceMember(audience_id=campaign.audience_id, address=address))
        session.add(Suppression(team_id="T1", address=ADDRESSES[2], reason="unsubscribed"))
    return campaign


def rows(h: Harness, campaign: Campaign) -> dict[str, CampaignRecipient]:
    with h.ctx.db.session() as session:
        found = session.exec(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
        )
        return {row.address: row for row in found}


def test_the_snapshot_leaves_suppressed_addresses_out_and_is_idempotent(h: Harness) -> None:
    campaign = paused_campaign(h)
    assert ledger.count_sendable(h.ctx, "T1", campaign.audience_id) == (2, 1)
    assert ledger.snapshot_audience(h.ctx, campaign, "news@good.test") == 2
    first = rows(h, campaign)
    assert sorted(first) == ADDRESSES[:2]
    assert all(row.state == "queued" and row.message_id for row in first.values())
    # A retried start queues nothing twice and keeps each row's Message-ID.
    assert ledger.snapshot_audience(h.ctx, campaign, "news@good.test") == 2
    again = rows(h, campaign)
    assert {a: r.message_id for a, r in again.items()} == {
        a: r.message_id for a, r in first.items()
    }
    assert ledger.counts(h.ctx, campaign.id) == {"queued": 2}  # type: ignore[arg-type]


def test_a_row_is_claimed_by_one_worker_and_sent_once(h: Harness) -> None:
    campaign = paused_campaign(h)
    ledger.snapshot_audience(h.ctx, campaign, "news@good.test")
    row = ledger.next_queued(h.ctx, campaign.id, 10)[0]  # type: ignore[arg-type]
    assert ledger.claim(h.ctx, row, "host:1:a")
    assert not ledger.claim(h.ctx, row, "host:2:b")  # the same snapshot, a second worker
    ledger.mark_sent(h.ctx, row.id)  # type: ignore[arg-type]
    ledger.mark_sent(h.ctx, row.id)  # type: ignore[arg-type]  # recorded once
    sent = rows(h, campaign)[row.address]
    assert (sent.state, sent.claimed_by, sent.attempts) == ("sent", "host:1:a", 1)
    assert sent.sent_at is not None
    # The worker moves on to the next queued row.
    following = ledger.next_queued(h.ctx, campaign.id, 10)[0]  # type: ignore[arg-type]
    assert following.address != row.address
    assert ledger.claim(h.ctx, following, "host:1:a")
    assert ledger.counts(h.ctx, campaign.id) == {"sent": 1, "sending": 1}  # type: ignore[arg-type]


def test_a_released_row_waits_for_its_retry_and_a_refund_keeps_its_attempts(
    h: Harness,
) -> None:
    campaign = paused_campaign(h)
    ledger.snapshot_audience(h.ctx, campaign, "news@good.test")
    first, second = ledger.next_queued(h.ctx, campaign.id, 10)  # type: ignore[arg-type]
    assert ledger.claim(h.ctx, first, "w") and ledger.claim(h.ctx, second, "w")
    ledger.release(h.ctx, first.id, "451 try later", retry_after=600)  # type: ignore[arg-type]
    ledger.release(h.ctx, second.id, "connection lost", refund=True)  # type: ignore[arg-type]
    after = rows(h, campaign)
    assert after[first.address].state == after[second.address].state == "queued"
    assert (after[first.address].attempts, after[second.address].attempts) == (1, 0)
    assert after[first.address].error == "451 try later"
    # Only the refunded one is due now; the refused one comes back after its wait.
    due = ledger.next_queued(h.ctx, campaign.id, 10)  # type: ignore[arg-type]
    assert [row.address for row in due] == [second.address]


def test_rows_left_sending_by_a_dead_worker_become_uncertain_never_queued_again(
    h: Harness,
) -> None:
    campaign = paused_campaign(h)
    ledger.snapshot_audience(h.ctx, campaign, "news@good.test")
    old, recent = ledger.next_queued(h.ctx, campaign.id, 10)  # type: ignore[arg-type]
    assert ledger.claim(h.ctx, old, "w", claimed_at=utcnow() - timedelta(hours=1))
    assert ledger.claim(h.ctx, recent, "w")
    # Claimed after the cutoff: a live worker may still be talking to the server.
    assert ledger.recover_stale(h.ctx, utcnow() - timedelta(minutes=10)) == 1
    after = rows(h, campaign)
    assert after[old.address].state == "uncertain" and after[recent.address].state == "sending"
    assert "not sent again" in (after[old.address].error or "")
    # At start in embedded mode every sending row is taken.
    assert ledger.recover_stale(h.ctx, None) == 1
    assert ledger.counts(h.ctx, campaign.id) == {"uncertain": 2}  # type: ignore[arg-type]
    assert ledger.next_queued(h.ctx, campaign.id, 10) == []  # type: ignore[arg-type]


def test_cancelling_stops_the_queued_rows_only(h: Harness) -> None:
    campaign = paused_campaign(h)
    ledger.snapshot_audience(h.ctx, campaign, "news@good.test")
    sending, queued = ledger.next_queued(h.ctx, campaign.id, 10)  # type: ignore[arg-type]
    assert ledger.claim(h.ctx, sending, "w")
    assert ledger.cancel_queued(h.ctx, campaign.id) == 1  # type: ignore[arg-type]
    assert not ledger.claim(h.ctx, queued, "w")  # a cancelled row is never claimed
    ledger.mark_sent(h.ctx, sending.id)  # type: ignore[arg-type]  # the one in flight finishes
    assert ledger.counts(h.ctx, campaign.id) == {"sent": 1, "cancelled": 1}  # type: ignore[arg-type]
