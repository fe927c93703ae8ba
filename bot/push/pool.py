"""A bounded pool of worker threads with three priorities: live mail, Sent, backfill.

Work is taken from the highest non-empty priority first. Backfill (a mailbox's first sync
of up to 30 days of mail) may hold at most half of the workers, so new mail on an idle
mailbox never waits behind someone else's backfill however many start at once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from enum import IntEnum
from typing import Any

log = logging.getLogger(__name__)


class Priority(IntEnum):
    LIVE = 0  # a push (EXISTS) or a reply's Sent check: someone is waiting for it
    ROUTINE = 1  # connects, Sent polls, backstop checks, keep-alives
    BACKFILL = 2  # first syncs that bring in existing mail


class PriorityPool:
    def __init__(self, size: int, *, name: str = "push-worker") -> None:
        self.size = size
        self.backfill_cap = max(1, size // 2)
        self._queues: tuple[deque[tuple[Callable[..., Any], tuple[Any, ...]]], ...] = tuple(
            deque() for _ in Priority
        )
        self._cond = threading.Condition()
        self._running_backfill = 0
        self._busy = 0
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
            for n in range(size)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, priority: Priority, func: Callable[..., Any], *args: Any) -> None:
        with self._cond:
            if self._stopping:
                return
            self._queues[priority].append((func, args))
            self._cond.notify()

    def queued(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues)

    def busy(self) -> int:
        with self._cond:
            return self._busy

    def stop(self, timeout: float = 1.0) -> None:
        """Drop queued work and let the threads end; does not wait for running work
        longer than ``timeout`` (its connections are being closed underneath it)."""
        with self._cond:
            self._stopping = True
            for queue in self._queues:
                queue.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout / max(1, len(self._threads)))

    def _take(self) -> tuple[Priority, Callable[..., Any], tuple[Any, ...]] | None:
        """Next task (caller holds the condition), or None when nothing may run now."""
        for priority in Priority:
            queue = self._queues[priority]
            if not queue:
                continue
            if priority == Priority.BACKFILL and self._running_backfill >= self.backfill_cap:
                continue
            func, args = queue.popleft()
            return priority, func, args
        return None

    def _work(self) -> None:
        while True:
            with self._cond:
                task = self._take()
                while task is None and not self._stopping:
                    self._cond.wait()
                    task = self._take()
                if task is None:
                    return
                priority, func, args = task
                self._busy += 1
                if priority == Priority.BACKFILL:
                    self._running_backfill += 1
            try:
                func(*args)
            except Exception:
                log.exception("push task %s failed", getattr(func, "__name__", func))
            finally:
                with self._cond:
                    self._busy -= 1
                    if priority == Priority.BACKFILL:
                        self._running_backfill -= 1
                        self._cond.notify()
