"""A mailbox's sending limits (bot.campaigns.limits): the confirmation warns when they cannot
finish within a day, and they hold across worker processes that share one database.

Two in-process apps (each its own engine, scheduler and campaign worker) on one SQLite file or
one PostgreSQL database send the same campaign; both claim ledger rows, and together they
keep to the mailbox's per-second limit and daily cap.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from bot.campaigns import audiences as audience_service
from bot.campaigns import templates as template_service
from bot.campaigns.limits import Limits, plan
from storage.models import CampaignRecipient
from tests.support.campaigns import (
    CHANNEL,
    answer,
    button_value,
    campaign_row,
    campaign_setup,
    click,
    grant,
    marketing_account,
    prepare_campaign,
    save_template,
)
from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory
from tests.support.wait import wait_until

SHARED_KEY = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="


def two_workers(
    harness_with: HarnessFactory, dns_server: TestDnsServer, database_url: str, limits: str, n: int
) -> tuple[Harness, Harness, int]:
    """A marketing mailbox with ``limits``, an audience of ``n`` and a template, then a
    second app on the same database; returns both and the started campaign's id."""
    env = {
        "DNS_NAMESERVERS": dns_server.address,
        "PUBLIC_URL": "http://testserver",
        "MAILROOM_SECRET_KEY": SHARED_KEY,  # both read the mailbox's stored password
    }
    h = harness_with(database_url=database_url, **env)
    account = marketing_account(h)
    mailbox = h.connect(account, user="UADMIN", kind="marketing", channel=CHANNEL)
    grant(h, "UALICE", "marketing")
    assert "created" in answer(h, "/mail-audience", "create news")
    addresses = " ".join(f"r{i:03d}@customer.example.com" for i in range(n))
    assert "Added" in answer(h, "/mail-audience", f"add news {addresses}")
    save_template(h.client, "welcome", "Hello {first_name|there}", "Hi {first_name|there}.")
    assert "now sends" in answer(
        h, "/mail-campaign", f"limits {account.address} {limits}", "UADMIN"
    )
    audience = audience_service.find_audience(h.ctx, "T1", "news")
    template = template_service.list_templates(h.ctx, "T1")[0]
    other = harness_with(database_url=database_url, **env)  # a second worker process
    confirmation = prepare_campaign(h, mailbox.id, audience.id, template.id)  # type: ignore[arg-type, union-attr]
    value = button_value(confirmation, "campaign_send")
    assert value, confirmation
    click(h, "campaign_send", value, "UALICE", confirmation)
    return h, other, int(value)


def ledger_rows(h: Harness) -> list[CampaignRecipient]:
    with h.ctx.db.session() as session:
        return list(session.exec(select(CampaignRecipient)))


@pytest.mark.slow
def test_two_workers_together_keep_to_the_per_second_limit(
    database_url: str, harness_with: HarnessFactory, dns_server: TestDnsServer
) -> None:
    rate, n = 5.0, 30
    h, _, campaign_id = two_workers(harness_with, dns_server, database_url, f"{rate:g} 0 0", n)
    wait_until(
        lambda: campaign_row(h, campaign_id).state == "done",
        timeout=40,
        message="the campaign done",
    )
    rows = ledger_rows(h)
    assert {r.state for r in rows} == {"sent"} and len(h.smtp.messages) == n
    # Both workers sent part of it...
    assert len({r.claimed_by for r in rows}) == 2
    # ...and together no faster than the limit: n sends at 5/s span at least (n-1)/5 s (a
    # throttle per process lets the two of them send at twice the rate).
    times = sorted(r.claimed_at for r in rows if r.claimed_at is not None)
    span = (times[-1] - times[0]).total_seconds()
    assert span >= 0.9 * (n - 1) / rate, f"{n} sends in {span:.2f} s"
    # No second holds more than the limit (plus the slot at its edge).
    seconds = [t.timestamp() for t in times]
    assert max(sum(1 for u in seconds if t <= u < t + 1.0) for t in seconds) <= rate + 1


@pytest.mark.slow
def test_two_workers_together_stop_at_the_daily_cap(
    database_url: str, harness_with: HarnessFactory, dns_server: TestDnsServer
) -> None:
    cap = 6
    h, _, campaign_id = two_workers(harness_with, dns_server, database_url, f"5 0 {cap}", 20)
    wait_until(
        lambda: f"Daily limit of {cap} reached" in campaign_row(h, campaign_id).note,
        timeout=30,
        message="the daily cap reached",
    )
    wait_until(
        lambda: not [r for r in ledger_rows(h) if r.state == "sending"], message="none in flight"
    )
    rows = ledger_rows(h)
    assert sum(1 for r in rows if r.state == "sent") == cap
    assert len(h.smtp.messages) == cap
    assert campaign_row(h, campaign_id).state == "sending"


def test_the_per_minute_window_and_the_per_second_spacing() -> None:
    # 3 a minute: three slots at once, the fourth a minute after the first.
    limits = Limits(0.0, 3, 0, "test")
    slots, next_at, granted, full = plan(limits, 1000.0, 0.0, [], 0, 10, 120.0)
    assert slots == [1000.0, 1000.0, 1000.0] and not full
    slots, _, granted, _ = plan(limits, 1000.5, next_at, granted, 0, 10, 120.0)
    assert slots == [1060.0] * 3  # the next three a minute after the first three
    # Nothing within a short wait: no slot (and the row is left as it was).
    assert plan(limits, 1001.0, next_at, granted, 0, 10, 5.0)[0] == []
    # 4 a second: 0.25 s apart, whichever worker asks.
    limits = Limits(4.0, 0, 0, "test")
    slots, next_at, granted, _ = plan(limits, 50.0, 0.0, [], 0, 3, 10.0)
    assert slots == [50.0, 50.25, 50.5]
    slots, _, _, _ = plan(limits, 50.1, next_at, granted, 0, 1, 10.0)
    assert slots == [50.75]
    # The daily cap counts what the ledger holds and the slots just given.
    limits = Limits(0.0, 0, 5, "test")
    slots, _, granted, full = plan(limits, 10.0, 0.0, [], 3, 10, 10.0)
    assert slots == [10.0, 10.0] and not full
    # Two slots given and not claimed yet: none left, but not for the whole day yet...
    assert plan(limits, 10.5, 0.0, granted, 3, 10, 10.0)[0::3] == ([], False)
    # ...both used (rows claimed with the slots' times): one sent, one refused: one left.
    assert plan(limits, 10.5, 0.0, granted, 4, 10, 10.0, claimed_lately=2)[0] == [10.5]
    # The ledger alone reaches the cap: full for the day.
    assert plan(limits, 10.5, 0.0, [], 5, 10, 10.0)[0::3] == ([], True)


def test_the_confirmation_warns_when_the_limits_cannot_finish_within_a_day(
    campaign_app: Harness,
) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(
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
