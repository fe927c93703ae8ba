"""Thread replies out as email, exactly once.

A person's message in a Mailroom thread is stored in the reply inbox (unique on the Slack
message: channel + ts) before Slack's event is acknowledged. After the ack it is turned into
an outgoing message; recording that message and closing the inbox row are one transaction,
and rows left open by a crash are re-processed at start. Sending moves the message
PENDING_SEND → SENDING → SENT; after a crash, SENDING rows are checked against the Sent
folder and only re-sent (with the same Message-ID, which receivers deduplicate) when no
copy exists.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.blocks.replies import (
    held_reply_blocks,
    held_reply_done_blocks,
    send_failed_blocks,
    sent_confirmation_blocks,
)
from bot.formatting.outbound import (
    MAX_REPLY_RECIPIENTS,
    OutgoingAttachment,
    compose_email,
    make_message_id,
    references_chain,
    reply_subject,
    split_addresses,
)
from bot.formatting.slack_text import slack_to_html, slack_to_plain
from bot.mailboxes import REPLY_TO_REMOVED
from bot.metrics import count_reply
from bot.slack_files import download_slack_file, size_limit_text, stored_file
from bot.testhooks import pause_for_tests
from bot.threads import latest_message
from locales import _, ngettext, speaking
from providers import smtp
from providers.errors import MailroomError, ServiceError, UserError
from providers.imap import ImapSession
from storage.models import (
    Conversation,
    Mailbox,
    Message,
    MessageState,
    Provider,
    ReplyInbox,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core
    from bot.jobs import Jobs
    from storage.db import Database

log = logging.getLogger(__name__)

# The source_ts of a mail written in the compose modal (bot/inbox/compose.py): it answers no
# Slack message, so there is nothing to react to.
COMPOSED = "compose:"

# Thread messages starting with one of these stay internal: they are never emailed.
NOTE_PREFIXES = ("note:", "internal:")
# A reply starting with this also goes to the customer mail's other To/Cc addresses.
REPLY_ALL_PREFIX = "all:"
SENT_REACTION = "white_check_mark"
NOTE_REACTION = "lock"
# Handled thread messages are kept this long: far beyond Slack's retries (minutes), so a
# late redelivery of the same message is still recognised.
INBOX_KEEP = timedelta(days=7)


def is_reply_all(text: str) -> bool:
    return text.strip().lower().startswith(REPLY_ALL_PREFIX)


def reply_all_copies(customer_mail: Message | None, own_address: str, to: list[str]) -> list[str]:
    """The customer mail's To and Cc, without the mailbox itself and the reply's own To."""
    if customer_mail is None:
        return []
    skip = {own_address.lower(), *(a.lower() for a in to)}
    copies: list[str] = []
    for address in split_addresses(customer_mail.to_addresses) + split_addresses(
        customer_mail.cc_addresses
    ):
        if address.lower() not in skip:
            skip.add(address.lower())
            copies.append(address)
    return copies


def is_internal_note(text: str) -> bool:
    return text.strip().lower().startswith(NOTE_PREFIXES)


@dataclass
class Footer:
    text: str = ""
    html: str = ""


# (mailbox, author user id) -> the footer to append to a reply.
FooterSource = Callable[[Mailbox, str], Footer]
# Called once a reply is sent: activity tracking and the like.
SentHook = Callable[[Mailbox, Message], None]


class ReplyService:
    def __init__(self, ctx: Core, jobs: Jobs) -> None:
        self.ctx = ctx
        # Whether this process sends a mailbox's replies now (its lease), else who to wake.
        self.jobs = jobs
        self.footer: FooterSource = lambda mailbox, author: Footer()
        self.sent_hooks: list[SentHook] = []
        # Run by ``recover`` before a recorded reply of a dead process is sent or scheduled:
        # e.g. the new conversation's first Slack post, if its process died before it.
        self.before_recovered_send: list[Callable[[Message], None]] = []
        # Extra checks before a reply is queued (e.g. "sender not verified"): return a
        # refusal sentence or None.
        self.send_guards: list[Callable[[Mailbox], str | None]] = []
        # Other ways out than the mailbox's SMTP server, by ``Mailbox.send_via`` (e.g. "ses"):
        # (mailbox, email, recipients) -> None, raising MailroomError on failure.
        self.transports: dict[str, Callable[[Mailbox, Any, list[str]], None]] = {}
        # Inbox rows being handled by this process (the listener and recover() may meet).
        self._claiming = threading.Lock()
        self._claimed: set[int] = set()
        self._sending: set[int] = set()  # replies this process is handing to SMTP now

    # --- From Slack -----------------------------------------------------------------------

    def receive(self, event: dict[str, Any], event_id: str | None) -> int | None:
        """Store a human thread message durably; runs BEFORE Slack's event is acknowledged.

        Returns the new inbox row's id, or None when there is nothing to do: not a Mailroom
        thread (one indexed lookup, no write, so channel chatter stays cheap) or a message
        already stored (Slack's retry of the same event id, or the same message under
        another event id). A database failure raises, so Slack gets a 500 and retries.
        """
        channel, thread_ts = event["channel"], event["thread_ts"]
        with self.ctx.db.session() as session:
            known = session.exec(
                select(Conversation.id).where(
                    Conversation.channel_id == channel, Conversation.thread_ts == thread_ts
                )
            ).first()
        if known is None:
            return None
        row = ReplyInbox(
            channel_id=channel,
            message_ts=event["ts"],
            event_id=event_id,
            event_json=json.dumps(event),
        )
        if not self.ctx.db.insert_once(row):
            log.info(
                "thread message %s/%s (event %s) already stored", channel, event["ts"], event_id
            )
            return None
        return row.id

    def reply_received(self, inbox_id: int) -> None:
        """After the ack: handle the stored thread message here, or wake the worker that
        holds its mailbox (bot.jobs), whose pickup handles it."""
        mailbox_id = self._inbox_mailbox(inbox_id)
        if mailbox_id is None or self.jobs.runs_here(mailbox_id, "replies"):
            self.handle_thread_message(inbox_id)

    def _inbox_mailbox(self, inbox_id: int) -> int | None:
        with self.ctx.db.session() as session:
            inbox = session.get(ReplyInbox, inbox_id)
            if inbox is None:
                return None
            return _mailbox_of_thread(session, inbox.channel_id, inbox.event_json)

    def handle_thread_message(self, inbox_id: int) -> None:
        """Turn a stored thread message into a note, a refusal or a reply, then send it.

        Runs after the ack (in Bolt's worker) and again from ``recover`` for rows a killed
        process left behind; the inbox row is marked done in the same transaction that
        records the reply, so nothing is lost or done twice whenever the process dies.
        """
        with self._claiming:
            if inbox_id in self._claimed:
                return  # the listener and recover() both reached it: one is enough
            self._claimed.add(inbox_id)
        try:
            pause_for_tests("after_ack")
            self._handle_inbox(inbox_id)
        finally:
            with self._claiming:
                self._claimed.discard(inbox_id)

    def _handle_inbox(self, inbox_id: int) -> None:
        with self.ctx.db.session() as session:
            inbox = session.get(ReplyInbox, inbox_id)
            if inbox is None or inbox.done:
                return
            event: dict[str, Any] = json.loads(inbox.event_json)
            channel, thread_ts, user = event["channel"], event["thread_ts"], event["user"]
            conversation = session.exec(
                select(Conversation).where(
                    Conversation.channel_id == channel, Conversation.thread_ts == thread_ts
                )
            ).first()
            mailbox = session.get(Mailbox, conversation.mailbox_id) if conversation else None
            # Threading headers continue from the newest mail either way; the recipients
            # come from the customer's newest mail (Reply-To honoured).
            parent = customer_mail = None
            if conversation is not None:
                parent = latest_message(session, conversation.id)  # type: ignore[arg-type]
                customer_mail = latest_message(session, conversation.id, "in")  # type: ignore[arg-type]
        if conversation is None or mailbox is None:
            self._mark_inbox_done(inbox_id)
            return
        text = event.get("text") or ""
        if is_internal_note(text):
            self._react(channel, event["ts"], NOTE_REACTION)
            self._mark_inbox_done(inbox_id)
            return
        # Worded for its one reader, also when recover() handles it with no request around.
        with speaking(self.ctx.languages.of(user)):
            refusal = self._refusal(user, mailbox)
        if refusal:
            self.ctx.slack.ephemeral(channel, user, refusal, thread_ts=thread_ts)
            # Never sent, so it stays in the thread as an internal note: marked like one.
            self._react(channel, event["ts"], NOTE_REACTION)
            self._mark_inbox_done(inbox_id)
            return
        row = self._record(mailbox, conversation, parent, customer_mail, event, inbox_id)
        if row is not None:
            pause_for_tests("after_record")
            if row.send_after is None:
                self.send(row.id)  # type: ignore[arg-type]
            else:
                with speaking(self.ctx.languages.of_channel(row.source_channel)):
                    self._announce_hold(row, conversation.thread_ts)
                self.schedule(row.id, row.send_after)  # type: ignore[arg-type]

    def _mark_inbox_done(self, inbox_id: int, session: Session | None = None) -> bool:
        """Mark the inbox row done (inside ``session`` when given); False if already done."""
        statement = (
            update(ReplyInbox)
            .where(col(ReplyInbox.id) == inbox_id, col(ReplyInbox.done).is_(False))
            .values(done=True, done_at=utcnow())
        )
        if session is not None:
            return bool(session.exec(statement).rowcount)
        with self.ctx.db.session() as own:
            return bool(own.exec(statement).rowcount)

    def refusal(self, user: str, mailbox: Mailbox) -> str | None:
        """Why ``user`` may not send from ``mailbox`` now (roles, inactive, guards), or None."""
        return self._refusal(user, mailbox)

    def _refusal(self, user: str, mailbox: Mailbox) -> str | None:
        if mailbox.removed_at is not None:
            return _(REPLY_TO_REMOVED).format(address=mailbox.address)
        if not mailbox.active:
            return _(
                "{address} is inactive, so nothing was sent and nothing was queued. "
                "An admin (or the owner of a personal mailbox) can activate it from "
                "`/mail-status`; then post your reply again."
            ).format(address=mailbox.address)
        refusal = self.ctx.roles.reply_refusal(user, mailbox)
        if refusal:
            return refusal
        for guard in self.send_guards:
            refusal = guard(mailbox)
            if refusal:
                return refusal
        return None

    def _record(
        self,
        mailbox: Mailbox,
        conversation: Conversation,
        parent: Message | None,
        customer_mail: Message | None,
        event: dict[str, Any],
        inbox_id: int,
    ) -> Message | None:
        """Record the reply PENDING_SEND and close its inbox row, in one transaction."""
        parent_refs = (parent.references or "").split() if parent else []
        to = _reply_targets(customer_mail, conversation)
        text = event.get("text") or ""
        copied: list[str] = []
        if is_reply_all(text):
            # `all:` also answers everyone the customer's mail went to, minus ourselves.
            copied = reply_all_copies(customer_mail, mailbox.address, to)
            text = text.strip()[len(REPLY_ALL_PREFIX) :].lstrip()
        files = reply_files(event)
        row = Message(
            mailbox_id=mailbox.id,  # type: ignore[arg-type]
            conversation_id=conversation.id,
            message_id=make_message_id(mailbox.address),
            direction="out",
            in_reply_to=parent.message_id if parent else None,
            references=" ".join(
                references_chain(parent_refs, parent.message_id if parent else None)
            ),
            subject=reply_subject(parent.subject if parent else conversation.subject),
            from_address=mailbox.address,
            from_name=mailbox.sender_name,
            to_addresses=", ".join(to),
            cc_addresses=", ".join(copied),
            source_channel=event["channel"],
            source_ts=event["ts"],
            author_id=event["user"],
            state=MessageState.PENDING_SEND,
            body_text=text,
            files_json=json.dumps(files) if files else None,
            send_after=self._undo_deadline(),
        )
        try:
            with self.ctx.db.session() as session:
                if not self._mark_inbox_done(inbox_id, session):
                    session.rollback()
                    return None  # another worker handled this inbox row meanwhile
                session.add(row)
            return row
        except IntegrityError:
            # The same Slack message was already recorded (e.g. by another process): only
            # the inbox row is left to close.
            self._mark_inbox_done(inbox_id)
            return None

    def _undo_deadline(self) -> datetime | None:
        """When a reply recorded now may leave: after the undo window, or None (at once)."""
        seconds = self.ctx.settings.reply_undo_seconds
        return utcnow() + timedelta(seconds=seconds) if seconds > 0 else None

    # --- Undo window and send later ----------------------------------------------------------

    def schedule(self, message_row_id: int, when: datetime) -> None:
        """Send the reply at ``when`` (a job; recover() reschedules it after a restart)."""
        delay = max(0.0, (_aware(when) - utcnow()).total_seconds())
        self.ctx.scheduler.once(
            f"reply:{message_row_id}", self.send_when_due, message_row_id, delay=delay
        )

    def send_when_due(self, message_row_id: int) -> bool:
        """The scheduled job: send now if due, or wait again if the time was moved later."""
        with self.ctx.db.session() as session:
            row = session.get(Message, message_row_id)
        if row is None or row.state != MessageState.PENDING_SEND:
            return False
        if row.send_after is not None and _aware(row.send_after) > utcnow():
            self.schedule(message_row_id, row.send_after)
            return False
        return self.send(message_row_id)

    def send_due(self) -> int:
        """Sweep (every few seconds): send held replies whose time has come but whose job is
        missing here - recorded by a process without a scheduler, or a job lost. The claim in
        send() keeps it to one send whoever gets there first. Returns how many went out."""
        with self.ctx.db.session() as session:
            due = session.exec(
                select(Message.id)
                .where(
                    Message.direction == "out",
                    Message.state == MessageState.PENDING_SEND,
                    col(Message.send_after).is_not(None),
                    col(Message.send_after) <= utcnow(),
                )
                .order_by(col(Message.id))
                .limit(100)
            ).all()
        return sum(1 for row_id in due if row_id is not None and self.send(row_id))

    def undo(self, message_row_id: int, user_id: str) -> str | None:
        """Cancel a held reply: only its author, only while it has not started to leave.
        Returns a refusal sentence or None."""
        with self.ctx.db.session() as session:
            cancelled = session.exec(
                update(Message)
                .where(
                    col(Message.id) == message_row_id,
                    col(Message.state) == MessageState.PENDING_SEND,
                    col(Message.author_id) == user_id,
                )
                .values(state=MessageState.CANCELLED, updated_at=utcnow())
            ).rowcount
            row = session.get(Message, message_row_id)
        if row is None or row.direction != "out":
            return _("That reply is no longer available.")
        if not cancelled:
            return _undo_refusal(row, user_id)
        self.ctx.scheduler.remove(f"reply:{message_row_id}")
        # The Slack message stays in the thread, never emailed: marked like a note.
        self._react(row.source_channel, row.source_ts, NOTE_REACTION)
        with speaking(self.ctx.languages.of_channel(row.source_channel)):
            self._update_notice(row, *held_reply_done_blocks(row, "cancelled"))
        return None

    def send_later(self, message_row_id: int, user_id: str, when: datetime) -> str | None:
        """Move a held reply to ``when`` (author only, while still held)."""
        if _aware(when) <= utcnow():
            return _("That time has already passed. Pick a time in the future.")
        with self.ctx.db.session() as session:
            moved = session.exec(
                update(Message)
                .where(
                    col(Message.id) == message_row_id,
                    col(Message.state) == MessageState.PENDING_SEND,
                    col(Message.author_id) == user_id,
                )
                .values(send_after=when, updated_at=utcnow())
            ).rowcount
            row = session.get(Message, message_row_id)
        if row is None or row.direction != "out":
            return _("That reply is no longer available.")
        if not moved:
            return _undo_refusal(row, user_id)
        self.schedule(message_row_id, when)
        with speaking(self.ctx.languages.of_channel(row.source_channel)):
            self._update_notice(row, *held_reply_blocks(row, scheduled=True))
        return None

    def _announce_hold(self, row: Message, thread_ts: str | None) -> None:
        """The thread notice with Undo and Send later; its ts is kept to update it."""
        text, blocks = held_reply_blocks(row, scheduled=False)
        try:
            ts = self.ctx.slack.post(
                row.source_channel or "", text, blocks=blocks, thread_ts=thread_ts
            )
        except SlackApiError as exc:
            # The reply still leaves when its window ends; only the Undo button is missing.
            log.warning("could not post the undo notice: %s", exc.response.get("error"))
            return
        with self.ctx.db.session() as session:
            session.exec(update(Message).where(col(Message.id) == row.id).values(notice_ts=ts))
        row.notice_ts = ts

    def _update_notice(self, row: Message, text: str, blocks: list[dict[str, Any]]) -> None:
        if not row.notice_ts or not row.source_channel:
            return
        try:
            self.ctx.slack.client.chat_update(
                channel=row.source_channel, ts=row.notice_ts, text=text, blocks=blocks
            )
        except SlackApiError as exc:
            log.info("could not update the reply notice: %s", exc.response.get("error"))

    # --- Sending ----------------------------------------------------------------------------

    def send(self, message_row_id: int) -> bool:
        """Send one recorded reply once it is due. True when it went out now.

        The claim is one conditional update (PENDING_SEND and due → SENDING), so the
        scheduled job, recover() and a retry can never send the same reply twice, and an
        undone reply (CANCELLED) never leaves. With several workers, only the one holding
        the mailbox's lease sends (others wake it up), and its claim is fenced on that
        lease in the same transaction."""
        with self.ctx.db.session() as session:
            pending = session.get(Message, message_row_id)
            mailbox_id = pending.mailbox_id if pending is not None else None
        if mailbox_id is None or not self.jobs.sends_here(mailbox_id):
            return False
        with self._claiming:
            self._sending.add(message_row_id)
        try:
            with self.ctx.db.session() as session:
                if not self.jobs.fence_send(session, mailbox_id):
                    return False
                claimed = session.exec(
                    update(Message)
                    .where(
                        col(Message.id) == message_row_id,
                        col(Message.state) == MessageState.PENDING_SEND,
                        or_(
                            col(Message.send_after).is_(None),
                            col(Message.send_after) <= utcnow(),
                        ),
                    )
                    .values(
                        state=MessageState.SENDING,
                        attempts=Message.attempts + 1,
                        updated_at=utcnow(),
                    )
                ).rowcount
                row = session.get(Message, message_row_id)
            if not claimed or row is None:
                return False
            # Thread notices and failures are channel posts: the channel's language, also
            # when the author's own request sends the reply at once.
            with speaking(self.ctx.languages.of_channel(row.source_channel)):
                return self._deliver(row)
        finally:
            with self._claiming:
                self._sending.discard(message_row_id)

    def _deliver(self, row: Message) -> bool:
        mailbox = self.ctx.mailboxes.get_even_removed(row.mailbox_id)
        assert mailbox is not None
        try:
            if mailbox.removed_at is not None:
                # A reply held (undo, send later) when its mailbox was removed.
                raise UserError(_(REPLY_TO_REMOVED).format(address=mailbox.address))
            recipients = _checked_recipients(row)
            email = self._compose(mailbox, row)
            transport = self.transports.get(mailbox.send_via)
            if transport is not None:
                transport(mailbox, email, recipients)
            else:
                settings = self.ctx.mailboxes.smtp_settings(mailbox)
                smtp.send_message(settings, email, sender=mailbox.address, recipients=recipients)
        except MailroomError as exc:
            self._mark(row.id, MessageState.FAILED, exc.message)  # type: ignore[arg-type]
            count_reply(self.ctx.metrics, "failed")
            self._tell_failure(row, exc)
            return False
        except Exception as exc:
            count_reply(self.ctx.metrics, "failed")
            log.exception("sending reply %s failed", row.id)
            error = ServiceError(
                _("Mailroom hit an unexpected error while sending ({error}).").format(
                    error=type(exc).__name__
                )
            )
            self._mark(row.id, MessageState.FAILED, error.message)  # type: ignore[arg-type]
            self._tell_failure(row, error)
            return False
        self._mark(row.id, MessageState.SENT, None)  # type: ignore[arg-type]
        count_reply(self.ctx.metrics, "sent")
        self._react(row.source_channel, row.source_ts, SENT_REACTION)
        self._update_notice(row, *held_reply_done_blocks(row, "sent"))
        self._confirm(
            row, [str(a) for a in email["To"].addresses] + split_addresses(row.cc_addresses)
        )
        self._append_to_sent(mailbox, email.as_bytes())
        for hook in self.sent_hooks:
            try:
                hook(mailbox, row)
            except Exception:
                log.exception("sent hook failed for message %s", row.id)
        return True

    def _compose(self, mailbox: Mailbox, row: Message) -> Any:
        resolve = self._resolve_user
        footer = self.footer(mailbox, row.author_id or "")
        return compose_email(
            sender_name=mailbox.sender_name or mailbox.address,
            sender_address=mailbox.address,
            to=split_addresses(row.to_addresses),
            cc=split_addresses(row.cc_addresses),
            to_names=self._recipient_names(row),
            subject=row.subject,
            in_reply_to=row.in_reply_to,
            references=(row.references or "").split(),
            text=slack_to_plain(row.body_text or "", resolve),
            html=slack_to_html(row.body_text or "", resolve),
            message_id=row.message_id,
            footer_text=footer.text,
            footer_html=footer.html,
            attachments=self._download_files(row),
        )

    def _resolve_user(self, user_id: str) -> str:
        return self.ctx.roles.user(user_id).name or user_id

    def _recipient_names(self, row: Message) -> dict[str, str]:
        """Display names the customer's own mail gave for the addresses a reply goes to."""
        names: dict[str, str] = {}
        with self.ctx.db.session() as session:
            conversation = session.get(Conversation, row.conversation_id)
            if conversation is not None and conversation.customer_name:
                names[conversation.customer_address.lower()] = conversation.customer_name
            senders = session.exec(
                select(Message.from_address, Message.from_name)
                .where(
                    Message.conversation_id == row.conversation_id,
                    Message.direction == "in",
                )
                .order_by(col(Message.id))  # the newest mail's name wins
            ).all()
        for address, name in senders:
            if name:
                names[address.lower()] = name
        # A name that is just the address again (no display name given) adds nothing.
        return {a: n for a, n in names.items() if n.strip().lower() != a}

    def _download_files(self, row: Message) -> list[OutgoingAttachment]:
        """The reply's Slack files, fetched only from Slack's own file host (see
        bot.slack_files); links to files kept elsewhere are left out and listed."""
        cap = self.ctx.settings.attachment_max_bytes
        out: list[OutgoingAttachment] = []
        for item in _stored_files(row):
            if item.get("remote") or not item.get("url"):
                continue
            if item.get("size", 0) > cap:
                raise UserError(
                    _(
                        "The file {name} is larger than the {limit} attachment limit. Share a "
                        "link to it instead and post the reply again."
                    ).format(name=item["name"], limit=size_limit_text(cap))
                )
            data = download_slack_file(
                self.ctx.settings,
                item["url"],
                name=item["name"],
                max_bytes=cap,
                too_large_hint=_("Share a link to it instead and post the reply again."),
            )
            out.append(OutgoingAttachment(item["name"], item["mimetype"], data))
        return out

    def _confirm(self, row: Message, recipients: list[str]) -> None:
        """Say in the thread who the reply went to: a diverted reply is seen at once."""
        left_out = [f["name"] for f in _stored_files(row) if f.get("remote") or not f.get("url")]
        text, blocks = sent_confirmation_blocks(recipients, left_out)
        try:
            self.ctx.slack.post(
                row.source_channel or "", text, blocks=blocks, thread_ts=self._thread_of(row)
            )
        except SlackApiError as exc:
            log.warning("could not confirm a sent reply: %s", exc.response.get("error"))

    def _append_to_sent(self, mailbox: Mailbox, raw: bytes) -> None:
        """Keep a copy in the mailbox's Sent folder, like a mail client would.

        Gmail files SMTP submissions in Sent by itself, so appending would show it twice.
        """
        if mailbox.provider == Provider.GOOGLE:
            return
        try:
            with ImapSession(self.ctx.mailboxes.imap_settings(mailbox)) as imap:
                folder = imap.find_sent_folder()
                if folder:
                    imap.append(folder, raw)
        except MailroomError as exc:
            log.warning(
                "reply sent, but the copy to Sent failed for mailbox %s: %s",
                mailbox.id,
                exc.message,
            )

    def _mark(self, row_id: int, state: str, error: str | None) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Message, row_id)
            if row is None:
                return
            row.state = state
            if state == MessageState.SENT:
                row.sent_at = utcnow()
            row.error = error
            row.updated_at = utcnow()
            session.add(row)

    def _tell_failure(self, row: Message, error: MailroomError) -> None:
        text, blocks = send_failed_blocks(row, error.message)
        try:
            self.ctx.slack.post(
                row.source_channel or "", text, blocks=blocks, thread_ts=self._thread_of(row)
            )
        except SlackApiError as exc:
            log.warning("could not report a failed send: %s", exc.response.get("error"))

    def _thread_of(self, row: Message) -> str | None:
        with self.ctx.db.session() as session:
            conversation = session.get(Conversation, row.conversation_id)
            return conversation.thread_ts if conversation else None

    def _react(self, channel: str | None, ts: str | None, name: str) -> None:
        if not channel or not ts or ts.startswith(COMPOSED):
            return  # a mail written in the compose modal has no Slack message to mark
        try:
            self.ctx.slack.react(channel, ts, name)
        except SlackApiError as exc:
            log.info("reaction %s failed: %s", name, exc.response.get("error"))

    def retry(self, message_row_id: int, user_id: str) -> str | None:
        """The "Try again" button: requeue a failed reply. Returns a refusal or None."""
        with self.ctx.db.session() as session:
            row = session.get(Message, message_row_id)
            if row is None or row.state != MessageState.FAILED:
                return _("That reply is no longer waiting to be retried.")
            if row.author_id != user_id and not self.ctx.roles.is_admin(user_id):
                return _("Only the author of the reply (or an admin) can send it again.")
            mailbox = session.get(Mailbox, row.mailbox_id)
        refusal = self._refusal(user_id, mailbox) if mailbox else _("The mailbox no longer exists.")
        if refusal:
            return refusal
        with self.ctx.db.session() as session:
            session.exec(
                update(Message)
                .where(col(Message.id) == message_row_id, col(Message.state) == MessageState.FAILED)
                .values(state=MessageState.PENDING_SEND)
            )
        self.send(message_row_id)
        return None

    # --- After a restart ------------------------------------------------------------------

    def recover(
        self,
        mine: Callable[[int], bool] | None = None,
        sending_stale: timedelta | None = None,
    ) -> None:
        """Finish what a previous process accepted from Slack but did not finish: the thread
        messages stored at ack time and not yet handled, and the replies recorded but not
        (known to be) sent.

        With several workers (bot.jobs) this is also each worker's pickup: ``mine`` limits it
        to the mailboxes the worker holds, and a reply SENDING for less than
        ``sending_stale`` may still be in another worker's hands, so it is left alone."""
        # The unfinished replies are listed first, so that the list holds only the previous
        # process's: a reply this process records meanwhile is being sent by its own worker.
        unfinished = [
            row
            for row in self._unfinished_replies()
            if (mine is None or mine(row.mailbox_id)) and not self._in_flight(row, sending_stale)
        ]
        with self.ctx.db.session() as session:
            waiting: Sequence[tuple[int | None, str, str]] = session.exec(
                select(ReplyInbox.id, ReplyInbox.channel_id, ReplyInbox.event_json)
                .where(ReplyInbox.done == False)  # noqa: E712
                .order_by(col(ReplyInbox.id))
            ).all()
            if mine is not None:
                waiting = [row for row in waiting if _inbox_is_mine(session, row[1], row[2], mine)]
        for inbox_id, _channel, _event in waiting:
            if inbox_id is None:
                continue
            try:
                self.handle_thread_message(inbox_id)
            except Exception:
                log.exception("re-processing thread message %s failed", inbox_id)
        self._prune_inbox()
        for row in unfinished:
            if row.state == MessageState.SENDING:
                if self._copy_in_sent(row):
                    # It went out before the crash; only the bookkeeping was lost.
                    self._mark(row.id, MessageState.SENT, None)  # type: ignore[arg-type]
                    self._react(row.source_channel, row.source_ts, SENT_REACTION)
                    continue
                with self.ctx.db.session() as session:
                    session.exec(
                        update(Message)
                        .where(col(Message.id) == row.id)
                        .values(state=MessageState.PENDING_SEND)
                    )
            for prepare in self.before_recovered_send:
                try:
                    prepare(row)
                except Exception:
                    # The mail itself matters more than its Slack post: it is still sent.
                    log.exception("preparing recovered reply %s failed", row.id)
            if row.send_after is not None and _aware(row.send_after) > utcnow():
                # Still in its undo window or scheduled for later: wait for its time.
                self.schedule(row.id, row.send_after)  # type: ignore[arg-type]
                continue
            # Due (its window passed while Mailroom was down): sent now, once.
            self.send(row.id)  # type: ignore[arg-type]

    def _in_flight(self, row: Message, sending_stale: timedelta | None) -> bool:
        """A SENDING reply this process is sending now, or (with several workers) one
        another worker may still be sending."""
        if row.state != MessageState.SENDING:
            return False
        with self._claiming:
            if row.id in self._sending:
                return True
        if sending_stale is None or row.updated_at is None:
            return False
        updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
        return utcnow() - updated < sending_stale

    def _unfinished_replies(self) -> list[Message]:
        with self.ctx.db.session() as session:
            return list(
                session.exec(
                    select(Message)
                    .where(
                        Message.direction == "out",
                        col(Message.state).in_([MessageState.PENDING_SEND, MessageState.SENDING]),
                    )
                    .order_by(col(Message.id))
                ).all()
            )

    def _prune_inbox(self) -> None:
        """Forget handled thread messages once Slack can no longer retry them."""
        with self.ctx.db.session() as session:
            session.exec(
                delete(ReplyInbox).where(
                    col(ReplyInbox.done).is_(True),
                    col(ReplyInbox.received_at) < utcnow() - INBOX_KEEP,
                )
            )

    def _copy_in_sent(self, row: Message) -> bool:
        mailbox = self.ctx.mailboxes.get(row.mailbox_id)
        if mailbox is None:
            return False
        try:
            with ImapSession(self.ctx.mailboxes.imap_settings(mailbox)) as imap:
                folder = imap.find_sent_folder()
                return bool(folder and imap.find_by_message_id(folder, row.message_id))
        except MailroomError:
            return False


def _inbox_is_mine(
    session: Session, channel: str, event_json: str, mine: Callable[[int], bool]
) -> bool:
    """Whether a waiting thread message belongs to a mailbox this worker holds (one with
    no conversation any more is closed by whoever finds it)."""
    mailbox_id = _mailbox_of_thread(session, channel, event_json)
    return mailbox_id is None or mine(mailbox_id)


def _mailbox_of_thread(session: Session, channel: str, event_json: str) -> int | None:
    """The mailbox of the conversation a stored thread message (its Slack event) is in."""
    thread_ts = json.loads(event_json).get("thread_ts")
    return session.exec(
        select(Conversation.mailbox_id).where(
            Conversation.channel_id == channel, Conversation.thread_ts == thread_ts
        )
    ).first()


def reply_files(event: dict[str, Any]) -> list[dict[str, Any]]:
    """What a reply needs to know of each Slack file shared with it (stored with the reply)."""
    return [stored_file(f) for f in event.get("files") or []]


def _stored_files(row: Message) -> list[dict[str, Any]]:
    return json.loads(row.files_json) if row.files_json else []


def _checked_recipients(row: Message) -> list[str]:
    """The reply's recipients, refused when there are none or too many to be genuine."""
    recipients = split_addresses(row.to_addresses) + split_addresses(row.cc_addresses)
    if not recipients:
        raise UserError(_("This conversation has no customer address to reply to."))
    if len(recipients) > MAX_REPLY_RECIPIENTS:
        raise UserError(
            ngettext(
                "Nothing was sent: the customer's newest mail asks for answers to go to "
                "{count} address, and Mailroom replies to at most {limit} so that a forged "
                "mail cannot spread your answer. Check that mail; if those people really "
                "should get it, write to them from your mail client.",
                "Nothing was sent: the customer's newest mail asks for answers to go to "
                "{count} addresses, and Mailroom replies to at most {limit} so that a forged "
                "mail cannot spread your answer. Check that mail; if those people really "
                "should get it, write to them from your mail client.",
                len(recipients),
            ).format(count=len(recipients), limit=MAX_REPLY_RECIPIENTS)
        )
    return recipients


def is_new_sender(db: Database, row: Message) -> bool:
    """Whether an incoming mail comes from an address the thread has not seen before (not
    the customer, nor anyone who wrote, was written to or named in a Reply-To): a forged
    mail with a matching In-Reply-To joins a thread this way and would take the replies."""
    if row.direction != "in" or row.conversation_id is None or not row.from_address:
        return False
    with db.session() as session:
        conversation = session.get(Conversation, row.conversation_id)
        earlier = session.exec(
            select(Message.from_address, Message.to_addresses, Message.reply_to).where(
                Message.conversation_id == row.conversation_id,
                col(Message.id) < row.id,
            )
        ).all()
    if conversation is None or not earlier:
        return False  # the thread's first mail
    known = {conversation.customer_address.lower()}
    for sender, to, reply_to in earlier:
        known.add(sender.lower())
        known.update(a.lower() for a in split_addresses(to) + split_addresses(reply_to))
    return row.from_address.lower() not in known


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _undo_refusal(row: Message, user_id: str) -> str:
    if row.author_id != user_id:
        return _("Only the person who wrote this reply can undo or reschedule it.")
    if row.state == MessageState.CANCELLED:
        return _("This reply was already undone; nothing was sent.")
    return _("Too late: this reply has already been sent (or is being sent right now).")


def _reply_targets(parent: Message | None, conversation: Conversation) -> list[str]:
    """Reply-To when the customer set one, else their From (recorded at ingest)."""
    if parent is not None:
        if parent.reply_to:
            return [a.strip() for a in parent.reply_to.split(",") if a.strip()]
        if parent.from_address:
            return [parent.from_address]
    return [conversation.customer_address] if conversation.customer_address else []
