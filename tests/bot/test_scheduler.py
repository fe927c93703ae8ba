"""Late polls run late, never skipped: a busy pool or a slow previous run only delays them."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from bot.scheduler import Scheduler
from tests.support.harness import HarnessFactory, SilentServer, make_email
from tests.support.wait import wait_until

SLOW_POLL = 31  # seconds: longer than the 30 s grace after which APScheduler drops a late run


def test_a_run_due_while_the_previous_one_runs_follows_it() -> None:
    scheduler = Scheduler(4, workers=2)
    started: list[float] = []
    release = threading.Event()

    def job() -> None:
        started.append(time.monotonic())
        if len(started) == 1:
            release.wait(30)

    scheduler.start()
    try:
        scheduler.every("slow", 4, job, first_in=0.1)
        wait_until(lambda: started, message="the first run")
        # The second run falls due (4 s after the first) while the first still runs.
        wait_until(lambda: time.monotonic() > started[0] + 5, timeout=10, message="due again")
        assert len(started) == 1
        release.set()
        released_at = time.monotonic()
        # It runs as soon as the first run ends, not at the next interval (4 s later).
        wait_until(lambda: len(started) >= 2, timeout=2, message="the owed run")
        assert started[1] - released_at < 2
    finally:
        release.set()
        scheduler.shutdown()


@pytest.mark.slow
def test_with_one_worker_a_hanging_mailbox_delays_the_other_poll_but_never_drops_it(
    harness_with: HarnessFactory,
    silent_server: SilentServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = harness_with(MAILROOM_SCHEDULER="off", IMAP_TIMEOUT_SECONDS=str(SLOW_POLL))
    healthy_account = h.new_account()
    healthy = h.connect(healthy_account, user="UALICE", channel="C_OK")
    hanging = h.connect(user="UBOB", channel="C_HANGS")
    h.sync(healthy.id)
    h.ctx.mailboxes.set_fields(hanging.id, imap_port=silent_server.port)
    h.deliver(healthy_account, make_email(to=healthy_account.address, subject="Late not lost"))

    scheduler = Scheduler(1, workers=1)
    caplog.set_level(logging.INFO, logger="apscheduler")
    scheduler.start()
    try:
        # The hanging mailbox takes the only worker first; the healthy one's poll (and every
        # poll of both that falls due while it hangs) waits more than 30 s for it.
        scheduler.schedule_sync(hanging.id, h.ctx.sync.run, first_in=0.1)
        wait_until(lambda: silent_server.accepted, message="the hanging poll started")
        scheduler.schedule_sync(healthy.id, h.ctx.sync.run, first_in=0.1)
        wait_until(
            lambda: any("Late not lost" in json.dumps(m) for m in h.slack.messages("C_OK")),
            timeout=SLOW_POLL + 20,
            message="the healthy mailbox's late poll",
        )
        # It ran right after the first hanging poll, not after the next one.
        assert h.ctx.mailboxes.get(hanging.id).consecutive_failures == 1
    finally:
        scheduler.shutdown()
    dropped = [
        r.getMessage()
        for r in caplog.records
        if "was missed" in r.getMessage() or "maximum number of running" in r.getMessage()
    ]
    assert dropped == []
