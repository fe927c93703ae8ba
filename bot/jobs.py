"""Work a click or a thread reply starts, taken to the worker that owns the mailbox.

The work items are rows we already keep durably (a thread message in ``reply_inbox``, a
reply in ``messages`` with state PENDING_SEND/SENDING); what travels between processes is
only a wake-up: PostgreSQL ``NOTIFY mailroom_jobs`` after the row is committed. Each worker
LISTENs on a connection of its own and, on a wake-up (and every heartbeat, for a wake-up
lost while it was reconnecting), picks up the rows of the mailboxes it holds. Exactly once
comes from the rows, not from the wake-up: a thread message is recorded as a reply in the
same transaction that closes its inbox row (conditional update), a reply is claimed
PENDING_SEND -> SENDING with a conditional update fenced on the mailbox's lease.

"Sync now" is not durable (a lost one is replaced by the next poll or push): the wake-up
``sync:<id>`` reaches every worker and the owner runs it.

On SQLite (one process) and in a process with the scheduler off, everything runs here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from bot.ownership import NOTIFY_CHANNEL, LeaseLost, notify_others

if TYPE_CHECKING:
    from sqlmodel import Session

    from bot.core import Core
    from bot.ownership import Ownership

log = logging.getLogger(__name__)

LISTEN_RETRY_SECONDS = 1.0


class SyncsHere(Protocol):
    """The sync service as jobs sees it: run a sync of one mailbox in this process."""

    def sync_here(self, mailbox_id: int) -> None: ...


class RepliesHere(Protocol):
    """The reply service as jobs sees it: handle thread messages and waiting replies."""

    def handle_thread_message(self, inbox_id: int) -> object: ...

    def recover(self, *, mine: Callable[[int], bool], sending_stale: timedelta) -> object: ...


class Jobs:
    """Where a mailbox's work runs: here, or in the worker holding its lease (woken up)."""

    def __init__(self, ctx: Core, ownership: Ownership) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.ownership = ownership
        self.role = settings.mailroom_role
        # Several processes share the work only on PostgreSQL, with the scheduler on.
        self.coordinating = not settings.is_sqlite and settings.mailroom_scheduler == "on"

    @property
    def works_here(self) -> bool:
        return self.role != "web"

    def runs_here(self, mailbox_id: int, wake: str) -> bool:
        """Whether this process does the mailbox's work now; if not, its worker is woken
        up with ``wake`` (``"replies"``, ``"sync:<id>"``) to do it."""
        if self._here(mailbox_id):
            return True
        self.notify(wake)
        return False

    def sends_here(self, mailbox_id: int) -> bool:
        """Whether this process sends the mailbox's replies now; if not, its worker is
        woken up to do it."""
        return self.runs_here(mailbox_id, "replies")

    def fence_send(self, session: Session, mailbox_id: int) -> bool:
        """Inside the PENDING_SEND -> SENDING claim: False when another worker holds the
        mailbox now (its pickup sends the reply)."""
        if not self.coordinating:
            return True
        try:
            self.ownership.fence(session, mailbox_id)
        except LeaseLost:
            return False
        return True

    def notify(self, payload: str) -> None:
        try:
            notify_others(self.ctx, payload)
        except Exception:
            # The rows are durable: the owner's next heartbeat pickup finds them anyway.
            log.warning(
                "could not wake the workers (%s); they pick it up within a heartbeat", payload
            )

    def _here(self, mailbox_id: int) -> bool:
        if not self.coordinating:
            return True  # SQLite, or a process with the scheduler off: all work is local
        if not self.works_here:
            return False
        ownership = self.ownership
        return ownership.holds(mailbox_id) or ownership.try_claim(mailbox_id)


class JobWorker:
    """The worker side: listens for wake-ups and picks up the waiting work of the
    mailboxes this process holds, through the services that do it."""

    def __init__(self, ctx: Core, jobs: Jobs, sync: SyncsHere, replies: RepliesHere) -> None:
        self.ctx = ctx
        self.jobs = jobs
        self.ownership = jobs.ownership
        self.sync = sync
        self.replies = replies
        settings = ctx.settings
        # A reply left SENDING by another worker is re-checked only after it surely stopped:
        # its lease ran out and any SMTP conversation it had would have timed out.
        self.sending_stale = timedelta(
            seconds=settings.mailroom_lease_seconds + 3 * settings.smtp_timeout_seconds
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wanted = threading.Event()  # a pickup is wanted now (wake-ups coalesce)

    def start(self) -> None:
        """Listen for wake-ups and pick up waiting work every heartbeat."""
        jobs = self.jobs
        if not jobs.coordinating or not jobs.works_here or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._listen, name="jobs-listen", daemon=True)
        self._thread.start()
        self._wanted.set()  # the first pickup at once: what earlier processes left waiting
        threading.Thread(target=self._pick_up, name="jobs-pickup", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        self._wanted.set()

    # --- Worker side ------------------------------------------------------------------------

    def pickup(self) -> None:
        """Handle the waiting thread messages and replies of the mailboxes held here."""
        if self.jobs.works_here:
            self.replies.recover(mine=self.ownership.holds, sending_stale=self.sending_stale)

    def _pick_up(self) -> None:
        """One pickup at a time: at every wake-up (several during a run become one more
        run) and at least every heartbeat."""
        while not self._stopping.is_set():
            self._wanted.wait(self.ctx.settings.mailroom_heartbeat_seconds)
            self._wanted.clear()
            if self._stopping.is_set():
                return
            try:
                self.pickup()
            except Exception:
                log.exception("picking up waiting replies failed")

    def _listen(self) -> None:
        import psycopg

        url = self.ctx.settings.resolved_database_url.replace(
            "postgresql+psycopg://", "postgresql://"
        )
        while not self._stopping.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    log.info("listening for work on PostgreSQL channel %s", NOTIFY_CHANNEL)
                    self._on_notify("replies")  # whatever was announced while we were away
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._on_notify(note.payload)
            except Exception as exc:
                log.warning(
                    "jobs listener lost its connection (%s); reconnecting", type(exc).__name__
                )
                time.sleep(LISTEN_RETRY_SECONDS)

    def _on_notify(self, payload: str) -> None:
        if payload == "rebalance":
            self.ownership.nudge()
        elif payload == "replies":
            self._wanted.set()
        elif payload.startswith("sync:") and payload[5:].isdigit():
            mailbox_id = int(payload[5:])
            if self.ownership.holds(mailbox_id):
                self.sync.sync_here(mailbox_id)
