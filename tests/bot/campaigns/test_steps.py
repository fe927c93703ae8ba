"""Follow-up steps (bot.campaigns.steps): whom a follow-up reaches for each condition, and
the sentence confirming it. (A follow-up launched end to end: test_tracking.py.)"""

from __future__ import annotations

import pytest

from bot.campaigns import steps
from storage.models import (
    Campaign,
    CampaignRecipient,
    Message,
    Suppression,
    utcnow,
)
from tests.support.campaigns import CHANNEL, add_campaign, marketing_account
from tests.support.harness import Harness

# address: (ledger state, bounce, clicked)
LEDGER = {
    "clicked@customer.example.com": ("sent", "", True),
    "quiet@customer.example.com": ("sent", "", False),
    "replied@customer.example.com": ("sent", "", False),
    "soft@customer.example.com": ("sent", "soft", False),
    "hard@customer.example.com": ("sent", "hard", True),
    "gone@customer.example.com": ("sent", "", True),  # unsubscribed since
    "failed@customer.example.com": ("failed", "", False),
    "unsure@customer.example.com": ("uncertain", "", False),
}


def finished_campaign(h: Harness) -> Campaign:
    mailbox = h.connect(marketing_account(h), user="UADMIN", kind="marketing", channel=CHANNEL)
    now = utcnow()
    with h.ctx.db.session() as session:
        campaign = add_campaign(
            session, mailbox.id, name="c", state="done", track_clicks=True, started_at=now
        )
        for address, (state, bounce, clicked) in LEDGER.items():
            session.add(
                CampaignRecipient(
                    campaign_id=campaign.id,  # type: ignore[arg-type]
                    address=address,
                    state=state,
                    bounce=bounce,
                    clicked_at=now if clicked else None,
                    fields_json=f'{{"who": "{address.split("@")[0]}"}}',
                )
            )
        session.add(
            Suppression(team_id="T1", address="gone@customer.example.com", reason="unsubscribed")
        )
        session.add(
            Message(
                mailbox_id=mailbox.id,  # type: ignore[arg-type]
                message_id="<answer@customer.example.com>",
                direction="in",
                from_address="Replied@customer.example.com",
                state="posted",
            )
        )
    return campaign


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("all", {"clicked", "quiet", "replied", "soft"}),
        ("clicked", {"clicked"}),
        ("no-click", {"quiet", "replied", "soft"}),
        ("no-reply", {"clicked", "quiet", "soft"}),
    ],
)
def test_a_follow_up_reaches_accepted_recipients_matching_its_condition(
    harness: Harness, condition: str, expected: set[str]
) -> None:
    """Never a hard bounce, anyone suppressed since, or a row the server did not accept."""
    campaign = finished_campaign(harness)
    chosen = steps.recipients_for(harness.ctx, campaign, condition)
    assert {address.split("@")[0] for address, _ in chosen} == expected
    fields = dict(chosen)
    assert all(fields[a] == f'{{"who": "{a.split("@")[0]}"}}' for a in fields)


def test_the_confirmation_names_the_delay_the_campaign_and_who_gets_the_template() -> None:
    text = steps.followup_added_text(3.0, 12, "no-reply", "reminder")
    assert text.startswith("Follow-up added: 3 day(s) after campaign #12 finishes, those who")
    assert "did not reply get the template reminder." in text
    assert "0.5 day(s)" in steps.followup_added_text(0.5, 12, "all", "t")
    for condition, words in steps.CONDITIONS.items():
        assert words in steps.followup_added_text(1, 7, condition, "t"), condition
