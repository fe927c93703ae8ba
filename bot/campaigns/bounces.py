"""Delivery status notifications (RFC 3464) arriving in a marketing mailbox's INBOX.

A DSN is a ``multipart/report; report-type=delivery-status`` whose
``message/delivery-status`` part has one block per recipient (``Final-Recipient``,
``Action``, ``Status``, ``Diagnostic-Code``) and usually the original headers (for the
Message-ID our ledger recorded). A permanent failure (``Action: failed``, status 5.x.x)
suppresses the address for the whole workspace; a temporary one is only counted.
Auto-replies ("out of office") are not bounces and are left alone.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import col, select

from bot.campaigns.unsubscribe import suppress
from bot.formatting.inbound import InboundEmail
from locales import _, speaking
from providers.imap import ImapSession
from storage.models import Campaign, CampaignRecipient, CampaignState, Mailbox, MailboxKind
from storage.models import Message as MessageRow

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)

MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")
STATUS_RE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# A campaign pauses itself once this share of its sent mail bounced hard (after MIN_SENT).
BOUNCE_PAUSE_RATE = 0.05
BOUNCE_PAUSE_MIN_SENT = 100


@dataclass
class Bounce:
    recipient: str
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # 5.1.1
    diagnostic: str
    original_message_id: str | None

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")


def _address(value: str) -> str:
    # "rfc822; ana@example.com" (the address type is optional in the wild).
    value = value.split(";", 1)[1] if ";" in value else value
    return value.strip().strip("<>").lower()


def parse_dsn(raw: bytes) -> list[Bounce]:
    """The recipients a DSN reports on; empty when ``raw`` is not a delivery-status report."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:  # unparseable: not a delivery report
        return []
    if msg.get_content_type() != "multipart/report":
        return []
    if str(msg.get_param("report-type") or "").lower() != "delivery-status":
        return []
    blocks: list[EmailMessage] = []
    original_id: str | None = None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            blocks = _status_blocks(part)
        elif ctype in ("text/rfc822-headers", "message/rfc822", "message/rfc822-headers"):
            original_id = original_id or _original_message_id(part)
    bounces: list[Bounce] = []
    for block in blocks[1:] if len(blocks) > 1 else blocks:
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient") or ""
        if not recipient.strip():
            continue
        status_match = STATUS_RE.search(block.get("Status") or "")
        bounces.append(
            Bounce(
                recipient=_address(recipient),
                action=(block.get("Action") or "").strip().lower(),
                status=".".join(status_match.groups()) if status_match else "",
                diagnostic=" ".join((block.get("Diagnostic-Code") or "").split())[:500],
                original_message_id=original_id,
            )
        )
    return bounces


def _status_blocks(part: EmailMessage) -> list[EmailMessage]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, EmailMessage)]
    # Some mailers send it base64-encoded or as a plain string: parse the field blocks.
    decoded = part.get_payload(decode=True)
    text = decoded if isinstance(decoded, bytes) else b""
    chunks = re.split(rb"\r?\n\s*\r?\n", text)
    return [email.message_from_bytes(c.strip() + b"\n") for c in chunks if c.strip()]


def _original_message_id(part: EmailMessage) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], EmailMessage):
        value = payload[0].get("Message-ID")
    else:
        decoded = part.get_payload(decode=True)
        raw = decoded if isinstance(decoded, bytes) else b""
        value = email.message_from_bytes(raw).get("Message-ID")
    match = MESSAGE_ID_RE.search(str(value or ""))
    return match.group(0) if match else None


# --- Applying a DSN ----------------------------------------------------------------------------


def apply_dsn(ctx: AppContext, mailbox: Mailbox, raw: bytes) -> list[tuple[str, str]]:
    """Record a DSN against the ledger; returns (address, "hard"|"soft") for what matched."""
    applied: list[tuple[str, str]] = []
    for bounce in parse_dsn(raw):
        if bounce.action not in ("failed", "delayed"):
            continue
        row = _ledger_row(ctx, mailbox, bounce)
        if row is None:
            continue
        kind = "hard" if bounce.hard else "soft"
        table = CampaignRecipient.__table__  # type: ignore[attr-defined]
        with ctx.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == row.id, table.c.bounce != "hard")
                .values(bounce=kind, error=f"Bounced {bounce.status}: {bounce.diagnostic}"[:1000])
            )
        if bounce.hard:
            suppress(
                ctx,
                mailbox.team_id,
                bounce.recipient,
                "hard_bounce",
                row.campaign_id,
                bounce.diagnostic,
            )
            pause_if_bouncing(ctx, row.campaign_id)
        applied.append((bounce.recipient, kind))
    return applied


def _ledger_row(ctx: AppContext, mailbox: Mailbox, bounce: Bounce) -> CampaignRecipient | None:
    """The ledger row a bounce is about: by the original Message-ID, else the most recent
    campaign of this mailbox that mailed the address."""
    with ctx.db.session() as session:
        query = (
            select(CampaignRecipient)
            .join(Campaign, col(Campaign.id) == CampaignRecipient.campaign_id)
            .where(Campaign.mailbox_id == mailbox.id, CampaignRecipient.address == bounce.recipient)
        )
        if bounce.original_message_id:
            exact = session.exec(
                query.where(CampaignRecipient.message_id == bounce.original_message_id)
            ).first()
            if exact is not None:
                return exact
        return session.exec(query.order_by(col(CampaignRecipient.id).desc())).first()


def _bounce_note(hard: int, sent: int) -> str:
    return _(
        "Paused by Mailroom: {hard} of {sent} messages bounced ({share}). Clean the audience "
        "(the bounced addresses are suppressed already), then Resume."
    ).format(hard=hard, sent=sent, share=f"{hard / sent:.0%}")


def pause_if_bouncing(ctx: AppContext, campaign_id: int) -> None:
    from bot.campaigns import ledger

    counts = ledger.counts(ctx, campaign_id)
    sent = counts.get("sent", 0)
    with ctx.db.session() as session:
        hard = len(
            session.exec(
                select(CampaignRecipient.id).where(
                    CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.bounce == "hard"
                )
            ).all()
        )
    if sent < BOUNCE_PAUSE_MIN_SENT or hard / max(sent, 1) < BOUNCE_PAUSE_RATE:
        return
    table = Campaign.__table__  # type: ignore[attr-defined]
    # Stored for the progress message in the channel (the workspace language, as this job).
    note = _bounce_note(hard, sent)
    with ctx.db.engine.begin() as conn:
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign_id, table.c.state == CampaignState.SENDING.value)
            .values(state=CampaignState.PAUSED.value, note=note)
        ).rowcount
    if moved:
        with ctx.db.session() as session:
            row = session.get(Campaign, campaign_id)
        if row is not None:
            # The owner's DM: in the owner's language.
            with speaking(ctx.languages.of(row.created_by)):
                ctx.slack.dm(row.created_by, _bounce_note(hard, sent))
            engine = ctx.campaigns
            if engine is not None:
                engine.publish_progress(row, force=True)


# --- The sync hook -----------------------------------------------------------------------------


def ingest_hook(ctx: AppContext):
    """``ctx.sync.ingest_hooks`` entry: a bounce in a marketing mailbox is read in full (the
    delivery-status part is not kept by the sync) by a background job, never in the sync."""

    def hook(mailbox: Mailbox, row: MessageRow, parsed: InboundEmail) -> None:
        if mailbox.kind != MailboxKind.MARKETING or parsed.auto_kind != "bounce":
            return
        if row.direction != "in" or row.uid is None or not row.folder:
            return
        from bot.campaigns.sending import in_background

        in_background(
            ctx, f"campaign-bounce:{row.id}", read_bounce, ctx, mailbox.id, row.folder, row.uid
        )

    return hook


def read_bounce(ctx: AppContext, mailbox_id: int, folder: str, uid: int) -> None:
    mailbox = ctx.mailboxes.get(mailbox_id)
    if mailbox is None:
        return
    with ImapSession(ctx.mailboxes.imap_settings(mailbox)) as imap:
        fetched = list(imap.fetch(folder, [uid]))
    for message in fetched:
        applied = apply_dsn(ctx, mailbox, message.raw)
        if applied:
            log.info("campaign bounces recorded for mailbox %s: %d", mailbox_id, len(applied))
