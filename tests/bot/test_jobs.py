"""Work a click or a thread reply starts (bot.jobs), on PostgreSQL with the scheduler on: a
web process wakes the workers (NOTIFY) instead of doing the work, a worker does it itself
under the mailbox's lease. (Between real processes: tests/scale/test_scale_process.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bot.ownership import NOTIFY_CHANNEL
from tests.support.harness import HarnessFactory
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
    jobs.sync_now(mailbox.id)
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
