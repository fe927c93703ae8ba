"""The in-process scheduler: one sync job per active mailbox, plus periodic follow-ups.

Each mailbox has its own job (max one instance at a time), so a mailbox whose server hangs
only ever ties up its own worker thread until its IMAP timeout, never anyone else's poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, interval_seconds: int, *, workers: int = 10) -> None:
        self.interval = interval_seconds
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone=UTC,
        )

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

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
            _guarded(job_id, func),
            "interval",
            seconds=seconds,
            args=args,
            id=job_id,
            replace_existing=True,
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_in),
        )

    def once(self, job_id: str, func: Callable[..., Any], *args: Any, delay: float = 0.0) -> None:
        self._scheduler.add_job(
            _guarded(job_id, func),
            "date",
            args=args,
            id=job_id,
            replace_existing=True,
            run_date=datetime.now(UTC) + timedelta(seconds=delay),
        )

    def remove(self, job_id: str) -> None:
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


def _guarded(job_id: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """No exception escapes into APScheduler: a job failure is logged and the job lives on."""

    def run(*args: Any) -> Any:
        try:
            return func(*args)
        except Exception:
            log.exception("scheduled job %s failed", job_id)
            return None

    run.__name__ = f"job_{job_id}"
    return run
