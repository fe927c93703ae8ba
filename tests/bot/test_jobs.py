"""Work a click or a thread reply starts (bot.jobs), on PostgreSQL with the scheduler on: a
web process wakes the workers (NOTIFY) instead of doing the work, a worker does it itself
under the mailbox's lease. (Between real processes: tests/scale/test_scale_process.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest

from bot.ownership import NOTIFY_CHANNEL
from tests.support.harness import HarnessFactory, make_email
from tests.support.wait import wait_until


@pytest.fixture
def listener(postgres_database: str) -> Iterator[psycopg.Connection]:
    """A connection LISTENing on the jobs channel, as a worker's does."""
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        yield conn


def heard(conn: psycopg.Connection, wanted: set[str]) -> set[str]:
    payloads: set[str] = set()

    def more() -> bool:
        payloads.update(note.payload for note in conn.notifies(timeout=0.2, stop_after=10))
        return wanted <= payloads

    wait_until(more, timeout=10, message=f"wake-ups {sorted(wanted)}")
    return payloads


# The database is given before the apps, so that it outlives them.


def test_a_web_process_wakes_the_workers_and_does_no_work_itself(
    postgres_database: str, listener: psycopg.Connection, harness_with: HarnessFactory
) -> None:
    h = harness_with(database_url=postgres_database, MAILROOM_ROLE="web")
    mailbox = h.connect(user="UALICE")
    assert mailbox.id is not None
    jobs = h.ctx.jobs
    assert jobs.coordinating and not jobs.works_here
    assert jobs.sends_here(mailbox.id) is False
    h.ctx.sync.sync_now(mailbox.id)
    assert {"replies", f"sync:{mailbox.id}"} <= heard(listener, {"replies", f"sync:{mailbox.id}"})
    assert not h.ctx.ownership.holds(mailbox.id)


def test_a_worker_takes_the_mailbox_s_lease_and_sends_here(
    postgres_database: str, harness_with: HarnessFactory
) -> None:
    web = harness_with(database_url=postgres_database, MAILROOM_ROLE="web")
    mailbox = web.connect(user="UALICE")  # a worker does not serve Slack's requests
    assert mailbox.id is not None
    h = harness_with(database_url=postgres_database, MAILROOM_ROLE="worker")
    jobs = h.ctx.jobs
    assert jobs.coordinating and jobs.works_here
    assert jobs.sends_here(mailbox.id) is True
    assert h.ctx.ownership.holds(mailbox.id)


def test_without_coordination_everything_runs_here(harness_with: HarnessFactory) -> None:
    h = harness_with()  # SQLite: one process does all the work
    mailbox = h.connect(user="UALICE")
    assert mailbox.id is not None
    assert not h.ctx.jobs.coordinating
    assert h.ctx.jobs.sends_here(mailbox.id) is True


def test_a_wake_up_makes_the_worker_holding_the_mailbox_sync_it(
    postgres_database: str, harness_with: HarnessFactory
) -> None:
    """ "Sync now" in a web process: the worker holding the lease hears the NOTIFY
    (JobWorker) and syncs at once, long before its next poll."""
    web = harness_with(database_url=postgres_database, MAILROOM_ROLE="web")
    account = web.new_account()
    mailbox = web.connect(account, user="UALICE")
    assert mailbox.id is not None
    worker = harness_with(
        database_url=postgres_database, MAILROOM_ROLE="worker", SYNC_INTERVAL_SECONDS="3600"
    )
    wait_until(lambda: worker.ctx.ownership.holds(mailbox.id), message="the worker's lease")

    def synced_once() -> bool:
        found = worker.ctx.mailboxes.get(mailbox.id)
        return found is not None and found.last_success_at is not None

    wait_until(synced_once, timeout=20, message="the worker's first sync after its claim")
    web.deliver(account, make_email(to=account.address, subject="Wake up and sync"))
    web.ctx.sync.sync_now(mailbox.id)
    wait_until(
        lambda: "Wake up and sync" in json.dumps(worker.slack.top_level(mailbox.channel_id or "")),
        timeout=20,
        message="the worker posted the mail after the wake-up",
    )
