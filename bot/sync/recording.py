"""Recording new mail, exactly once: IMAP → database, before anything is posted.

Each new mail is recorded (with the folder's cursor moved past it) in one transaction before
it is posted (``bot.sync.posting``), so a kill at any moment neither loses a mail (the cursor
moves only with the record) nor records it twice.

A mail is identified by where it lives (mailbox, folder, UIDVALIDITY, UID), never by its
Message-ID alone: broken mailers reuse ids. The Message-ID threads mail, and with the content
hash recognises the very same mail seen in two folders (INBOX and Sent / All Mail).

A mail that cannot be recorded leaves a placeholder (``MessageState.RECORD_RETRY``) that the
next syncs record again by folder + UID, until it is set aside (``bot.sync.set_aside``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.formatting.inbound import InboundEmail, ParseLimits, parse_email
from bot.ownership import LeaseLost
from bot.sync.set_aside import count_failure
from bot.threads import find_conversation
from locales import _
from providers.imap import FetchedMessage
from storage.models import (
    Conversation,
    FolderState,
    Mailbox,
    Message,
    MessageState,
    saved_id,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core
    from bot.ownership import Ownership
    from bot.settings import Settings
    from bot.sync.set_aside import SetAside

log = logging.getLogger(__name__)

# (mailbox, parsed mail, folder role) -> False to record the mail without posting it.
PostFilter = Callable[[Mailbox, InboundEmail, str], bool]
# Called after a mail is recorded (posted or not): activity tracking and the like.
IngestHook = Callable[[Mailbox, Message, InboundEmail], None]

INGEST_CHUNK_COUNT = 50
INGEST_CHUNK_BYTES = 4 * 1024 * 1024


def parse(settings: Settings, raw: bytes) -> InboundEmail:
    """Parse one mail within this deployment's limits (files, sizes, text)."""
    return parse_email(
        raw,
        ParseLimits(
            attachment_max_bytes=settings.attachment_max_bytes,
            max_files=settings.attachment_max_count,
            body_max_chars=settings.body_max_chars,
        ),
    )


def chunks(fetched: Iterable[FetchedMessage]) -> Iterator[list[FetchedMessage]]:
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


class Recorder:
    """Records fetched mail and moves the folder's cursor past it, fenced on the lease."""

    def __init__(
        self,
        ctx: Core,
        ownership: Ownership,
        set_aside: SetAside,
        post_filters: list[PostFilter],
        ingest_hooks: list[IngestHook],
    ) -> None:
        self.ctx = ctx
        # Every write is fenced on the mailbox's lease: a worker that lost it records nothing.
        self.ownership = ownership
        self.set_aside = set_aside
        # SyncService's lists, which features append to (``ctx.sync.post_filters``...).
        self.post_filters = post_filters
        self.ingest_hooks = ingest_hooks

    def record(
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
        parsed_chunk = [(fetched, parse(self.ctx.settings, fetched.raw)) for fetched in chunk]
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
                row = self.record_alone(mailbox, folder, role, uidvalidity, fetched, parsed)
                if row is not None:
                    recorded.append((row, parsed))
        self.run_ingest_hooks(mailbox, recorded)
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
        uids = [fetched.uid for fetched, _ in parsed_chunk]
        with self._moving_cursor(mailbox, folder, uids) as session:
            for fetched, parsed in parsed_chunk:
                row = self._record_one(session, mailbox, folder, role, uidvalidity, fetched, parsed)
                if row is not None:
                    recorded.append((row, parsed))
        return recorded

    @contextmanager
    def _moving_cursor(self, mailbox: Mailbox, folder: str, uids: list[int]) -> Iterator[Session]:
        """A transaction under the mailbox's lease that also moves the folder's cursor past
        ``uids``: what is recorded of those mails commits together with the cursor, so a
        kill leaves neither without the other (and a lost lease records nothing)."""
        with self.ctx.db.session() as session:
            self.ownership.fence(session, saved_id(mailbox))
            _advance_cursor(session, mailbox, folder, uids)
            yield session

    def record_alone(
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
            with self._moving_cursor(mailbox, folder, [fetched.uid]) as session:
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
        with self._moving_cursor(mailbox, folder, [fetched.uid]) as session:
            row = _at_location(session, mailbox, folder, uidvalidity, fetched.uid)
            if row is None:
                row = Message(
                    mailbox_id=saved_id(mailbox),
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
            failed = count_failure(row, reason, self.ctx.settings.mail_max_failures)
            session.add(row)
            session.flush()
        if failed:
            self.set_aside.announce(mailbox, row)

    def run_ingest_hooks(
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
            saved_id(mailbox),
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
                mailbox_id=saved_id(mailbox),
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
