"""The push workers' pool (bot.push.pool): live work first, backfill on at most half of the
workers, a failing task does not kill its worker, stop drops what is queued."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.push.pool import Priority, PriorityPool
from tests.support.wait import wait_until


@pytest.fixture
def pools() -> Iterator[list[PriorityPool]]:
    made: list[PriorityPool] = []
    yield made
    for pool in made:
        pool.stop()


def test_queued_live_work_runs_before_routine_and_backfill(pools: list[PriorityPool]) -> None:
    pool = PriorityPool(1, name="test-order")
    pools.append(pool)
    gate = threading.Event()
    order: list[str] = []
    pool.submit(Priority.ROUTINE, gate.wait, 10)  # holds the only worker
    wait_until(lambda: pool.busy() == 1, message="the worker busy")
    pool.submit(Priority.BACKFILL, order.append, "backfill")
    pool.submit(Priority.ROUTINE, order.append, "routine")
    pool.submit(Priority.LIVE, order.append, "live")
    assert pool.queued() == 3
    gate.set()
    wait_until(lambda: len(order) == 3, message="all three ran")
    assert order == ["live", "routine", "backfill"]


def test_backfill_holds_at_most_half_of_the_workers_so_live_mail_gets_through(
    pools: list[PriorityPool],
) -> None:
    pool = PriorityPool(4, name="test-cap")
    pools.append(pool)
    assert pool.backfill_cap == 2
    release = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def backfill(n: int) -> None:
        with lock:
            started.append(n)
        release.wait(10)

    for n in range(5):
        pool.submit(Priority.BACKFILL, backfill, n)
    wait_until(lambda: len(started) == 2, message="two backfills running")
    live = threading.Event()
    pool.submit(Priority.LIVE, live.set)
    wait_until(live.is_set, message="live work ran beside the backfills")
    assert len(started) == 2 and pool.queued() == 3  # the other backfills still wait
    release.set()
    wait_until(lambda: len(started) == 5 and pool.busy() == 0, message="backfills done")


def test_a_failing_task_is_logged_and_its_worker_carries_on(pools: list[PriorityPool]) -> None:
    pool = PriorityPool(1, name="test-fail")
    pools.append(pool)

    def broken() -> None:
        raise RuntimeError("IMAP went away")

    done = threading.Event()
    pool.submit(Priority.LIVE, broken)
    pool.submit(Priority.LIVE, done.set)
    wait_until(done.is_set, message="the next task ran")


def test_stop_drops_queued_work_and_refuses_new_work(pools: list[PriorityPool]) -> None:
    pool = PriorityPool(1, name="test-stop")
    gate = threading.Event()
    ran: list[str] = []
    pool.submit(Priority.ROUTINE, gate.wait, 10)
    wait_until(lambda: pool.busy() == 1, message="the worker busy")
    pool.submit(Priority.LIVE, ran.append, "queued")
    pool.stop(timeout=0.1)
    assert pool.queued() == 0
    pool.submit(Priority.LIVE, ran.append, "after stop")
    assert pool.queued() == 0
    gate.set()
    wait_until(lambda: pool.busy() == 0, message="the running task ended")
    assert ran == []
