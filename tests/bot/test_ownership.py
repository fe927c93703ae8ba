"""Leases in one process against PostgreSQL: fair shares, and the fence that keeps a worker
that lost its lease (frozen, cut off) from recording or posting anything."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlmodel import select

from bot.ownership import Ownership, fair_share
from bot.settings import SettingsError, load_settings
from storage.models import Mailbox, Message
from tests.support.harness import (
    Harness,
    HarnessFactory,
    make_email,
)
from tests.support.tcp_proxy import CuttableProxy
from tests.support.wait import wait_until

CHANNEL = "C_FENCE"


def test_fair_shares_add_up_and_differ_by_at_most_one() -> None:
    for active in (0, 1, 59, 60, 61, 3000):
        for count in (1, 2, 3, 7):
            workers = [f"w{n}" for n in range(count)]
            shares = [fair_share(active, workers, me) for me in workers]
            assert sum(shares) == active
            assert max(shares) - min(shares) <= 1


@pytest.fixture
def app(harness_with: HarnessFactory, postgres_database: str) -> Harness:
    # Scheduler off: no background tick renews the lease, so the test decides when it ends.
    return harness_with(
        database_url=postgres_database,
        MAILROOM_SCHEDULER="off",
        MAILROOM_LEASE_SECONDS="2",
        MAILROOM_HEARTBEAT_SECONDS="1",
    )


def posts(h: Harness, subject: str) -> list[dict]:
    return [m for m in h.slack.messages(CHANNEL) if subject in json.dumps(m.get("blocks"))]


def recorded(h: Harness, mailbox_id: int) -> list[Message]:
    with h.ctx.db.session() as session:
        return list(session.exec(select(Message).where(Message.mailbox_id == mailbox_id)))


def test_a_worker_whose_lease_was_taken_records_and_posts_nothing(app: Harness) -> None:
    h = app
    account = h.new_account()
    mailbox = h.connect(account, channel=CHANNEL)
    h.sync(mailbox.id)  # claims the lease (epoch 1) and starts from now
    assert h.ctx.ownership.holds(mailbox.id)
    h.deliver(account, make_email(to=account.address, subject="While frozen"))

    # This process "freezes": it stops renewing; the lease runs out and another worker
    # claims the mailbox (a new epoch).
    other = Ownership(h.ctx, worker_id="other-worker")
    wait_until(
        lambda: (other.tick(), other.holds(mailbox.id))[1],
        timeout=10,
        message="the other worker claims the expired lease",
    )
    with h.ctx.db.session() as session:
        row = session.get(Mailbox, mailbox.id)
        assert row is not None and row.lease_owner == "other-worker" and row.lease_epoch == 2

    # It wakes up still believing it holds the mailbox: its run is fenced off.
    assert h.ctx.ownership.holds(mailbox.id)
    result = h.ctx.sync.run(mailbox.id)
    assert not result.ran and result.error is None
    assert recorded(h, mailbox.id) == []
    assert posts(h, "While frozen") == []
    wait_until(lambda: not h.ctx.ownership.holds(mailbox.id), message="the lost lease is dropped")
    stored = h.ctx.mailboxes.get(mailbox.id)
    assert stored is not None and stored.consecutive_failures == 0  # not a sync failure


def test_the_lease_holder_syncs_and_a_fresh_claim_waits_for_expiry(app: Harness) -> None:
    h = app
    account = h.new_account()
    mailbox = h.connect(account, channel=CHANNEL)
    h.sync(mailbox.id)
    other = Ownership(h.ctx, worker_id="other-worker")
    assert not other.try_claim(mailbox.id)  # held and not expired: not claimable
    h.deliver(account, make_email(to=account.address, subject="Still ours"))
    assert h.sync(mailbox.id).posted == 1
    assert len(posts(h, "Still ours")) == 1


def test_a_removed_mailbox_is_let_go_and_claimed_by_nobody(app: Harness) -> None:
    h = app
    mailbox = h.connect(channel=CHANNEL, user="UALICE")
    h.sync(mailbox.id)
    assert h.ctx.ownership.holds(mailbox.id)
    h.ctx.lifecycle.remove("UALICE", mailbox)
    # The next heartbeat releases it; no worker claims it after that, also once free.
    wait_until(
        lambda: (h.ctx.ownership.tick(), not h.ctx.ownership.holds(mailbox.id))[1],
        timeout=10,
        message="the removed mailbox released",
    )
    other = Ownership(h.ctx, worker_id="other-worker")
    other.tick()
    assert not other.holds(mailbox.id) and not other.try_claim(mailbox.id)
    assert not h.ctx.ownership.try_claim(mailbox.id)


def test_a_worker_cut_off_from_the_database_stops_its_mailboxes_before_its_lease_ends(
    harness_with: HarnessFactory, postgres_database: str
) -> None:
    """Another worker may claim the mailbox once the lease ends: by then this one has let
    go of it here too (no sync, no connection), even though it never heard so."""
    host_port = postgres_database.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":") if ":" in host_port else (host_port, "5432")
    proxy = CuttableProxy(host, int(port))
    try:
        url = postgres_database.replace(host_port, f"127.0.0.1:{proxy.port}", 1)
        h = harness_with(
            database_url=url, MAILROOM_LEASE_SECONDS="3", MAILROOM_HEARTBEAT_SECONDS="1"
        )
        mailbox = h.connect(h.new_account(), channel=CHANNEL)
        wait_until(lambda: h.ctx.ownership.holds(mailbox.id), message="the lease claimed")
        assert h.ctx.scheduler.has(f"sync:{mailbox.id}")
        proxy.cut()
        cut_at = time.monotonic()
        wait_until(
            lambda: not h.ctx.ownership.holds(mailbox.id),
            timeout=10,
            message="the mailbox let go while the database is unreachable",
        )
        assert time.monotonic() - cut_at < 3.0  # before the 3 s lease could end
        assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
        proxy.restore()
        wait_until(
            lambda: h.ctx.ownership.holds(mailbox.id),
            timeout=15,
            message="the mailbox claimed again once the database is back",
        )
    finally:
        proxy.restore()
        # (the harness factory stops the app; then the proxy goes)
        harness_with.close()
        proxy.close()


@pytest.mark.parametrize("role", ["web", "worker"])
def test_split_roles_on_sqlite_are_refused_with_a_sentence(role: str, tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            mailroom_role=role,
        )
    assert any(f"MAILROOM_ROLE={role} needs PostgreSQL" in line for line in refused.value.problems)


def test_a_heartbeat_longer_than_half_the_lease_is_refused() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(
            _env_file=None,
            slack_bot_token="xoxb-1",
            slack_signing_secret="s",
            mailroom_lease_seconds=10,
            mailroom_heartbeat_seconds=6,
        )
    assert any("MAILROOM_HEARTBEAT_SECONDS" in line for line in refused.value.problems)
