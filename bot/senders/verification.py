"""Sender verification with Amazon SES: start it, follow it, tell the admin how it ended.

An address is verified when its owner clicks the link AWS mails from no-reply-aws@amazon.com
(the link works for 24 hours); a domain identity ("Set up DKIM with SES") when its three Easy
DKIM CNAMEs resolve (SES gives up after 72 hours). Each started verification is one
``SenderVerification`` row; a scheduled job asks SES about the pending ones, every minute
for the first 10 minutes (when most people click) and every 10 minutes after that, until
the identity is verified, fails or expires. The end is announced once (``Notifier.once``)
to the admin who asked and to MAILROOM_ADMIN_CHANNEL.

A mailbox with ``send_via == "ses"`` depends on this: it cannot be activated, and its
replies are held back, while its address is not verified (by itself or by its domain).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.blocks.senders import (
    verification_outcome_message,
    verification_status_line,
)
from bot.senders.answers import VerifyAnswer
from locales import N_, _, speaking
from providers.errors import MailroomError, UserError
from providers.ses import AccountStatus, IdentityState, SesProvider
from storage.models import Mailbox, SenderVerification, utcnow

if TYPE_CHECKING:
    from bot.core import Core
    from bot.settings import Settings

log = logging.getLogger(__name__)

FOLLOW_JOB = "ses-verify-follow"
FOLLOW_TICK_SECONDS = 60
FAST_PHASE = timedelta(minutes=10)
FAST_INTERVAL = timedelta(minutes=1)
SLOW_INTERVAL = timedelta(minutes=10)
ADDRESS_EXPIRY = timedelta(hours=24)
DOMAIN_EXPIRY = timedelta(hours=72)
PENDING = "PENDING"
SUCCESS = "SUCCESS"
FAILED = "FAILED"
EXPIRED = "EXPIRED"
FINAL_STATUSES = (SUCCESS, FAILED, EXPIRED)

SES_NOT_CONFIGURED = N_(
    "Amazon SES is not configured on this Mailroom server, so it can neither verify sender "
    "addresses nor set up Easy DKIM. Ask whoever runs Mailroom to set MAILROOM_SES_ENABLED=true, "
    "AWS_REGION and AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an "
    "instance or task role allowed to use SES), then restart it."
)


def aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; every one we store is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_domain(identity: str) -> bool:
    return "@" not in identity


def expires_at(row: SenderVerification) -> datetime:
    return aware(row.started_at) + (DOMAIN_EXPIRY if is_domain(row.identity) else ADDRESS_EXPIRY)


def next_check_after(row: SenderVerification, now: datetime) -> datetime:
    """Often while the person is likely at their inbox, then less often, never past expiry."""
    interval = FAST_INTERVAL if now - aware(row.started_at) < FAST_PHASE else SLOW_INTERVAL
    return min(now + interval, expires_at(row))


def require_ses(settings: Settings) -> None:
    """The "not configured" sentence when SES is switched off (no AWS work at all)."""
    if not settings.mailroom_ses_enabled:
        raise UserError(_(SES_NOT_CONFIGURED))


def ses_provider(settings: Settings) -> SesProvider:
    """The SES client for this server, or the "not configured" sentence."""
    require_ses(settings)
    return SesProvider(settings.aws_region, endpoint_url=settings.aws_endpoint_url or None)


def status_from_state(state: IdentityState) -> str:
    """PENDING while SES still waits; SUCCESS/FAILED once it has decided."""
    if state.verified:
        return SUCCESS
    if not state.exists or state.status == FAILED:
        # Deleted in the SES console counts as failed: nothing will ever verify it now.
        return FAILED
    return PENDING


class SenderVerifications:
    def __init__(self, ctx: Core) -> None:
        self.ctx = ctx

    # --- Starting ---------------------------------------------------------------------------

    def provider(self) -> SesProvider:
        return ses_provider(self.ctx.settings)

    def start(
        self,
        team_id: str,
        user_id: str,
        address: str,
        sender_name: str = "",
        *,
        send_via_ses: bool | None = None,
    ) -> VerifyAnswer:
        """Ask SES to verify ``address`` (or say why it need not); record and follow it."""
        provider = self.provider()
        start = provider.start_address_verification(address)
        now = utcnow()
        status = SUCCESS if start.outcome in ("already_verified", "covered_by_domain") else PENDING
        row = self._record(team_id, start.address, user_id, status, now, sender_name=sender_name)
        mailbox = self.mailbox_for(team_id, start.address)
        if mailbox is not None:
            changes: dict[str, object] = {}
            if sender_name and sender_name != mailbox.sender_name:
                changes["sender_name"] = sender_name
            if send_via_ses is not None:
                changes["send_via"] = "ses" if send_via_ses else "smtp"
                # An admin chose SES for this exact address: the pin (see sender_allowed).
                changes["ses_pinned_address"] = mailbox.address if send_via_ses else None
            if changes:
                mailbox = self.change_mailbox(mailbox.id, **changes)  # type: ignore[arg-type]
            else:
                self.changed(mailbox.id)  # type: ignore[arg-type]  # App Home: pending now
        return VerifyAnswer(start, row, mailbox, self._account(provider))

    def start_domain(self, team_id: str, user_id: str, domain: str) -> IdentityState:
        """Create the SES domain identity (Easy DKIM) and follow it until verified."""
        state = self.provider().create_domain_identity(domain)
        status = status_from_state(state)
        self._record(team_id, state.identity, user_id, status, utcnow(), keep_started=True)
        return state

    def _account(self, provider: SesProvider) -> AccountStatus | None:
        """Best effort: whether the account may send at all (a paused account is worth saying)."""
        try:
            return provider.account_status()
        except MailroomError as exc:
            log.info("SES account status unavailable: %s", exc.message)
            return None

    def _record(
        self,
        team_id: str,
        identity: str,
        user_id: str,
        status: str,
        now: datetime,
        *,
        sender_name: str = "",
        keep_started: bool = False,
    ) -> SenderVerification:
        """Upsert the row for (team, identity); a new round starts its clock again."""
        for _attempt in range(
            2
        ):  # a concurrent insert of the same identity: read it back and update
            try:
                with self.ctx.db.session() as session:
                    row = self._row(session, team_id, identity) or SenderVerification(
                        team_id=team_id, identity=identity
                    )
                    same_round = keep_started and row.id is not None and row.status == PENDING
                    if not same_round:
                        row.started_at = now
                        row.notified_status = status if status in FINAL_STATUSES else None
                    row.requested_by = user_id or row.requested_by
                    row.sender_name = sender_name or row.sender_name
                    row.status = status
                    row.checked_at = now
                    row.next_check_at = next_check_after(row, now) if status == PENDING else None
                    session.add(row)
                    return row
            except IntegrityError:
                continue
        raise MailroomError(_("Mailroom could not record the verification; try again."))

    @staticmethod
    def _row(session: object, team_id: str, identity: str) -> SenderVerification | None:
        return session.exec(  # type: ignore[attr-defined]
            select(SenderVerification).where(
                SenderVerification.team_id == team_id,
                func.lower(SenderVerification.identity) == identity.lower(),
            )
        ).first()

    # --- Reading ----------------------------------------------------------------------------

    def row(self, team_id: str, identity: str) -> SenderVerification | None:
        with self.ctx.db.session() as session:
            return self._row(session, team_id, identity)

    def rows(self, team_id: str) -> list[SenderVerification]:
        with self.ctx.db.session() as session:
            return list(
                session.exec(
                    select(SenderVerification)
                    .where(SenderVerification.team_id == team_id)
                    .order_by(col(SenderVerification.identity))
                )
            )

    def mailbox_for(self, team_id: str, address: str) -> Mailbox | None:
        for mailbox in self.ctx.mailboxes.all(team_id or None):
            if mailbox.address.lower() == address.lower():
                return mailbox
        return None

    def stored_verified(self, team_id: str, address: str) -> bool:
        """Verified by itself or by its domain, as last seen (no AWS call)."""
        for identity in (address, address.rpartition("@")[2]):
            row = self.row(team_id, identity)
            if row is not None and row.status == SUCCESS:
                return True
        return False

    def is_verified(self, team_id: str, address: str) -> bool:
        """Stored state first; otherwise ask SES now (the link may have just been clicked)."""
        if self.stored_verified(team_id, address):
            return True
        if not self.ctx.settings.mailroom_ses_enabled:
            return False
        try:
            provider = self.provider()
            for identity in (address, address.rpartition("@")[2]):
                if provider.get_identity(identity).verified:
                    self._settle(team_id, identity, SUCCESS)
                    return True
        except MailroomError as exc:
            log.warning("could not confirm SES verification of %s: %s", address, exc.message)
        return False

    def address_verified(self, team_id: str, address: str) -> bool:
        """Verified for this exact address (its own SES identity, or an admin's /mail-verify
        of it), not merely covered by a verified domain."""
        row = self.row(team_id, address)
        if row is not None and row.status == SUCCESS:
            return True
        if not self.ctx.settings.mailroom_ses_enabled:
            return False
        try:
            if self.provider().get_identity(address).verified:
                self._settle(team_id, address, SUCCESS)
                return True
        except MailroomError as exc:
            log.warning("could not confirm SES verification of %s: %s", address, exc.message)
        return False

    def sender_allowed(self, mailbox: Mailbox) -> bool:
        """May ``mailbox`` send through SES? Its exact address must be verified, or an admin
        must have pinned SES to this very address (then its verified domain is enough). A
        verified domain alone would let anyone who changes a mailbox's address send as any
        address on it (director@...)."""
        pinned = (mailbox.ses_pinned_address or "").lower() == mailbox.address.lower()
        if pinned and self.stored_verified(mailbox.team_id, mailbox.address):
            return True  # no AWS call on every reply of a pinned mailbox
        if self.address_verified(mailbox.team_id, mailbox.address):
            return True
        return pinned and self.is_verified(mailbox.team_id, mailbox.address)

    def _settle(self, team_id: str, identity: str, status: str) -> None:
        """Record a final status learnt outside the follow-up job (and announce it once)."""
        row = self.row(team_id, identity)
        if row is None:
            return
        self._finish(row, status, utcnow())

    # --- Following --------------------------------------------------------------------------

    def follow_due(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Ask SES about each pending identity whose check is due; returns (identity, status)
        for those that reached a final status now."""
        now = now or utcnow()
        with self.ctx.db.session() as session:
            due = list(
                session.exec(
                    select(SenderVerification).where(
                        SenderVerification.status == PENDING,
                        col(SenderVerification.next_check_at).is_not(None),
                        col(SenderVerification.next_check_at) <= now,
                    )
                )
            )
        if not due:
            return []
        try:
            provider = self.provider()
        except MailroomError as exc:
            # SES switched off or misconfigured since the verification started: try later.
            log.warning("cannot follow SES verifications: %s", exc.message)
            return []
        finished: list[tuple[str, str]] = []
        for row in due:
            try:
                status = self._follow_one(provider, row, now)
            except MailroomError as exc:
                log.warning("SES check of %s failed: %s", row.identity, exc.message)
                self._reschedule(row, now)
                continue
            if status in FINAL_STATUSES:
                finished.append((row.identity, status))
        return finished

    def _follow_one(self, provider: SesProvider, row: SenderVerification, now: datetime) -> str:
        status = status_from_state(provider.get_identity(row.identity))
        if status == PENDING and not is_domain(row.identity):
            # The link is for the address, but a domain verified meanwhile covers it as well.
            domain = row.identity.rpartition("@")[2]
            if provider.get_identity(domain).verified:
                status = SUCCESS
        if status == PENDING and now >= expires_at(row):
            status = EXPIRED
        if status == PENDING:
            self._reschedule(row, now)
        else:
            self._finish(row, status, now)
        return status

    def _reschedule(self, row: SenderVerification, now: datetime) -> None:
        with self.ctx.db.session() as session:
            fresh = session.get(SenderVerification, row.id)
            if fresh is None or fresh.status != PENDING:
                return
            fresh.checked_at = now
            fresh.next_check_at = max(next_check_after(fresh, now), now + FAST_INTERVAL)
            session.add(fresh)

    def _finish(self, row: SenderVerification, status: str, now: datetime) -> None:
        with self.ctx.db.session() as session:
            fresh = session.get(SenderVerification, row.id)
            if fresh is None:
                return
            fresh.status = status
            fresh.checked_at = now
            fresh.next_check_at = None
            session.add(fresh)
        self.announce(fresh)

    def announce(self, row: SenderVerification) -> None:
        """Tell the admin who asked, and the admin channel, once per round and outcome."""
        if row.status not in FINAL_STATUSES or row.notified_status == row.status:
            return
        mailbox = None if is_domain(row.identity) else self.mailbox_for(row.team_id, row.identity)
        key = f"ses-verify:{row.team_id}:{row.identity.lower()}:{aware(row.started_at).isoformat()}:{row.status}"
        recipients = [row.requested_by] if row.requested_by else []
        if self.ctx.settings.mailroom_admin_channel:
            recipients.append(self.ctx.settings.mailroom_admin_channel)
        for recipient in recipients:
            # The admin who asked reads it in their language; the channel in the workspace's.
            language = self.ctx.languages.of(recipient) if recipient == row.requested_by else None
            with speaking(language):
                text, blocks = verification_outcome_message(row, mailbox)
            try:
                self.ctx.notifier.once(f"{key}:{recipient}", recipient, text, blocks=blocks)
            except Exception:
                # Not marked sent: the next announce (or job run) tries again.
                log.exception("could not tell %s about %s", recipient, row.identity)
                return
        with self.ctx.db.session() as session:
            fresh = session.get(SenderVerification, row.id)
            if fresh is not None and fresh.status == row.status:
                fresh.notified_status = row.status
                session.add(fresh)
        if mailbox is not None:
            self.changed(mailbox.id)  # type: ignore[arg-type]

    def retry_announcements(self) -> None:
        """Final outcomes whose announcement failed (Slack down) get another try."""
        with self.ctx.db.session() as session:
            rows = list(
                session.exec(
                    select(SenderVerification).where(
                        col(SenderVerification.status).in_(FINAL_STATUSES),
                        col(SenderVerification.notified_status).is_(None),
                    )
                )
            )
        for row in rows:
            self.announce(row)

    def follow_job(self) -> None:
        self.follow_due()
        self.retry_announcements()

    # --- Mailboxes --------------------------------------------------------------------------

    def change_mailbox(self, mailbox_id: int, **changes: object) -> Mailbox | None:
        mailbox = self.ctx.mailboxes.set_fields(mailbox_id, **changes)
        self.changed(mailbox_id)
        return mailbox

    def changed(self, mailbox_id: int) -> None:
        self.ctx.events.mailbox_changed.emit(mailbox_id)

    def set_send_via(self, user_id: str, mailbox_id: int, via: str) -> Mailbox:
        """Switch a mailbox between its own SMTP server and Amazon SES (admins only)."""
        mailbox = self.ctx.mailboxes.get(mailbox_id)
        if mailbox is None:
            raise UserError(
                _("That mailbox no longer exists. Run `/mail-status` to see the current list.")
            )
        self.ctx.roles.require_admin(user_id, "choose how a mailbox sends")
        if via not in ("ses", "smtp"):
            raise UserError(_("Choose SES or SMTP."))
        if via == "ses":
            require_ses(self.ctx.settings)
        pin = mailbox.address if via == "ses" else None  # an admin vouches for this address
        return self.change_mailbox(mailbox_id, send_via=via, ses_pinned_address=pin) or mailbox

    def send_through_ses(self, mailbox: Mailbox, email: Message, recipients: list[str]) -> None:
        """``ReplyService.transports["ses"]``: send the composed reply, as-is, through SES.

        The raw message keeps every header Mailroom set (Message-ID, In-Reply-To, the
        footer), so threading works exactly as over SMTP; SES signs it with Easy DKIM when
        the domain is set up. The send guard has already checked the sender is verified.
        """
        self.provider().call_classified(
            "send_email",
            FromEmailAddress=mailbox.address,
            Destination={"ToAddresses": recipients},
            Content={"Raw": {"Data": email.as_bytes()}},
        )

    def activation_guard(self, mailbox: Mailbox) -> str | None:
        """``activation_guards`` hook: an SES mailbox needs a verified sender first."""
        if mailbox.send_via != "ses" or self.sender_allowed(mailbox):
            return None
        return _(
            "{address} sends through Amazon SES, and SES has not verified it yet, so it "
            "cannot be activated. Click the link in the email from no-reply-aws@amazon.com (run "
            "`/mail-verify {address}` to get a new one), then activate it again."
        ).format(address=mailbox.address)

    def send_guard(self, mailbox: Mailbox) -> str | None:
        """``ReplyService.send_guards`` hook: no reply through SES from an unverified sender."""
        if mailbox.send_via != "ses" or self.sender_allowed(mailbox):
            return None
        return _(
            "{address} sends through Amazon SES, which has not verified it yet, so this "
            "reply was not sent. Ask an admin to finish the verification (the link in the email "
            "from no-reply-aws@amazon.com, or `/mail-verify {address}` for a new one), "
            "then post your reply again. Your message stays here as an internal note."
        ).format(address=mailbox.address)

    def status_lines(self, mailbox: Mailbox) -> list[str]:
        """``status_lines`` hook: the mailbox's sender verification in /mail-status."""
        row = self.row(mailbox.team_id, mailbox.address)
        domain_row = self.row(mailbox.team_id, mailbox.address.rpartition("@")[2])
        covered = domain_row is not None and domain_row.status == SUCCESS
        if row is None and not covered and mailbox.send_via != "ses":
            return []
        return [verification_status_line(mailbox, row, covered_by=domain_row if covered else None)]
