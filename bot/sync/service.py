"""The sync loop: which mailbox syncs where and when, and each folder brought up to date.

Per folder we keep UIDVALIDITY, the last UID seen and HIGHESTMODSEQ. A poll with no new mail
is LOGIN + SELECT-free STATUS per folder: a constant number of round trips however large the
mailbox. New mail is fetched in bounded chunks, recorded (``bot.sync.recording``), then posted
(``bot.sync.posting``); the outcome of a run counts into the mailbox's health
(``bot.sync.health``).

Only the worker holding a mailbox's lease (``bot.ownership``) syncs it, one run at a time, and
every write of the run is fenced on that lease: a worker that lost it writes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select

from bot.metrics import observe_sync
from bot.ownership import LeaseLost
from bot.sync.health import FailureNotifier, HealthTracker
from bot.sync.posting import Poster
from bot.sync.recording import IngestHook, PostFilter, Recorder, chunks, parse
from bot.sync.set_aside import SetAside
from locales import _
from providers.errors import MailroomError, ServiceError
from providers.imap import FolderStatus, ImapSession
from storage.models import FolderState, Mailbox, Message, MessageState, saved_id

if TYPE_CHECKING:
    from bot.core import Core
    from bot.jobs import Jobs
    from bot.ownership import Ownership

log = logging.getLogger(__name__)


@dataclass
class SyncResult:
    mailbox_id: int
    ran: bool = False
    new: int = 0
    posted: int = 0
    error: str | None = None


class SyncService:
    """The sync's entry points, one run at a time per mailbox, and the folder loop; recording,
    posting, set-aside mail and health are its collaborators (``recorder``, ``poster``,
    ``set_aside``, ``health``)."""

    def __init__(self, ctx: Core, ownership: Ownership, jobs: Jobs) -> None:
        self.ctx = ctx
        # Only the worker holding a mailbox's lease syncs it; every write is fenced on it.
        self.ownership = ownership
        # Where "Sync now" goes: here, or woken up on the worker that holds the mailbox.
        self.jobs = jobs
        # Where features plug in (bot/features.py); the collaborators below read these lists.
        self.post_filters: list[PostFilter] = []
        self.ingest_hooks: list[IngestHook] = []
        self.failure_notifiers: list[FailureNotifier] = []
        # The jobs of a sync, each in its module: mail set aside, recording, posting, health.
        self.set_aside = SetAside(ctx, self.sync_now)
        self.recorder = Recorder(
            ctx, ownership, self.set_aside, self.post_filters, self.ingest_hooks
        )
        self.poster = Poster(ctx, ownership, self.set_aside)
        # Also called by the push engine (bot.push), which runs syncs of its own.
        self.health = HealthTracker(ctx, self.failure_notifiers)
        self._local = threading.Lock()
        self._running: set[int] = set()
        # Which mailbox this thread is claiming from inside a run (see claiming_in_run).
        self._claiming_in_run = threading.local()
        # The push engine (bot.push) takes over mailboxes it keeps live: given a mailbox id,
        # it returns True when it will sync that mailbox over its persistent connection.
        self.delegate: Callable[[int], bool] | None = None

    # --- Entry points ---------------------------------------------------------------------

    def run(self, mailbox_id: int) -> SyncResult:
        """One sync of one mailbox; never raises (the scheduler's job body)."""
        result = SyncResult(mailbox_id)
        if self.delegate is not None and self.delegate(mailbox_id):
            return result
        if not self._acquire(mailbox_id):
            return result
        try:
            mailbox = self.ctx.mailboxes.get(mailbox_id)
            if mailbox is None or not mailbox.active:
                return result
            result.ran = True
            started = time.monotonic()
            try:
                result.new, result.posted = self._sync(mailbox)
                observe_sync(self.ctx.metrics, time.monotonic() - started)
            except LeaseLost:
                # Another worker holds this mailbox now (we were frozen or cut off): it
                # syncs it; nothing of ours was written.
                log.warning(
                    "mailbox %s: lease lost during a sync; left to its new owner", mailbox_id
                )
                self.ownership.lost(mailbox_id)
                result.ran = False
                return result
            except MailroomError as exc:
                result.error = exc.message
                self.health.on_failure(mailbox, exc)
                return result
            except Exception as exc:  # a bug or an unclassified library error
                log.exception("sync of mailbox %s failed", mailbox_id)
                result.error = _("Mailroom hit an unexpected error while syncing.")
                self.health.on_failure(
                    mailbox,
                    ServiceError(
                        _("Mailroom hit an unexpected error while syncing. ({error})").format(
                            error=type(exc).__name__
                        )
                    ),
                )
                return result
            self.health.on_success(mailbox, result.new)
            return result
        finally:
            self._release(mailbox_id)

    def sync_now(self, mailbox_id: int) -> None:
        """Sync soon, wherever the mailbox is owned (bot.jobs wakes that worker)."""
        if self.jobs.runs_here(mailbox_id, f"sync:{mailbox_id}"):
            self.sync_here(mailbox_id)

    def sync_here(self, mailbox_id: int) -> None:
        self.ctx.scheduler.once(f"syncnow:{mailbox_id}", self.run, mailbox_id)

    def retry_failed(self, message_row_id: int, user_id: str) -> str | None:
        """The Retry button of a set-aside mail (bot.sync.set_aside). Returns a refusal, or
        None when queued."""
        return self.set_aside.retry(message_row_id, user_id)

    def clear_stale_leases(self) -> None:
        """Embedded mode: one process owns the SQLite file, so earlier leases are void."""
        with self.ctx.db.session() as session:
            session.exec(update(Mailbox).values(sync_lease_until=None, lease_owner=None))

    # --- One run at a time per mailbox (threads and processes) -----------------------------

    def _acquire(self, mailbox_id: int) -> bool:
        """Only the worker holding the mailbox's lease (bot.ownership) syncs it, one run at a
        time; a mailbox nobody holds yet (just connected) is claimed here when our share
        allows. Every write of the run is fenced on the lease's epoch (``Ownership.fence``)."""
        ownership = self.ownership
        if not ownership.holds(mailbox_id):
            self._claiming_in_run.mailbox_id = mailbox_id
            try:
                if not ownership.try_claim(mailbox_id):
                    return False
            finally:
                self._claiming_in_run.mailbox_id = None
        with self._local:
            if mailbox_id in self._running:
                return False
            self._running.add(mailbox_id)
        return True

    def claiming_in_run(self, mailbox_id: int) -> bool:
        """True while this thread's run is claiming the mailbox (its poll is already due)."""
        return getattr(self._claiming_in_run, "mailbox_id", None) == mailbox_id

    def _release(self, mailbox_id: int) -> None:
        with self._local:
            self._running.discard(mailbox_id)

    # --- The sync itself ------------------------------------------------------------------

    def _sync(self, mailbox: Mailbox) -> tuple[int, int]:
        with ImapSession(self.ctx.mailboxes.imap_settings(mailbox)) as imap:
            # Finish what a previous run (or a crashed process) recorded but did not post.
            return self.sync_folders(mailbox, imap, finish_pending=True)

    def sync_folders(
        self,
        mailbox: Mailbox,
        imap: ImapSession,
        roles: Collection[str] = ("inbox", "sent"),
        *,
        finish_pending: bool = False,
        pushed: bool = False,
    ) -> tuple[int, int]:
        """Sync the folders of ``mailbox`` with these roles over an already-open session
        (a poll's own session, or the push engine's persistent connection); returns
        (new, posted). ``pushed``: the server just announced new INBOX mail during IDLE.

        The caller holds the mailbox's lease (``_acquire``) and reports the outcome
        (``health``)."""
        posted = self.poster.post_pending(mailbox, imap) if finish_pending else 0
        new = 0
        for folder, role in self._folders(mailbox, imap):
            if role in roles:
                added, folder_posted = self.sync_folder(
                    mailbox, imap, folder, role, pushed=pushed and role == "inbox"
                )
                new += added
                posted += folder_posted
        return new, posted

    def _folders(self, mailbox: Mailbox, imap: ImapSession) -> list[tuple[str, str]]:
        folders = [("INBOX", "inbox")]
        with self.ctx.db.session() as session:
            known = session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox.id, FolderState.role == "sent"
                )
            ).first()
        sent = known.folder if known else imap.find_sent_folder()
        if sent and sent.upper() != "INBOX":
            folders.append((sent, "sent"))
        return folders

    def sync_folder(
        self, mailbox: Mailbox, imap: ImapSession, folder: str, role: str, *, pushed: bool = False
    ) -> tuple[int, int]:
        """Bring one folder of a mailbox up to date over an open IMAP session.

        ``role`` is "inbox" or "sent". Returns (mails recorded, mails posted). Raises
        MailroomError for a mailbox-level failure (server, Slack channel); a single bad
        mail is set aside instead (see bot.sync.set_aside). The caller holds the
        mailbox's sync lease (``run``) or otherwise makes sure one sync runs at a time.
        """
        if pushed:
            done = self._sync_pushed(mailbox, imap, folder, role)
            if done is not None:
                return done
        status = imap.status(folder)
        new, posted = self._retry_unrecorded(mailbox, imap, folder, role, status.uidvalidity)
        added, added_posted = self._sync_new(mailbox, imap, folder, role, status)
        return new + added, posted + added_posted

    def _sync_pushed(
        self, mailbox: Mailbox, imap: ImapSession, folder: str, role: str
    ) -> tuple[int, int] | None:
        """New mail announced during IDLE on ``folder``: the view IDLE kept is current and
        the EXISTS already said there is news, so skip STATUS and search after the cursor.
        None when that shortcut does not apply (no cursor yet, UIDVALIDITY changed, the
        folder not just out of IDLE): the caller takes the ordinary path."""
        uidvalidity = imap.idle_view_uidvalidity(folder)
        if uidvalidity is None:
            return None
        with self.ctx.db.session() as session:
            state = session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox.id, FolderState.folder == folder
                )
            ).first()
        if state is None or state.uidvalidity != uidvalidity:
            return None
        new, posted = self._retry_unrecorded(mailbox, imap, folder, role, uidvalidity)
        uids = imap.uids_after(folder, state.last_uid)
        added, added_posted = self._fetch_new(mailbox, imap, folder, role, uidvalidity, uids)
        return new + added, posted + added_posted

    def _sync_new(
        self, mailbox: Mailbox, imap: ImapSession, folder: str, role: str, status: FolderStatus
    ) -> tuple[int, int]:
        with self.ctx.db.session() as session:
            state = session.exec(
                select(FolderState).where(
                    FolderState.mailbox_id == mailbox.id, FolderState.folder == folder
                )
            ).first()
            if state is None:
                state = FolderState(mailbox_id=saved_id(mailbox), folder=folder, role=role)
            first_run = state.uidvalidity is None
            reset = not first_run and state.uidvalidity != status.uidvalidity
            if not first_run and not reset and status.uidnext - 1 <= state.last_uid:
                if status.highestmodseq is not None and state.highestmodseq != status.highestmodseq:
                    self.ownership.fence(session, saved_id(mailbox))
                    state.highestmodseq = status.highestmodseq
                    session.add(state)
                # Nothing new: the common, constant-cost case. It writes nothing, so it takes
                # no fence: on PostgreSQL the fence is a row write, and a read-only
                # transaction commits without waiting for the disk (every connect and
                # backstop of thousands of mailboxes comes here).
                return 0, 0
            # Everything below writes the cursor: only while we hold the lease.
            self.ownership.fence(session, saved_id(mailbox))
            previous_sync = mailbox.last_success_at
            state.uidvalidity = status.uidvalidity
            state.highestmodseq = status.highestmodseq
            if first_run and mailbox.backfill_days <= 0:
                # Start from now: existing mail stays in the mailbox, not in Slack.
                state.last_uid = status.uidnext - 1
                session.add(state)
                return 0, 0
            if reset:
                log.warning("UIDVALIDITY of %s/%s changed: rescanning", mailbox.id, folder)
                state.last_uid = 0
                # Placeholders point at void UIDs; the rescan reads those mails afresh.
                session.exec(
                    update(Message)
                    .where(
                        col(Message.mailbox_id) == mailbox.id,
                        col(Message.folder) == folder,
                        col(Message.state) == MessageState.RECORD_RETRY,
                    )
                    .values(
                        state=MessageState.SKIPPED, error=_("Its UID was voided by the server.")
                    )
                )
            session.add(state)
        if first_run:
            uids = imap.uids_since(folder, date.today() - timedelta(days=mailbox.backfill_days))
        elif reset:
            # Every saved UID is void. Re-read what arrived since the last good sync (with a
            # margin); mails we already know (same Message-ID and content) are matched and
            # relocated, not posted again.
            since = (previous_sync or mailbox.created_at).date() - timedelta(days=2)
            uids = imap.uids_since(folder, since)
        else:
            uids = imap.uids_after(folder, state.last_uid)
        return self._fetch_new(mailbox, imap, folder, role, status.uidvalidity, uids)

    def _fetch_new(
        self,
        mailbox: Mailbox,
        imap: ImapSession,
        folder: str,
        role: str,
        uidvalidity: int,
        uids: list[int],
    ) -> tuple[int, int]:
        """Fetch, record (moving the cursor) and post these mails; (recorded, posted)."""
        new = posted = 0
        for chunk in chunks(imap.fetch(folder, uids)):
            for row, parsed in self.recorder.record(mailbox, folder, role, uidvalidity, chunk):
                new += 1
                if row.state == MessageState.PENDING_POST:
                    posted += self.poster.post_isolated(mailbox, row, parsed)
        return new, posted

    def _retry_unrecorded(
        self, mailbox: Mailbox, imap: ImapSession, folder: str, role: str, uidvalidity: int
    ) -> tuple[int, int]:
        """Try again, by folder + UID, the mails whose recording failed on an earlier run."""
        with self.ctx.db.session() as session:
            rows = session.exec(
                select(Message).where(
                    Message.mailbox_id == mailbox.id,
                    Message.folder == folder,
                    Message.uidvalidity == uidvalidity,
                    Message.state == MessageState.RECORD_RETRY,
                )
            ).all()
        if not rows:
            return 0, 0
        wanted = {row.uid for row in rows if row.uid is not None}
        new = posted = 0
        for fetched in imap.fetch(folder, sorted(wanted)):
            wanted.discard(fetched.uid)
            parsed = parse(self.ctx.settings, fetched.raw)
            row = self.recorder.record_alone(mailbox, folder, role, uidvalidity, fetched, parsed)
            if row is None:
                continue
            self.recorder.run_ingest_hooks(mailbox, [(row, parsed)])
            new += 1
            if row.state == MessageState.PENDING_POST:
                posted += self.poster.post_isolated(mailbox, row, parsed)
        if wanted:
            # Deleted from the server before it could be recorded: nothing left to show.
            with self.ctx.db.session() as session:
                session.exec(
                    update(Message)
                    .where(
                        col(Message.mailbox_id) == mailbox.id,
                        col(Message.folder) == folder,
                        col(Message.uidvalidity) == uidvalidity,
                        col(Message.uid).in_(wanted),
                        col(Message.state) == MessageState.RECORD_RETRY,
                    )
                    .values(state=MessageState.SKIPPED, error=_("Gone from the mailbox."))
                )
        return new, posted
