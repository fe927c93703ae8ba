"""Posting recorded mail to Slack, exactly once: database → Slack threads.

A mail is posted only once it is recorded (``bot.sync.recording``, state
``MessageState.PENDING_POST``), and the post is reconciled against Slack after a crash: a
post Slack accepted but we did not get to record is found again by its metadata
(``SLACK_METADATA_EVENT``) instead of being posted twice. So a kill at any moment neither
loses nor doubles a message.

Slack's refusals are told apart: one about this mail's content is retried as plain text and
then sets the mail aside (``bot.sync.set_aside``); one about the channel, the token or Slack
itself fails the mailbox's sync, which is retried as a whole.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from sqlmodel import col, select

from bot.blocks.email import email_post_blocks, plain_fallback_text
from bot.email_access import show_full_reference
from bot.formatting.inbound import Attachment, InboundEmail
from bot.metrics import observe_post
from bot.replies import is_new_sender
from bot.sync.recording import parse
from bot.sync.set_aside import count_failure
from locales import _, speaking
from providers.errors import MailroomError, ServiceError
from providers.imap import ImapSession
from storage.models import Conversation, Mailbox, Message, MessageState, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core
    from bot.ownership import Ownership
    from bot.sync.set_aside import SetAside

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


class MailFailure(Exception):
    """One mail cannot be shown; the mailbox's other mail can."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Poster:
    """Posts recorded mail into its thread, with its attachments, fenced on the lease."""

    def __init__(self, ctx: Core, ownership: Ownership, set_aside: SetAside) -> None:
        self.ctx = ctx
        # Checked right before each post: a worker that lost the lease posts nothing.
        self.ownership = ownership
        self.set_aside = set_aside

    def post_pending(self, mailbox: Mailbox, imap: ImapSession | None = None) -> int:
        """Post what a previous run (or a crashed process) recorded but did not post."""
        with self.ctx.db.session() as session:
            rows = session.exec(
                select(Message)
                .where(Message.mailbox_id == mailbox.id, Message.state == MessageState.PENDING_POST)
                .order_by(col(Message.id))
            ).all()
        posted = 0
        for row in rows:
            parsed = self._reload(row, imap)
            posted += self.post_isolated(mailbox, row, parsed)
        self.set_aside.announce_unannounced(mailbox)
        return posted

    def _reload(self, row: Message, imap: ImapSession | None) -> InboundEmail:
        if imap is not None and row.folder and row.uid:
            try:
                status = imap.status(row.folder)
                if status.uidvalidity == row.uidvalidity:
                    for fetched in imap.fetch(row.folder, [row.uid]):
                        return parse(self.ctx.settings, fetched.raw)
            except MailroomError:
                log.info("could not re-fetch message %s; posting its stored text", row.id)
        # The mail is gone from the server: post what we recorded (without attachments).
        return parse(self.ctx.settings, _minimal_raw(row))

    def post_isolated(self, mailbox: Mailbox, row: Message, parsed: InboundEmail) -> int:
        """``_post``, where a failure of this one mail is counted instead of raised."""
        try:
            # The post is read by the mailbox's channel (DMs inside choose their reader's).
            with speaking(self.ctx.languages.of_channel(mailbox.channel_id)):
                return self._post(mailbox, row, parsed)
        except MailFailure as failure:
            log.warning("message %s could not be posted: %s", row.id, failure.reason)
            self._note_post_failure(mailbox, saved_id(row), failure.reason)
            return 0

    def _note_post_failure(self, mailbox: Mailbox, row_id: int, reason: str) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Message, row_id)
            if row is None or row.state != MessageState.PENDING_POST:
                return
            failed = count_failure(row, reason, self.ctx.settings.mail_max_failures)
            session.add(row)
        if failed:
            self.set_aside.announce(mailbox, row)

    def _post(self, mailbox: Mailbox, row: Message, parsed: InboundEmail) -> int:
        """Post one recorded mail into its thread; 1 when posted now, 0 otherwise."""
        with self.ctx.db.session() as session:
            # Checked right before the post: a worker that lost the lease posts nothing.
            self.ownership.fence(session, saved_id(mailbox))
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
                    show_full_ref=show_full_reference(self.ctx.settings, saved_id(row)),
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
        oldest = row.created_at.replace(tzinfo=row.created_at.tzinfo or UTC) - timedelta(minutes=5)
        return self.ctx.slack.find_post(
            channel,
            oldest.timestamp(),
            SLACK_METADATA_EVENT,
            {"message": row.id},
            thread_ts=thread_ts,
        )

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


def _minimal_raw(row: Message) -> bytes:
    from email.message import EmailMessage
    from email.utils import formataddr

    msg = EmailMessage()
    msg["From"] = formataddr((row.from_name, row.from_address))
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id
    msg.set_content(row.body_text or "")
    return msg.as_bytes()
