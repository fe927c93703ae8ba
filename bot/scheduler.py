"""The in-process scheduler: one sync job per active mailbox, plus periodic follow-ups.

APScheduler only keeps time: when a job is due it hands the run to our worker pool, where
each job has at most one run queued or running. A run that falls due meanwhile is owed and
queued again once the current one ends, so a poll is late when the pool is busy or its
previous run is slow, never skipped; several due runs in that time become one. A mailbox
whose server hangs only ever ties up one worker until its IMAP timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor as ApsThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, interval_seconds: int, *, workers: int = 10) -> None:
        self.interval = interval_seconds
        self._scheduler = BackgroundScheduler(
            # The APScheduler side only hands runs over (microseconds), so two threads do;
            # no grace limit and no instance limit there, so it never drops a due run.
            executors={"default": ApsThreadPoolExecutor(2)},
            job_defaults={"coalesce": True, "max_instances": 1000, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._workers = ThreadPoolExecutor(workers, thread_name_prefix="mailroom-job")
        self._lock = threading.Lock()
        self._queued: set[str] = set()  # queued or running in the pool
        self._owed: set[str] = set()  # fell due while queued or running: run once more

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._workers.shutdown(wait=False, cancel_futures=True)

    def every(
        self,
        job_id: str,
        seconds: float,
        func: Callable[..., Any],
        *args: Any,
        first_in: float = 0.5,
    ) -> None:
        """Run ``func`` every ``seconds``, first after ``first_in`` (replaces a same-id job)."""
        self._scheduler.add_job(
            self._due,
            "interval",
            seconds=seconds,
            args=(job_id, func, *args),
            id=job_id,
            name=f"job_{job_id}",
            replace_existing=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_in),
        )

    def once(self, job_id: str, func: Callable[..., Any], *args: Any, delay: float = 0.0) -> None:
        self._scheduler.add_job(
            self._due,
            "date",
            args=(job_id, func, *args),
            id=job_id,
            name=f"job_{job_id}",
            replace_existing=True,
            run_date=datetime.now(UTC) + timedelta(seconds=delay),
        )

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._owed.discard(job_id)  # an unscheduled mailbox is not polled once more
        if self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)

    def has(self, job_id: str) -> bool:
        return self._scheduler.get_job(job_id) is not None

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    # --- Mailbox sync jobs ----------------------------------------------------------------

    def schedule_sync(
        self, mailbox_id: int, func: Callable[[int], Any], *, first_in: float = 0.5
    ) -> None:
        self.every(f"sync:{mailbox_id}", self.interval, func, mailbox_id, first_in=first_in)

    def unschedule_sync(self, mailbox_id: int) -> None:
        self.remove(f"sync:{mailbox_id}")

    # --- Running ---------------------------------------------------------------------------

    def _due(self, job_id: str, func: Callable[..., Any], *args: Any) -> None:
        """APScheduler says the job is due: queue one run, or owe one if it is already in."""
        with self._lock:
            if job_id in self._queued:
                self._owed.add(job_id)
                log.debug("job %s is due while its previous run is not done: runs after it", job_id)
                return
            self._queued.add(job_id)
        self._submit(job_id, func, args)

    def _submit(self, job_id: str, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._workers.submit(self._run, job_id, func, args)
        except RuntimeError:  # the pool is shut down: the process is stopping
            with self._lock:
                self._queued.discard(job_id)

    def _run(self, job_id: str, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            _guarded(job_id, func)(*args)
        finally:
            with self._lock:
                again = job_id in self._owed
                self._owed.discard(job_id)
                if not again:
                    self._queued.discard(job_id)
            if again:
                # To the back of the queue: other jobs waiting for a worker go first.
                self._submit(job_id, func, args)


def _guarded(job_id: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """No exception escapes into the pool: a job failure is logged and the job lives on."""

    def run(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception:
            log.exception("scheduled job %s failed", job_id)
            return None

    run.__name__ = f"job_{job_id}"
    return run
