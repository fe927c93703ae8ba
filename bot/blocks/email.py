"""How an email looks in Slack: the thread's root post, later mails, "Show full" modal."""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.common import (
    SECTION_LIMIT,
    Block,
    actions,
    button,
    context,
    human_size,
    modal,
    section,
    slack_date,
)
from bot.blocks.inbox import triage_blocks
from bot.formatting.inbound import InboundEmail
from bot.formatting.outbound import MAX_REPLY_RECIPIENTS, foreign_reply_to
from bot.formatting.slack_text import escape, split_escaped, truncate
from locales import N_, _, ngettext
from storage.models import Mailbox, MailboxKind, Message, ThreadStatus

AUTO_LABELS = {
    "auto-reply": N_(
        ":robot_face: Automatic reply — replies in this thread are not sent automatically."
    ),
    "bounce": N_(":warning: Delivery failure notice (bounce) from the mail system."),
}
SUMMARY_LIMIT = 2800
NOTE_LIMIT = 900  # one warning or recipients line; three fit a 3,000-character section


def sender_line(parsed: InboundEmail) -> str:
    name = escape(parsed.from_name or parsed.from_address or _("unknown sender"))
    address = escape(parsed.from_address)
    return f"*{name}* &lt;{address}&gt;" if address and parsed.from_name else f"*{name}*"


def email_post_blocks(
    parsed: InboundEmail,
    mailbox: Mailbox,
    *,
    show_full_ref: str | None,
    root: bool,
    sent_copy: bool = False,
    new_sender: bool = False,
    attachment_cap: int = 10 * 1024 * 1024,
) -> tuple[str, list[Block]]:
    """The post for one email. Every piece of email text is escaped before it is placed.

    A mail from outside also says where a reply in the thread will go (its Reply-To, else
    its sender), with a warning when that differs from the sender's domain, when the sender
    is new to the thread, or when there are more recipients than Mailroom replies to.
    """
    subject = escape(parsed.subject or _("(no subject)"))
    summary_source = parsed.summary or parsed.text or ""
    summary = truncate(escape(summary_source.strip()) or _("_(empty message)_"), SUMMARY_LIMIT)
    date = slack_date(parsed.date, words=False) if parsed.date else _("date unknown")
    if sent_copy:
        listed = ", ".join(escape(a) for a in parsed.to)
        address = escape(mailbox.address)
        if not listed:
            headline = _("Sent from {mailbox} with a mail client to unknown recipient").format(
                mailbox=address
            )
        elif parsed.to_more:
            headline = _(
                "Sent from {mailbox} with a mail client to {recipients} and {more} more"
            ).format(mailbox=address, recipients=listed, more=f"{parsed.to_more:,}")
        else:
            headline = _("Sent from {mailbox} with a mail client to {recipients}").format(
                mailbox=address, recipients=listed
            )
        headline = ":outbox_tray: " + headline
    else:
        headline = f":incoming_envelope: {sender_line(parsed)}"
    blocks: list[Block] = [
        section(f"{headline}\n*{subject}*" if root else headline),
        section(summary),
    ]
    if not sent_copy:
        copied = copied_line(parsed, mailbox)
        blocks.append(context(reply_target_line(parsed), *([copied] if copied else [])))
        warnings = reply_warnings(parsed, new_sender=new_sender)
        if warnings:
            blocks.append(section("\n".join(warnings)))
    notes: list[str] = []
    if parsed.auto_kind in AUTO_LABELS:
        notes.append(_(AUTO_LABELS[parsed.auto_kind]))
    large = [a for a in parsed.attachments if a.size > attachment_cap]
    for attachment in large[:3]:
        notes.append(
            ":paperclip: "
            + _("{name} ({size}) is too large to upload here; open it in the mailbox.").format(
                name=escape(attachment.filename), size=human_size(attachment.size)
            )
        )
    unlisted = [a for a in parsed.attachments if a.skipped == "too_many"] + large[3:]
    if unlisted:
        notes.append(not_uploaded_note(unlisted))
    for problem in parsed.problems[:3]:
        notes.append(f":grey_question: {escape(problem)}")
    notes.append(f"{date} · {escape(mailbox.address)}")
    blocks.append(context(*notes[:10]))
    trimmed = (
        summary_source.strip() != (parsed.text or "").strip()
        or len(escape(summary_source)) > SUMMARY_LIMIT
    )
    if show_full_ref is not None and trimmed:
        blocks.append(actions(button(_("Show full email"), "email_show_full", show_full_ref)))
    if root and mailbox.kind != MailboxKind.MARKETING:
        # A new thread: who has it and where it stands, kept current by bot.inbox (not for
        # marketing mailboxes, which never answer from Slack).
        blocks += triage_blocks(ThreadStatus.WAITING if sent_copy else ThreadStatus.OPEN, None)
    return truncate(notification_text(parsed, mailbox, sent_copy, subject), 300), blocks


def notification_text(parsed: InboundEmail, mailbox: Mailbox, sent_copy: bool, subject: str) -> str:
    """What phones show: the sender's name as the post shows it; our own mail "Sent by"."""
    if sent_copy:
        name = parsed.from_name or mailbox.sender_name or parsed.from_address or mailbox.address
        return _("Sent by {name}: {subject}").format(name=escape(name), subject=subject)
    name = parsed.from_name or parsed.from_address or _("unknown sender")
    return _("Email from {name}: {subject}").format(name=escape(name), subject=subject)


NOT_UPLOADED_LISTED = 15


def not_uploaded_note(files: list[Any]) -> str:
    """One line naming the files that were not uploaded (past the per-mail cap or too big)."""
    names = ", ".join(
        f"{escape(a.filename)} ({human_size(a.size)})" for a in files[:NOT_UPLOADED_LISTED]
    )
    n = len(files)
    if n > NOT_UPLOADED_LISTED:
        sentence = ngettext(
            "{n} more file not uploaded here: {names} and {more} more. Open them in the mailbox.",
            "{n} more files not uploaded here: {names} and {more} more. Open them in the mailbox.",
            n,
        )
    else:
        sentence = ngettext(
            "{n} more file not uploaded here: {names}. Open them in the mailbox.",
            "{n} more files not uploaded here: {names}. Open them in the mailbox.",
            n,
        )
    text = sentence.format(n=f"{n:,}", names=names, more=f"{n - NOT_UPLOADED_LISTED:,}")
    return truncate(":paperclip: " + text, 2000)


def recipients_text(addresses: list[str], shown: int = MAX_REPLY_RECIPIENTS) -> str:
    """Escaped ``a@x, b@y and 3 more`` for a post or a confirmation."""
    listed = ", ".join(escape(a) for a in addresses[:shown]) or _("nobody")
    rest = len(addresses) - shown
    if rest > 0:
        return _("{listed} and {rest} more").format(listed=listed, rest=rest)
    return listed


def reply_target_line(parsed: InboundEmail) -> str:
    """Where a reply in the thread goes while this is the newest mail from outside."""
    line = ":leftwards_arrow_with_hook: " + _("Replies in this thread go to {recipients}").format(
        recipients=recipients_text(parsed.reply_addresses)
    )
    return truncate(line, NOTE_LIMIT)


def copied_line(parsed: InboundEmail, mailbox: Mailbox) -> str:
    """Who else the mail went to (To/Cc, minus the mailbox): an `all:` reply copies them."""
    own = mailbox.address.lower()
    answered = {a.lower() for a in parsed.reply_addresses}
    seen: set[str] = set()
    copied = []
    for address in [*parsed.to, *parsed.cc]:
        key = address.lower()
        if key != own and key not in answered and key not in seen:
            seen.add(key)
            copied.append(address)
    if not copied:
        return ""
    line = ":busts_in_silhouette: " + _(
        "Copied: {recipients}. Start a reply with `all:` to answer them too."
    ).format(recipients=recipients_text(copied))
    return truncate(line, NOTE_LIMIT)


def reply_warnings(parsed: InboundEmail, *, new_sender: bool) -> list[str]:
    """What a person must check before replying: a Reply-To outside the sender's domain, a
    sender new to the thread, more recipients than Mailroom replies to."""
    targets = parsed.reply_addresses
    notes: list[str] = []
    elsewhere = foreign_reply_to(parsed.reply_to, parsed.from_address)
    if elsewhere:
        notes.append(
            ":warning: "
            + _(
                "*Check before replying:* this mail asks for answers to go to "
                "{recipients}, not to the sender's domain ({domain})."
            ).format(
                recipients=recipients_text(elsewhere),
                domain=escape(parsed.from_address.rpartition("@")[2] or _("unknown")),
            )
        )
    if new_sender:
        notes.append(
            ":warning: "
            + _(
                "*New in this thread:* {sender} has not written here before. Make sure the "
                "mail is genuine before replying."
            ).format(sender=escape(parsed.from_address or _("the sender")))
        )
    if len(targets) > MAX_REPLY_RECIPIENTS:
        notes.append(
            ":no_entry: "
            + _(
                "Replies would go to {n} addresses; Mailroom sends a reply "
                "to at most {limit}, so a reply here will not be sent."
            ).format(n=len(targets), limit=MAX_REPLY_RECIPIENTS)
        )
    return [truncate(note, NOTE_LIMIT) for note in notes]


def plain_fallback_text(parsed: InboundEmail) -> str:
    """A post with no blocks, for the rare mail whose blocks Slack refuses."""
    sender = escape(parsed.from_address or parsed.from_name or _("unknown sender"))
    body = truncate(escape((parsed.summary or parsed.text or "").strip()), 3500)
    return f":incoming_envelope: {sender}: *{escape(parsed.subject or _('(no subject)'))}*\n{body}"


def full_email_modal(subject: str, sender: str, body: str) -> dict[str, Any]:
    """The whole text of a mail, split over sections (Slack caps each at 3,000 chars)."""
    # Split after escaping, on entity boundaries, so no "&amp;" is cut in two.
    pieces = split_escaped(escape(body or _("(empty message)")), SECTION_LIMIT - 100)
    blocks: list[Block] = [
        section(
            f"*{escape(subject or _('(no subject)'))}*\n"
            + _("From {sender}").format(sender=escape(sender))
        )
    ]
    limit = 95
    blocks += [section(piece) for piece in pieces[:limit]]
    if len(pieces) > limit:
        blocks.append(
            context(_("The rest of this email is too long for Slack; open it in the mailbox."))
        )
    return modal(_("Email"), blocks, callback_id="email_full", submit=None, close=_("Close"))


def sync_failure_blocks(mailbox: Mailbox, reason: str) -> tuple[str, list[Block]]:
    # The reason can quote the mail server's answer: remote text, escaped in the
    # notification text as well as in the block.
    text = escape(
        ":warning: "
        + _(
            "Mailroom cannot sync {address}: {reason} "
            "New mail is not reaching Slack until this is fixed."
        ).format(address=mailbox.address, reason=reason)
    )
    fix = button(_("Reconnect"), "mailbox_reconnect", str(mailbox.id), style="primary")
    return text, [
        section(text),
        actions(button(_("Retry now"), "mailbox_sync_now", str(mailbox.id)), fix),
    ]


def mail_failure_blocks(row: Message, reason: str) -> tuple[str, list[Block]]:
    """The notice in a channel for one mail that could not be shown, with a Retry button."""
    sender = escape(row.from_name or row.from_address or _("unknown sender"))
    subject = escape(row.subject or _("(no subject)"))
    text = truncate(
        ":warning: "
        + _(
            "An email from {sender} ({subject}) could not be shown here: "
            "{reason} It is still in the mailbox. Press Retry to try again."
        ).format(sender=sender, subject=subject, reason=escape(reason)),
        2900,
    )
    return text, [
        section(text),
        actions(button(_("Retry"), "email_ingest_retry", str(row.id))),
    ]


def mail_failure_admin_text(
    mailbox: Mailbox, row: Message, reason: str, channel: str | None
) -> str:
    # Only a well-formed id goes inside <#...>: anything else could carry markup.
    shown = channel and re.fullmatch(r"[CG][A-Z0-9_]{2,30}", channel)
    where = (
        " " + _("The notice in {channel} has a Retry button.").format(channel=f"<#{channel}>")
        if shown
        else ""
    )
    sender = escape(row.from_name or row.from_address or _("unknown sender"))
    text = _(
        "An email to {address} from {sender} could not be shown in "
        "Slack after several tries: {reason} Later mail is not held up."
    ).format(address=escape(mailbox.address), sender=sender, reason=escape(reason))
    return truncate(f":warning: {text}{where}", 2900)


def sync_recovered_text(mailbox: Mailbox) -> str:
    return ":white_check_mark: " + _(
        "{address} is syncing again; new mail will reach Slack as usual."
    ).format(address=escape(mailbox.address))
