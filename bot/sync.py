"""Incremental inbox sync: IMAP → database → Slack threads, exactly once.

Per folder we keep UIDVALIDITY, the last UID seen and HIGHESTMODSEQ. A poll with no new mail
is LOGIN + SELECT-free STATUS per folder: a constant number of round trips however large the
mailbox. Each new mail is recorded (with the cursor moved past it) in one transaction before
it is posted, and the post is reconciled against Slack after a crash, so a kill at any
moment neither loses nor doubles a message.

A mail is identified by where it lives (mailbox, folder, UIDVALIDITY, UID), never by its
Message-ID alone: broken mailers reuse ids. The Message-ID threads mail, and with the content
hash recognises the very same mail seen in two folders (INBOX and Sent / All Mail).

One mail never stalls its mailbox: a mail that cannot be recorded or posted is tried again
on the next syncs while the cursor moves on, and after ``mail_max_failures`` tries it is set
aside with a notice (and a Retry button) in its channel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.blocks.email import (
    email_post_blocks,
    mail_failure_admin_text,
    mail_failure_blocks,
    plain_fallback_text,
    sync_failure_blocks,
    sync_recovered_text,
)
from bot.email_access import show_full_reference
from bot.formatting.inbound import Attachment, InboundEmail, ParseLimits, parse_email
from bot.mailboxes import MAILBOX_REMOVED, health_after
from bot.metrics import observe_post, observe_sync
from bot.ownership import LeaseLost
from bot.replies import is_new_sender
from bot.roles import who_fixes
from bot.threads import find_conversation
from locales import _, speaking
from providers.errors import MailroomError, ServiceError
from providers.imap import FetchedMessage, FolderStatus, ImapSession
from storage.models import (
    Conversation,
    FolderState,
    Health,
    Mailbox,
    Message,
    MessageState,
    Notification,
    saved_id,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core
    from bot.jobs import Jobs
    from bot.ownership import Ownership

log = logging.getLogger(__name__)

SLACK_METADATA_EVENT = "mailroom_email"
# Slack errors about one message's content (not the channel): retried as plain text.
MESSAGE_LEVEL_ERRORS = {
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "no_text",
}
# Slack errors about the channel, the token or Slack itself, not one mail: the mailbox's
# sync fails (and is retried as a whole) instead of the mail being set aside.
MAILBOX_LEVEL_ERRORS = {
    "account_inactive",
    "channel_not_found",
    "ekm_access_denied",
    "fatal_error",
    "internal_error",
    "invalid_auth",
    "is_archived",
    "missing_scope",
    "no_permission",
    "not_authed",
    "not_in_channel",
    "org_login_required",
    "rate_limited",
    "ratelimited",
    "request_timeout",
    "restricted_action",
    "service_unavailable",
    "team_access_not_granted",
    "team_not_found",
    "token_expired",
    "token_revoked",
}
# Health states that need a person at once, not after a few tries.
IMMEDIATE_HEALTH = {Health.RECONNECT_NEEDED, Health.ADMIN_APPROVAL_NEEDED}


class MailFailure(Exception):
    """One mail cannot be recorded or shown; the mailbox's other mail can."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class SyncResult:
    mailbox_id: int
    ran: bool = False
    new: int = 0
    posted: int = 0
    error: str | None = None


# (mailbox, parsed mail, folder role) -> False to record the mail without posting it.
PostFilter = Callable[[Mailbox, InboundEmail, str], bool]
# Called after a mail is recorded (posted or not): activity tracking and the like.
IngestHook = Callable[[Mailbox, Message, InboundEmail], None]
# Tells someone about a failing mailbox in its own way (consent link, admin alert...);
# returns True when it handled the notification, so the generic one is not sent.
FailureNotifier = Callable[[Mailbox, MailroomError], bool]


class SyncService:
    def __init__(self, ctx: Core, ownership: Ownership, jobs: Jobs) -> None:
        self.ctx = ctx
        # Only the worker holding a mailbox's lease syncs it; every write is fenced on it.
        self.ownership = ownership
        # Where "Sync now" goes: here, or woken up on the worker that holds the mailbox.
        self.jobs = jobs
        self.post_filters: list[PostFilter] = []
        self.ingest_hooks: list[IngestHook] = []
        self.failure_notifiers: list[FailureNotifier] = []
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
                self._on_failure(mailbox, exc)
                return result
            except Exception as exc:  # a bug or an unclassified library error
                log.exception("sync of mailbox %s failed", mailbox_id)
                result.error = _("Mailroom hit an unexpected error while syncing.")
                self._on_failure(
                    mailbox,
                    ServiceError(
                        _("Mailroom hit an unexpected error while syncing. ({error})").format(
                            error=type(exc).__name__
                        )
                    ),
                )
                return result
            self._on_success(mailbox, result.new)
            return result
        finally:
            self._release(mailbox_id)

    def sync_now(self, mailbox_id: int) -> None:
        """Sync soon, wherever the mailbox is owned (bot.jobs routes it to that worker)."""
        self.jobs.sync_now(mailbox_id)

    def sync_here(self, mailbox_id: int) -> None:
        self.ctx.scheduler.once(f"syncnow:{mailbox_id}", self.run, mailbox_id)

    def clear_stale_leases(self) -> None:
        """Embedded mode: one process owns the SQLite file, so earlier leases are void."""
        with self.ctx.db.session() as session:
            session.exec(update(Mailbox).values(sync_lease_until=None, lease_owner=None))

    # --- One run at a time per mailbox (threads and processes) -----------------------------

    def _acquire(self, mailbox_id: int) -> bool:
        """Only the worker holding the mailbox's lease (bot.ownership) syncs it, one run at a
        time; a mailbox nobody holds yet (just connected) is claimed here when our share
        allows. Every write of the run is fenced on the lease's epoch (``_fence``)."""
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

    def _fence(self, session: Session, mailbox_id: int | None) -> None:
        """Inside a write's transaction: raise LeaseLost unless we still hold the lease."""
        self.ownership.fence(session, mailbox_id)  # type: ignore[arg-type]

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

        The caller holds the mailbox's lease (``_acquire``) and reports the outcome."""
        posted = self.post_pending(mailbox, imap) if finish_pending else 0
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
        mail is set aside instead (see the module docstring). The caller holds the
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
                    self._fence(session, mailbox.id)
                    state.highestmodseq = status.highestmodseq
                    session.add(state)
                # Nothing new: the common, constant-cost case. It writes nothing, so it takes
                # no fence: on PostgreSQL the fence is a row write, and a read-only
                # transaction commits without waiting for the disk (every connect and
                # backstop of thousands of mailboxes comes here).
                return 0, 0
            # Everything below writes the cursor: only while we hold the lease.
            self._fence(session, mailbox.id)
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
        for chunk in _chunks(imap.fetch(folder, uids)):
            for row, parsed in self._record(mailbox, folder, role, uidvalidity, chunk):
                new += 1
                if row.state == MessageState.PENDING_POST:
                    posted += self._post_isolated(mailbox, row, parsed)
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
            parsed = self.parse(fetched.raw)
            row = self._record_alone(mailbox, folder, role, uidvalidity, fetched, parsed)
            if row is None:
                continue
            self._run_ingest_hooks(mailbox, [(row, parsed)])
            new += 1
            if row.state == MessageState.PENDING_POST:
                posted += self._post_isolated(mailbox, row, parsed)
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

    def parse(self, raw: bytes) -> InboundEmail:
        """Parse one mail within this deployment's limits (files, sizes, text)."""
        settings = self.ctx.settings
        return parse_email(
            raw,
            ParseLimits(
                attachment_max_bytes=settings.attachment_max_bytes,
                max_files=settings.attachment_max_count,
                body_max_chars=settings.body_max_chars,
            ),
        )

    # --- Recording intent ------------------------------------------------------------------

    def _record(
        self,
        mailbox: Mailbox,
        folder: str,
        role: str,
        uidvalidity: int,
        chunk: list[FetchedMessage],
    ) -> list[tuple[Message, InboundEmail]]:
        """Record a chunk of fetched mail and move the cursor past it.

        Parsing happens before any transaction opens. The chunk is first recorded in one
        transaction (one commit per chunk instead of per mail keeps a large backfill from
        being bound by the database); if that fails, each mail is recorded on its own, so
        one bad mail is set aside (see ``_note_record_failure``) and the rest go through.
        """
        parsed_chunk = [(fetched, self.parse(fetched.raw)) for fetched in chunk]
        try:
            recorded = self._record_together(mailbox, folder, role, uidvalidity, parsed_chunk)
        except LeaseLost:
            raise  # another worker holds the mailbox now: record nothing, one by one neither
        except Exception:
            log.warning(
                "recording %s mails of mailbox %s/%s together failed; one by one now",
                len(parsed_chunk),
                mailbox.id,
                folder,
                exc_info=True,
            )
            recorded = []
            for fetched, parsed in parsed_chunk:
                row = self._record_alone(mailbox, folder, role, uidvalidity, fetched, parsed)
                if row is not None:
                    recorded.append((row, parsed))
        self._run_ingest_hooks(mailbox, recorded)
        return recorded

    def _record_together(
        self,
        mailbox: Mailbox,
        folder: str,
        role: str,
        uidvalidity: int,
        parsed_chunk: list[tuple[FetchedMessage, InboundEmail]],
    ) -> list[tuple[Message, InboundEmail]]:
        recorded: list[tuple[Message, InboundEmail]] = []
        with self.ctx.db.session() as session:
            self._fence(session, mailbox.id)
            _advance_cursor(session, mailbox, folder, [fetched.uid for fetched, _ in parsed_chunk])
            for fetched, parsed in parsed_chunk:
                row = self._record_one(session, mailbox, folder, role, uidvalidity, fetched, parsed)
                if row is not None:
                    recorded.append((row, parsed))
        return recorded

    def _record_alone(
        self,
        mailbox: Mailbox,
        folder: str,
        role: str,
        uidvalidity: int,
        fetched: FetchedMessage,
        parsed: InboundEmail,
    ) -> Message | None:
        """Record one mail in its own transaction; a failure is noted, not raised."""
        try:
            with self.ctx.db.session() as session:
                self._fence(session, mailbox.id)
                _advance_cursor(session, mailbox, folder, [fetched.uid])
                return self._record_one(
                    session, mailbox, folder, role, uidvalidity, fetched, parsed
                )
        except LeaseLost:
            raise
        except Exception as exc:
            log.exception(
                "recording uid %s of mailbox %s/%s failed", fetched.uid, mailbox.id, folder
            )
            reason = _("Mailroom could not record it ({error}).").format(error=type(exc).__name__)
            self._note_record_failure(mailbox, folder, uidvalidity, fetched, parsed, reason)
            return None

    def _note_record_failure(
        self,
        mailbox: Mailbox,
        folder: str,
        uidvalidity: int,
        fetched: FetchedMessage,
        parsed: InboundEmail,
        reason: str,
    ) -> None:
        """Keep a placeholder for the mail (retried by folder + UID) and move the cursor past
        it. If even this fails (the database is down), the sync fails as a whole and the
        cursor stays: nothing is lost."""
        with self.ctx.db.session() as session:
            self._fence(session, mailbox.id)
            _advance_cursor(session, mailbox, folder, [fetched.uid])
            row = _at_location(session, mailbox, folder, uidvalidity, fetched.uid)
            if row is None:
                row = Message(
                    mailbox_id=mailbox.id,  # type: ignore[arg-type]
                    message_id=parsed.message_id,
                    direction="in",
                    folder=folder,
                    uidvalidity=uidvalidity,
                    uid=fetched.uid,
                    subject=parsed.subject,
                    from_address=parsed.from_address,
                    from_name=parsed.from_name,
                    sent_at=_aware_utc(parsed.date),
                    state=MessageState.RECORD_RETRY,
                    content_hash=parsed.content_hash,
                )
            elif row.state != MessageState.RECORD_RETRY:
                return
            row.attempts += 1
            row.failures += 1
            row.error = reason
            row.updated_at = utcnow()
            failed = row.failures >= self.ctx.settings.mail_max_failures
            if failed:
                row.state = MessageState.INGEST_FAILED
            session.add(row)
            session.flush()
        if failed:
            self._announce_failure(mailbox, row)

    def _run_ingest_hooks(
        self, mailbox: Mailbox, recorded: list[tuple[Message, InboundEmail]]
    ) -> None:
        for row, parsed in recorded:
            for hook in self.ingest_hooks:
                try:
                    hook(mailbox, row, parsed)
                except Exception:
                    log.exception("ingest hook failed for message %s", row.id)

    def _record_one(
        self,
        session: Session,
        mailbox: Mailbox,
        folder: str,
        role: str,
        uidvalidity: int,
        fetched: FetchedMessage,
        parsed: InboundEmail,
    ) -> Message | None:
        """Record one mail inside the caller's transaction; None when it is already known.

        Known means: this very place (folder, UIDVALIDITY, UID) is recorded, or the very same
        mail (same Message-ID and content) is recorded elsewhere. A different mail that
        reuses a known Message-ID is a new mail.
        """
        here = _at_location(session, mailbox, folder, uidvalidity, fetched.uid)
        if here is not None and here.state != MessageState.RECORD_RETRY:
            return None
        same = _same_mail(session, mailbox, folder, uidvalidity, fetched.uid, parsed)
        if same is not None:
            if same.folder is None or (same.folder == folder and same.uidvalidity != uidvalidity):
                # Our own reply appended to Sent, or a rescan after a UIDVALIDITY change:
                # remember where it lives now, post nothing.
                if here is not None:
                    session.delete(here)
                    session.flush()
                same.folder, same.uidvalidity, same.uid = folder, uidvalidity, fetched.uid
                session.add(same)
                return None
            # The same mail in a second folder (INBOX and Sent / All Mail): known by this
            # place too, so it is neither posted twice nor re-examined on every rescan.
            row = here or _new_row(mailbox, parsed, role)
            _describe(row, parsed, folder, uidvalidity, fetched.uid, role)
            row.state, row.body_text = MessageState.SKIPPED, None
            row.error = _("The same mail as message {id}.").format(id=same.id)
            session.add(row)
            return None
        conversation = find_conversation(
            session,
            mailbox.id,  # type: ignore[arg-type]
            parsed.in_reply_to,
            parsed.references,
        )
        wanted = all(accept(mailbox, parsed, role) for accept in self.post_filters)
        if conversation is None and role == "sent":
            # Mail sent from a mail client shows up in Slack only as an answer in a
            # thread we know; the rest of someone's Sent folder is not Slack's business.
            wanted = False
        if conversation is None and wanted:
            conversation = Conversation(
                mailbox_id=mailbox.id,  # type: ignore[arg-type]
                channel_id=mailbox.channel_id or "",
                subject=parsed.subject,
                customer_address=parsed.from_address,
                customer_name=parsed.from_name,
            )
            session.add(conversation)
            session.flush()
        row = here or _new_row(mailbox, parsed, role)
        _describe(row, parsed, folder, uidvalidity, fetched.uid, role)
        row.conversation_id = conversation.id if conversation else None
        row.state = (
            MessageState.PENDING_POST if wanted and mailbox.channel_id else MessageState.SKIPPED
        )
        row.failures, row.error = 0, None
        # Mail that is never posted keeps no body: nobody may read it from Slack.
        row.body_text = (
            parsed.text if row.state == MessageState.PENDING_POST else None
        )  # capped by ParseLimits.body_max_chars
        session.add(row)
        session.flush()
        if conversation is not None:
            conversation.last_message_at = utcnow()
            session.add(conversation)
        return row

    # --- Posting, reconciled ----------------------------------------------------------------

    def post_pending(self, mailbox: Mailbox, imap: ImapSession | None = None) -> int:
        with self.ctx.db.session() as session:
            rows = session.exec(
                select(Message)
                .where(Message.mailbox_id == mailbox.id, Message.state == MessageState.PENDING_POST)
                .order_by(col(Message.id))
            ).all()
        posted = 0
        for row in rows:
            parsed = self._reload(row, imap)
            posted += self._post_isolated(mailbox, row, parsed)
        self._announce_unannounced(mailbox)
        return posted

    def _reload(self, row: Message, imap: ImapSession | None) -> InboundEmail:
        if imap is not None and row.folder and row.uid:
            try:
                status = imap.status(row.folder)
                if status.uidvalidity == row.uidvalidity:
                    for fetched in imap.fetch(row.folder, [row.uid]):
                        return self.parse(fetched.raw)
            except MailroomError:
                log.info("could not re-fetch message %s; posting its stored text", row.id)
        # The mail is gone from the server: post what we recorded (without attachments).
        return self.parse(_minimal_raw(row))

    def _post_isolated(self, mailbox: Mailbox, row: Message, parsed: InboundEmail) -> int:
        """``_post``, where a failure of this one mail is counted instead of raised."""
        try:
            # The post is read by the mailbox's channel (DMs inside choose their reader's).
            with speaking(self.ctx.languages.of_channel(mailbox.channel_id)):
                return self._post(mailbox, row, parsed)
        except MailFailure as failure:
            log.warning("message %s could not be posted: %s", row.id, failure.reason)
            self._note_post_failure(mailbox, row.id, failure.reason)  # type: ignore[arg-type]
            return 0

    def _note_post_failure(self, mailbox: Mailbox, row_id: int, reason: str) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Message, row_id)
            if row is None or row.state != MessageState.PENDING_POST:
                return
            row.failures += 1
            row.error = reason
            row.updated_at = utcnow()
            failed = row.failures >= self.ctx.settings.mail_max_failures
            if failed:
                row.state = MessageState.INGEST_FAILED
            session.add(row)
        if failed:
            self._announce_failure(mailbox, row)

    def _post(self, mailbox: Mailbox, row: Message, parsed: InboundEmail) -> int:
        """Post one recorded mail into its thread; 1 when posted now, 0 otherwise."""
        with self.ctx.db.session() as session:
            # Checked right before the post: a worker that lost the lease posts nothing.
            self._fence(session, mailbox.id)
            row = session.get(Message, row.id)  # type: ignore[assignment]
            if row is None or row.state != MessageState.PENDING_POST:
                return 0
            conversation = session.get(Conversation, row.conversation_id)
            if conversation is None or not conversation.channel_id:
                row.state, row.body_text = MessageState.SKIPPED, None
                session.add(row)
                return 0
            earlier_attempt = row.attempts > 0 and row.slack_ts is None
            row.attempts += 1
            session.add(row)
        channel = conversation.channel_id
        is_root = conversation.thread_ts is None
        ts = row.slack_ts
        if ts is None and earlier_attempt:
            ts = self._find_earlier_post(channel, conversation.thread_ts, row)
        if ts is None:
            try:
                text, blocks = email_post_blocks(
                    parsed,
                    mailbox,
                    show_full_ref=show_full_reference(self.ctx.settings, row.id),  # type: ignore[arg-type]
                    root=is_root,
                    sent_copy=row.direction == "out",
                    new_sender=is_new_sender(self.ctx.db, row),
                    # The same cap as _upload_attachments: what is not uploaded must be listed.
                    attachment_cap=self.ctx.settings.attachment_max_bytes,
                )
            except Exception as exc:  # a bug meeting an odd mail: that mail only
                log.exception("laying out message %s failed", row.id)
                raise MailFailure(
                    _("Mailroom could not lay it out for Slack ({error}).").format(
                        error=type(exc).__name__
                    )
                ) from None
            metadata = {
                "event_type": SLACK_METADATA_EVENT,
                "event_payload": {"message": row.id, "mailbox": mailbox.id},
            }
            try:
                try:
                    ts = self.ctx.slack.post(
                        channel,
                        text,
                        blocks=blocks,
                        thread_ts=conversation.thread_ts,
                        metadata=metadata,
                    )
                except SlackApiError as exc:
                    if exc.response.get("error") not in MESSAGE_LEVEL_ERRORS:
                        raise
                    # Slack refused this one message's layout: post it plainly rather than
                    # let one odd mail stop the whole mailbox.
                    log.warning(
                        "post of message %s refused (%s); posting plain text",
                        row.id,
                        exc.response.get("error"),
                    )
                    ts = self.ctx.slack.post(
                        channel,
                        plain_fallback_text(parsed),
                        thread_ts=conversation.thread_ts,
                        metadata=metadata,
                    )
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error not in MAILBOX_LEVEL_ERRORS and exc.response.status_code < 500:
                    # Refused for this mail's content, not for the channel: set it aside.
                    raise MailFailure(
                        _("Slack refused the post ({error}).").format(error=error)
                    ) from None
                raise ServiceError(
                    # Plain channel id: this sentence is escaped wherever it is shown.
                    _(
                        "Slack refused the post into channel {channel} ({error}). Check that "
                        "Mailroom is still in that channel: invite it with /invite @Mailroom."
                    ).format(channel=channel, error=error)
                ) from None
            uploads = self._uploadable(parsed)
            with self.ctx.db.session() as session:
                stored = session.get(Message, row.id)
                assert stored is not None
                stored.slack_ts = ts
                if not uploads:
                    # Nothing left to do for this mail: finish it in the same commit.
                    stored.state, stored.updated_at = MessageState.POSTED, utcnow()
                session.add(stored)
                if is_root:
                    conv = session.get(Conversation, conversation.id)
                    assert conv is not None
                    conv.thread_ts = ts
                    session.add(conv)
            observe_post(self.ctx.metrics, row)
            if not uploads:
                return 1
        thread_ts = conversation.thread_ts or ts
        self._upload_attachments(channel, thread_ts, parsed)
        with self.ctx.db.session() as session:
            stored = session.get(Message, row.id)
            assert stored is not None
            stored.state = MessageState.POSTED
            stored.updated_at = utcnow()
            session.add(stored)
        return 1

    def _find_earlier_post(self, channel: str, thread_ts: str | None, row: Message) -> str | None:
        """After a crash between Slack accepting a post and us recording it, find that post
        by its metadata instead of posting twice. Only runs for interrupted posts."""
        oldest = (
            row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC) - timedelta(minutes=5)
        ).timestamp()
        try:
            if thread_ts:
                answer = self.ctx.slack.client.conversations_replies(
                    channel=channel,
                    ts=thread_ts,
                    oldest=f"{oldest:.6f}",
                    include_all_metadata=True,
                    limit=200,
                )
            else:
                answer = self.ctx.slack.client.conversations_history(
                    channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200
                )
        except SlackApiError as exc:
            log.warning("could not check Slack for an earlier post: %s", exc.response.get("error"))
            return None
        messages: list[dict[str, Any]] = answer.get("messages", [])
        for message in messages:
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == SLACK_METADATA_EVENT
                and (meta.get("event_payload") or {}).get("message") == row.id
            ):
                return message["ts"]
        return None

    def _uploadable(self, parsed: InboundEmail) -> list[Attachment]:
        """Attachments that go into the thread; the others are listed in the post instead
        (larger than attachment_max_bytes, or past attachment_max_count)."""
        cap = self.ctx.settings.attachment_max_bytes
        files = [a for a in parsed.attachments if a.payload and not a.skipped and a.size <= cap]
        return files[: self.ctx.settings.attachment_max_count]

    def _upload_attachments(self, channel: str, thread_ts: str, parsed: InboundEmail) -> None:
        for attachment in self._uploadable(parsed):
            try:
                self.ctx.slack.client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    content=attachment.payload,
                    filename=attachment.filename,
                    title=attachment.filename,
                )
            except SlackApiError as exc:
                log.warning(
                    "upload of %s failed: %s", attachment.filename, exc.response.get("error")
                )

    # --- Mail set aside after repeated failures ----------------------------------------------

    def _announce_failure(self, mailbox: Mailbox, row: Message) -> None:
        """A notice with a Retry button in the mail's channel; the admins are told once."""
        with self.ctx.db.session() as session:
            conversation = (
                session.get(Conversation, row.conversation_id) if row.conversation_id else None
            )
        channel = (conversation.channel_id if conversation else None) or mailbox.channel_id
        reason = row.error or _("Mailroom could not show it.")
        if channel:
            text, blocks = mail_failure_blocks(row, reason)
            self._notify(_failure_notice_key(row), channel, text, blocks)
        for recipient in who_fixes(self.ctx.settings, mailbox):
            with speaking(self.ctx.languages.for_recipient(recipient)):
                text = mail_failure_admin_text(mailbox, row, reason, channel)
            self._notify(f"mail-failed-told:{row.id}:{recipient}", recipient, text)

    def _announce_unannounced(self, mailbox: Mailbox) -> None:
        """Set-aside mail of the last days whose notice did not go out (Slack failed, or the
        process died in between): try the notice again."""
        since = utcnow() - FAILURE_NOTICE_WINDOW
        with self.ctx.db.session() as session:
            rows = session.exec(
                select(Message).where(
                    Message.mailbox_id == mailbox.id,
                    Message.state == MessageState.INGEST_FAILED,
                    col(Message.updated_at) >= since,
                )
            ).all()
        for row in rows:
            if not self.ctx.notifier.was_sent(_failure_notice_key(row)):
                self._announce_failure(mailbox, row)

    def retry_failed(self, message_row_id: int, user_id: str) -> str | None:
        """The Retry button of a set-aside mail. Returns a refusal, or None when queued."""
        with self.ctx.db.session() as session:
            row = session.get(Message, message_row_id)
            if row is None or row.direction != "in" or row.state != MessageState.INGEST_FAILED:
                return _("That email is not waiting to be retried any more.")
            mailbox = session.get(Mailbox, row.mailbox_id)
        if mailbox is None:
            return _("That mailbox no longer exists.")
        if mailbox.removed_at is not None:
            return _(MAILBOX_REMOVED).format(address=mailbox.address)
        if not self.ctx.roles.can_see(user_id, mailbox):
            return _("Only an admin or someone who can see {address} can retry its mail.").format(
                address=mailbox.address
            )
        # A mail that failed while being recorded has no conversation yet: record it again
        # (by folder + UID); one that failed while being posted is posted again.
        state = (
            MessageState.RECORD_RETRY if row.conversation_id is None else MessageState.PENDING_POST
        )
        with self.ctx.db.session() as session:
            session.exec(
                update(Message)
                .where(
                    col(Message.id) == message_row_id,
                    col(Message.state) == MessageState.INGEST_FAILED,
                )
                .values(state=state, failures=0, updated_at=utcnow())
            )
        self.sync_now(mailbox.id)  # type: ignore[arg-type]
        return None

    # --- Health and notifications ---------------------------------------------------------

    def _on_success(self, mailbox: Mailbox, new: int) -> None:
        streak = _streak_key(mailbox)
        _health, was_failing = self.ctx.mailboxes.record_success(mailbox.id, new)  # type: ignore[arg-type]
        if was_failing and self.ctx.notifier.was_sent(f"sync-failing:{streak}"):
            for recipient in who_fixes(self.ctx.settings, mailbox):
                with speaking(self.ctx.languages.for_recipient(recipient)):
                    text = sync_recovered_text(mailbox)
                self._notify(f"sync-recovered:{streak}:{recipient}", recipient, text)

    def _on_failure(self, mailbox: Mailbox, error: MailroomError) -> None:
        health = health_after(error)
        updated = self.ctx.mailboxes.record_failure(saved_id(mailbox), error.message, health)
        log.info(
            "mailbox %s sync failed (%s in a row): %s",
            mailbox.id,
            updated.consecutive_failures,
            error.message,
        )
        threshold = self.ctx.settings.sync_failure_threshold
        if updated.consecutive_failures < threshold and health not in IMMEDIATE_HEALTH:
            return
        streak = _streak_key(mailbox)
        for notifier in self.failure_notifiers:
            if notifier(updated, error):
                self.ctx.db.insert_once(_marker(f"sync-failing:{streak}"))
                return
        sent_any = False
        for recipient in who_fixes(self.ctx.settings, mailbox):
            with speaking(self.ctx.languages.for_recipient(recipient)):
                text, blocks = sync_failure_blocks(updated, error.message)
            sent_any |= self._notify(f"sync-failing:{streak}:{recipient}", recipient, text, blocks)
        if sent_any:
            self.ctx.db.insert_once(_marker(f"sync-failing:{streak}"))

    def _notify(
        self, key: str, recipient: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> bool:
        try:
            return self.ctx.notifier.once(key, recipient, text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("could not notify %s: %s", recipient, exc.response.get("error"))
            return False


def _streak_key(mailbox: Mailbox) -> str:
    """Identifies one run of failures: it starts after the last successful sync."""
    since = mailbox.last_success_at or mailbox.created_at
    return f"{mailbox.id}:{since.isoformat()}"


def _marker(key: str) -> Notification:
    """A sent-notification record with no message: remembers that a streak was reported."""
    return Notification(key=key, recipient="-", sent_at=utcnow())


# How long a set-aside mail's notice is retried when it could not be posted.
FAILURE_NOTICE_WINDOW = timedelta(days=2)


def _failure_notice_key(row: Message) -> str:
    # Keyed by attempt: after a Retry that fails again, a new notice goes out.
    return f"mail-failed:{row.id}:{row.attempts}"


def _advance_cursor(session: Session, mailbox: Mailbox, folder: str, uids: list[int]) -> None:
    state = session.exec(
        select(FolderState).where(
            FolderState.mailbox_id == mailbox.id, FolderState.folder == folder
        )
    ).one()
    state.last_uid = max(state.last_uid, *uids)
    state.updated_at = utcnow()
    session.add(state)


def _at_location(
    session: Session, mailbox: Mailbox, folder: str, uidvalidity: int, uid: int
) -> Message | None:
    """The mail recorded at this place of the mailbox: its identity."""
    return session.exec(
        select(Message).where(
            Message.mailbox_id == mailbox.id,
            Message.folder == folder,
            Message.uidvalidity == uidvalidity,
            Message.uid == uid,
        )
    ).first()


def _same_mail(
    session: Session,
    mailbox: Mailbox,
    folder: str,
    uidvalidity: int,
    uid: int,
    parsed: InboundEmail,
) -> Message | None:
    """The very same mail recorded at another place, if any.

    Same Message-ID and same content hash; or our own reply (we made its Message-ID, and it
    has no place yet); or, for rows recorded before content hashes existed, the same
    Message-ID in this folder under an older UIDVALIDITY (a rescan).
    """
    rows = session.exec(
        select(Message)
        .where(Message.mailbox_id == mailbox.id, Message.message_id == parsed.message_id)
        .order_by(col(Message.id))
    ).all()
    for row in rows:
        if (row.folder, row.uidvalidity, row.uid) == (folder, uidvalidity, uid):
            continue
        if row.state == MessageState.RECORD_RETRY:
            continue
        if row.folder is None and row.direction == "out":
            return row
        if row.content_hash:
            if row.content_hash == parsed.content_hash:
                return row
        elif row.folder == folder and row.uidvalidity != uidvalidity:
            return row
    return None


def _new_row(mailbox: Mailbox, parsed: InboundEmail, role: str) -> Message:
    """A row for a mail seen for the first time; ``_describe`` and the caller complete it."""
    return Message(
        mailbox_id=saved_id(mailbox),
        message_id=parsed.message_id,
        direction=_direction(role),
        state=MessageState.SKIPPED,
    )


def _direction(role: str) -> str:
    return "out" if role == "sent" else "in"


def _describe(
    row: Message, parsed: InboundEmail, folder: str, uidvalidity: int, uid: int, role: str
) -> None:
    """Copy a parsed mail's headers and place onto its row."""
    row.message_id = parsed.message_id
    row.direction = _direction(role)
    row.folder, row.uidvalidity, row.uid = folder, uidvalidity, uid
    row.in_reply_to = parsed.in_reply_to
    row.references = " ".join(parsed.references)
    row.subject = parsed.subject
    row.from_address = parsed.from_address
    row.from_name = parsed.from_name
    row.to_addresses = ", ".join(parsed.to)
    row.reply_to = ", ".join(parsed.reply_to)
    row.sent_at = _aware_utc(parsed.date)
    row.content_hash = parsed.content_hash
    row.updated_at = utcnow()


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


def _minimal_raw(row: Message) -> bytes:
    from email.message import EmailMessage
    from email.utils import formataddr

    msg = EmailMessage()
    msg["From"] = formataddr((row.from_name, row.from_address))
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id
    msg.set_content(row.body_text or "")
    return msg.as_bytes()


INGEST_CHUNK_COUNT = 50
INGEST_CHUNK_BYTES = 4 * 1024 * 1024


def _chunks(fetched: Iterable[FetchedMessage]) -> Iterator[list[FetchedMessage]]:
    """Group fetched mail for recording: bounded in count and bytes, like the fetch itself."""
    chunk: list[FetchedMessage] = []
    size = 0
    for item in fetched:
        chunk.append(item)
        size += item.size
        if len(chunk) >= INGEST_CHUNK_COUNT or size >= INGEST_CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
