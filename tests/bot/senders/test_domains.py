"""Watched domains: re-checked on a schedule (the clock is passed in), one message when the
domain starts passing and one when a passing domain breaks; DNS trouble changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.senders import Senders
from bot.senders.domains import WATCH_INTERVAL
from storage.models import DomainWatch, utcnow
from tests.support.channel_posts import posts_saying
from tests.support.dns_server import TestDnsServer
from tests.support.dns_ses import Zone
from tests.support.harness import Harness
from tests.support.senders_app import ADMIN_CHANNEL
from tests.support.wait import wait_until

DOMAIN = "watched.test"
DMARC = "v=DMARC1; p=reject; rua=mailto:dmarc@watched.test"


def press(h: Harness, action_id: str, value: str) -> dict:
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.action(action_id, value, "UADMIN", channel_id="C_CMD")
    return wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], timeout=15)[0]


def test_watch_tells_once_when_passing_and_once_when_broken(
    senders_harness: Harness, dns_server: TestDnsServer
) -> None:
    h = senders_harness
    Zone(DOMAIN, dmarc=None).publish(dns_server)  # everything right but DMARC
    h.client.command("/dkim-check", DOMAIN, "UADMIN")
    report = wait_until(lambda: h.slack.ephemerals("UADMIN"), timeout=15)[0]
    assert report["text"].startswith(f"DKIM, SPF, DMARC and MX for {DOMAIN}: fail")
    watch_value = next(
        e["value"]
        for b in report["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == "Watch this domain"
    )
    started = press(h, "dkim_watch", watch_value)
    assert started["text"].startswith(
        f":eyes: Watching {DOMAIN}: Mailroom checks it again every hour."
    )
    senders: Senders = h.ctx.senders
    watch = senders.domains.watch_row("T1", DOMAIN)
    assert watch is not None and watch.last_verdict == "fail"

    now = utcnow()
    assert senders.run_due_watches(now=now) == []  # not due for an hour
    now += WATCH_INTERVAL
    assert senders.run_due_watches(now=now) == []  # still failing: nothing to say
    dns_server.add(f"_dmarc.{DOMAIN}", "TXT", DMARC)  # the admin publishes DMARC
    now += WATCH_INTERVAL
    assert senders.run_due_watches(now=now) == [(DOMAIN, "passing")]
    now += WATCH_INTERVAL
    assert senders.run_due_watches(now=now) == []  # still passing: told once
    for channel in ("UADMIN", ADMIN_CHANNEL):
        assert len(posts_saying(h, channel, f"Good news: {DOMAIN} now passes every")) == 1

    dns_server.remove(f"_dmarc.{DOMAIN}")  # someone deletes it later
    now += WATCH_INTERVAL
    assert senders.run_due_watches(now=now) == [(DOMAIN, "broken")]
    now += WATCH_INTERVAL
    assert senders.run_due_watches(now=now) == []
    broken = posts_saying(h, "UADMIN", f"{DOMAIN} passed every check before, but not anymore")
    assert len(broken) == 1
    assert "has no DMARC record" in json.dumps(broken[0]["blocks"])

    # Stop watching: no more checks.
    stopped = press(h, "dkim_unwatch", DOMAIN)
    assert stopped["text"] == f"Mailroom no longer watches {DOMAIN}."
    assert senders.domains.watch_row("T1", DOMAIN) is None


def test_dns_trouble_does_not_count_as_broken(senders_harness: Harness) -> None:
    h = senders_harness
    senders: Senders = h.ctx.senders
    # A passing domain whose DNS then stops answering: "could not check", not "broken".
    with h.ctx.db.session() as session:
        session.add(
            DomainWatch(
                team_id="T1",
                domain="slow.test",
                requested_by="UADMIN",
                last_verdict="pass",
                next_check_at=utcnow(),
            )
        )
    now = utcnow() + timedelta(seconds=1)
    assert senders.run_due_watches(now=now) == []
    watch = senders.domains.watch_row("T1", "slow.test")
    assert watch is not None and watch.last_verdict == "pass"
    assert not h.slack.messages("UADMIN")


def test_watch_job_runs_due_watches_on_its_own(
    senders_harness: Harness, dns_server: TestDnsServer
) -> None:
    h = senders_harness
    h.ctx.scheduler.every("dkim-watch", 0.2, h.ctx.senders.run_due_watches)  # speed up the tick
    Zone("tick.test").publish(dns_server)
    with h.ctx.db.session() as session:
        session.add(
            DomainWatch(
                team_id="T1",
                domain="tick.test",
                requested_by="UADMIN",
                last_verdict="fail",
                next_check_at=utcnow(),
            )
        )
    wait_until(lambda: posts_saying(h, "UADMIN", "Good news: tick.test now passes"), timeout=15)
