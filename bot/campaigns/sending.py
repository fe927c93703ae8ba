"""Sending campaigns: preparing, starting, the background worker, pause/resume/cancel.

The worker runs as a scheduler job (never in a Slack listener, never in a sync job). Each
tick takes the campaigns in state ``sending`` and, for each, claims ledger rows one at a
time, sends one message per recipient over a reused SMTP connection (or SES) and records
the server's answer (see ``ledger`` for the exactly-once rules). It honours the mailbox's
limits (per second, per minute, per day; together with every other worker process, through
the mailbox's shared throttle in ``limits``) and re-reads the campaign's state twice a second,
so Pause and Cancel take effect after at most the message in flight.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.blocks.campaigns import _state_word, progress_message
from bot.campaigns import ledger, templates
from bot.campaigns.compose import Sender, campaign_footer, compiled_for, compose, sender_of
from bot.campaigns.limits import CampaignSettings, Limits, Throttle, limits_for, throttled
from bot.campaigns.transport import Outcome, Result, SesTransport, SmtpTransport
from bot.campaigns.unsubscribe import suppress
from bot.domain_checks import DKIM, DMARC, SES_DKIM, SPF
from bot.formatting.outbound import OUTBOUND_POLICY, make_message_id
from locales import N_, _, format_number
from providers.errors import UserError
from providers.smtp import flatten
from storage.models import (
    Audience,
    Campaign,
    CampaignState,
    CampaignTemplate,
    Health,
    Mailbox,
    MailboxKind,
    RecipientState,
    Role,
    saved_id,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core
    from bot.senders.service import Senders

log = logging.getLogger(__name__)

JOB_ID = "campaigns"
TICK_SECONDS = 1.0
BATCH_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 3.0
MAX_ATTEMPTS = 3
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 300.0


# --- Preparing and starting ------------------------------------------------------------------


def campaign_mailboxes(ctx: Core, user_id: str, team_id: str) -> list[Mailbox]:
    """Active, working, visible marketing mailboxes this person may send from."""
    return [
        m
        for m in ctx.mailboxes.all(team_id)
        if m.kind == MailboxKind.MARKETING
        and m.active
        and m.visible
        and m.health in (Health.OK, Health.NEW)
        and ctx.roles.can_see(user_id, m)
    ]


@dataclass
class Preparation:
    campaign: Campaign
    recipients: int
    suppressed: int
    limits: Limits
    domain_lines: list[str]


def domain_verdict(
    senders: Senders | None, team_id: str, user_id: str, domain: str
) -> tuple[str, list[str]]:
    """SPF/DKIM/DMARC verdict from /dkim-check's service: (worst status, one line per check)."""
    if senders is None:
        return "unknown", [_("Domain checks are not available.")]
    report = senders.domains.check(team_id, user_id, domain).report
    lines = [line for line in report.lines if line.check in (SPF, DKIM, SES_DKIM, DMARC)]
    statuses = {line.status for line in lines}
    verdict = next((s for s in ("fail", "unknown", "warn") if s in statuses), "pass")
    return verdict, [f"{line.check}: {line.status}" for line in lines]


def prepare(
    engine: CampaignEngine,
    team_id: str,
    user_id: str,
    mailbox_id: int,
    audience_id: int,
    template_id: int,
    *,
    track_clicks: bool = False,
) -> Preparation:
    """Create a draft campaign, with the real recipient count and the domain's verdict."""
    ctx = engine.ctx
    ctx.roles.require_campaigns(user_id)
    mailbox = next(
        (m for m in campaign_mailboxes(ctx, user_id, team_id) if m.id == mailbox_id), None
    )
    if mailbox is None:
        raise UserError(
            _(
                "That mailbox cannot send campaigns now: choose an active, working marketing "
                "mailbox you can see (`/mail-status` shows why one is not)."
            )
        )
    with ctx.db.session() as session:
        audience = session.get(Audience, audience_id)
        template = session.get(CampaignTemplate, template_id)
    if audience is None or audience.team_id != team_id:
        raise UserError(_("That audience no longer exists. Run `/mail-audience list`."))
    if template is None or template.team_id != team_id:
        raise UserError(_("That template no longer exists. Run `/mail-campaign-template list`."))
    recipients, suppressed = ledger.count_sendable(ctx, team_id, audience_id)
    domain = mailbox.address.rpartition("@")[2].lower()
    verdict, lines = domain_verdict(engine.senders, team_id, user_id, domain)
    campaign = Campaign(
        team_id=team_id,
        mailbox_id=mailbox_id,
        audience_id=audience_id,
        template_id=template_id,
        name=f"{template.name} → {audience.name}",
        created_by=user_id,
        subject=template.subject,
        body=template.body,
        body_rich=template.body_rich,
        channel_id=mailbox.channel_id,
        total=recipients,
        domain=domain,
        domain_verdict=verdict,
        track_clicks=track_clicks,
    )
    with ctx.db.session() as session:
        session.add(campaign)
        session.flush()
    return Preparation(campaign, recipients, suppressed, limits_for(ctx, mailbox), lines)


def needs_admin(campaign: Campaign) -> bool:
    return campaign.domain_verdict in ("fail", "unknown") and not campaign.domain_confirmed_by


def load(ctx: Core, campaign_id: int, team_id: str | None = None) -> Campaign:
    with ctx.db.session() as session:
        campaign = session.get(Campaign, campaign_id)
    if campaign is None or (team_id is not None and campaign.team_id != team_id):
        raise UserError(_("That campaign no longer exists. Run `/mail-campaign list`."))
    return campaign


def check_control(ctx: Core, campaign: Campaign, user_id: str) -> Mailbox:
    """The person may act on this campaign: admin, or marketing and able to see the mailbox."""
    ctx.roles.require_campaigns(user_id)
    mailbox = ctx.mailboxes.get(campaign.mailbox_id)
    if mailbox is None or not ctx.roles.can_see(user_id, mailbox):
        raise UserError(_("You cannot manage campaigns of that mailbox."))
    return mailbox


def confirm_domain(ctx: Core, campaign_id: int, team_id: str, user_id: str) -> Campaign:
    campaign = load(ctx, campaign_id, team_id)
    check_control(ctx, campaign, user_id)
    ctx.roles.require_admin(user_id, "confirm sending from a domain that fails its checks")
    with ctx.db.session() as session:
        row = session.get(Campaign, campaign_id)
        assert row is not None
        row.domain_confirmed_by = user_id
        session.add(row)
    return load(ctx, campaign_id)


MAX_SCHEDULE_AHEAD = timedelta(days=60)


def check_startable(ctx: Core, campaign: Campaign, user_id: str) -> Mailbox:
    """Everything that must hold before a campaign is sent or scheduled."""
    mailbox = check_control(ctx, campaign, user_id)
    if campaign.state != CampaignState.DRAFT:
        raise UserError(
            _("That campaign was already started (it is {state}).").format(
                state=_state_word(campaign.state)
            )
        )
    if needs_admin(campaign):
        raise UserError(
            _(
                "{domain} does not pass its SPF, DKIM and DMARC checks, so this campaign "
                "waits until a Mailroom admin confirms sending anyway. Fix the records "
                "(`/dkim-check {domain}`) or ask an admin to press Send anyway."
            ).format(domain=campaign.domain)
        )
    if not mailbox.active or mailbox.kind != MailboxKind.MARKETING:
        raise UserError(
            _("{address} is not an active marketing mailbox any more.").format(
                address=mailbox.address
            )
        )
    if not ctx.settings.public_url:
        raise UserError(
            _(
                "Campaigns need PUBLIC_URL (the https address of this Mailroom) for their "
                "unsubscribe links. Ask whoever runs Mailroom to set it."
            )
        )
    return mailbox


def start(engine: CampaignEngine, campaign_id: int, team_id: str, user_id: str) -> Campaign:
    """Queue the ledger and hand the campaign to the worker; posts the progress message."""
    ctx = engine.ctx
    campaign = load(ctx, campaign_id, team_id)
    check_startable(ctx, campaign, user_id)
    return launch(engine, campaign, CampaignState.DRAFT)


def discard(ctx: Core, campaign_id: int, team_id: str, user_id: str) -> Campaign:
    """Drop a draft nobody sent: it is marked cancelled (nothing was queued for it)."""
    campaign = load(ctx, campaign_id, team_id)
    check_control(ctx, campaign, user_id)
    table = Campaign.__table__  # type: ignore[attr-defined]
    # Only from draft, in one statement: a Send pressed at the same moment wins or loses whole.
    with ctx.db.engine.begin() as conn:
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign_id, table.c.state == CampaignState.DRAFT.value)
            .values(state=CampaignState.CANCELLED.value)
        ).rowcount
    if moved != 1:
        raise UserError(_("That campaign was already started; use Cancel on its progress message."))
    return load(ctx, campaign_id)


def schedule(ctx: Core, campaign_id: int, team_id: str, user_id: str, when: datetime) -> Campaign:
    """Send later: the recipients are taken (minus suppression) when the time comes."""
    campaign = load(ctx, campaign_id, team_id)
    check_startable(ctx, campaign, user_id)
    now = utcnow()
    if when <= now + timedelta(seconds=1):
        raise UserError(_("Pick a time in the future, or press Send now."))
    if when > now + MAX_SCHEDULE_AHEAD:
        raise UserError(_("Campaigns can be scheduled up to 60 days ahead."))
    table = Campaign.__table__  # type: ignore[attr-defined]
    with ctx.db.engine.begin() as conn:
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign_id, table.c.state == CampaignState.DRAFT.value)
            .values(state=CampaignState.SCHEDULED.value, scheduled_at=when)
        ).rowcount
    if moved != 1:
        raise UserError(_("That campaign was already started or scheduled."))
    return load(ctx, campaign_id)


def launch(engine: CampaignEngine, campaign: Campaign, from_state: CampaignState) -> Campaign:
    ctx = engine.ctx
    mailbox = ctx.mailboxes.get(campaign.mailbox_id)
    if mailbox is None:
        raise UserError(_("That campaign's mailbox no longer exists."))
    total = ledger.snapshot_audience(ctx, campaign, mailbox.address)
    with ctx.db.engine.begin() as conn:
        table = Campaign.__table__  # type: ignore[attr-defined]
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign.id, table.c.state == from_state.value)
            .values(state=CampaignState.SENDING.value, started_at=utcnow(), total=total)
        ).rowcount
    if moved != 1:
        raise UserError(_("That campaign was already started."))
    campaign = load(ctx, campaign.id)  # type: ignore[arg-type]
    engine.publish_progress(campaign, force=True)
    return campaign


def launch_due(engine: CampaignEngine) -> list[int]:
    """Start the scheduled campaigns whose time has come (any worker may; one wins)."""
    ctx = engine.ctx
    with ctx.db.session() as session:
        due = session.exec(
            select(Campaign).where(
                Campaign.state == CampaignState.SCHEDULED,
                col(Campaign.scheduled_at) <= utcnow(),
            )
        ).all()
    started = []
    for campaign in due:
        mailbox = ctx.mailboxes.get(campaign.mailbox_id)
        if mailbox is None or not mailbox.active:
            table = Campaign.__table__  # type: ignore[attr-defined]
            with ctx.db.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.id == campaign.id, table.c.state == "scheduled")
                    .values(
                        state=CampaignState.PAUSED.value,
                        note=_("Paused: its mailbox was inactive at the scheduled time."),
                    )
                )
            continue
        try:
            launch(engine, campaign, CampaignState.SCHEDULED)
            started.append(campaign.id)
        except (UserError, IntegrityError):
            continue  # another worker is launching it (or did first)
    return started  # type: ignore[return-value]


CANNOT_MOVE = {
    "pause": N_("That campaign is {state}, so it cannot pause now."),
    "resume": N_("That campaign is {state}, so it cannot resume now."),
    "cancel": N_("That campaign is {state}, so it cannot cancel now."),
}


def set_state(
    engine: CampaignEngine, campaign_id: int, team_id: str, user_id: str, action: str
) -> Campaign:
    """Pause, resume or cancel, checked against who asks and the campaign's current state."""
    ctx = engine.ctx
    campaign = load(ctx, campaign_id, team_id)
    check_control(ctx, campaign, user_id)
    moves = {
        "pause": ((CampaignState.SENDING,), CampaignState.PAUSED),
        "resume": ((CampaignState.PAUSED,), CampaignState.SENDING),
        "cancel": (
            (CampaignState.SENDING, CampaignState.PAUSED, CampaignState.SCHEDULED),
            CampaignState.CANCELLED,
        ),
    }
    sources, target = moves[action]
    table = Campaign.__table__  # type: ignore[attr-defined]
    with ctx.db.engine.begin() as conn:
        moved = conn.execute(
            update(table)
            .where(table.c.id == campaign_id, table.c.state.in_([s.value for s in sources]))
            .values(state=target.value, note="")
        ).rowcount
    if moved != 1:
        raise UserError(_(CANNOT_MOVE[action]).format(state=_state_word(campaign.state)))
    if target == CampaignState.CANCELLED:
        ledger.cancel_queued(ctx, campaign_id)
        _finish_time(ctx, campaign_id)
    campaign = load(ctx, campaign_id)
    engine.publish_progress(campaign, force=True)
    return campaign


def _finish_time(ctx: Core, campaign_id: int) -> None:
    with ctx.db.session() as session:
        row = session.get(Campaign, campaign_id)
        if row is not None:
            row.finished_at = utcnow()
            session.add(row)


def list_campaigns(ctx: Core, team_id: str, limit: int = 20) -> list[Campaign]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(Campaign)
                .where(Campaign.team_id == team_id, Campaign.state != CampaignState.DRAFT)
                .order_by(col(Campaign.id).desc())
                .limit(limit)
            )
        )


def may_run_campaigns(ctx: Core, user_id: str) -> bool:
    return ctx.roles.role_of(user_id) in (Role.ADMIN, Role.MARKETING)


# --- Composing ----------------------------------------------------------------------------

# --- The worker -------------------------------------------------------------------------------


class CampaignEngine:
    def __init__(self, ctx: Core, senders: Senders | None) -> None:
        self.ctx = ctx
        # /dkim-check's service for the domain verdict shown before a start (None: not installed).
        self.senders = senders
        self.host = socket.gethostname()
        self.worker = f"{self.host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.throttles: dict[int, Throttle] = {}
        self.last_progress: dict[int, float] = {}
        self.compiled: dict[int, templates.Compiled] = {}
        self.batch_seconds = BATCH_SECONDS
        # campaign id -> (monotonic time before which it is not tried, last delay)
        self.backoff: dict[int, tuple[float, float]] = {}
        # Launchers of due work run on every tick (follow-up steps: ``steps.launch_due_steps``,
        # added by ``install``; steps builds on this module, so it is not imported here).
        self.launchers: list[Callable[[], object]] = []

    def start_jobs(self) -> None:
        ctx = self.ctx
        # Embedded mode: this process is the only worker, so any row left "sending" belongs
        # to a killed predecessor. With a shared database only old claims are taken.
        ledger.recover_stale(ctx, None if ctx.settings.is_sqlite else self._cutoff())
        ledger.recover_dead_local_workers(ctx, self.host)
        ctx.scheduler.every(JOB_ID, TICK_SECONDS, self.tick, first_in=0.2)

    def _cutoff(self) -> datetime:
        return ledger.stale_cutoff(self.ctx.settings.smtp_timeout_seconds)

    def tick(self) -> None:
        launch_due(self)
        for launch_more in self.launchers:
            launch_more()
        ledger.recover_stale(self.ctx, self._cutoff())
        ledger.recover_dead_local_workers(self.ctx, self.host)
        with self.ctx.db.session() as session:
            ids = session.exec(
                select(Campaign.id).where(Campaign.state == CampaignState.SENDING)
            ).all()
        for campaign_id in (i for i in ids if i is not None):
            if self.backoff.get(campaign_id, (0.0, 0.0))[0] > time.monotonic():
                continue
            try:
                self.run(campaign_id)
            except Exception:
                log.exception("campaign %s: sending batch failed", campaign_id)

    def run(self, campaign_id: int, *, budget: float | None = None) -> None:
        """Send for up to ``budget`` seconds, then record progress; finish when done."""
        ctx = self.ctx
        campaign = load(ctx, campaign_id)
        mailbox = ctx.mailboxes.get(campaign.mailbox_id)
        if mailbox is None or not mailbox.active:
            self._pause(campaign, _("Paused: the mailbox was removed or made inactive."))
            return
        compiled = self.compiled.get(campaign_id)
        if compiled is None:
            footer = campaign_footer(ctx, mailbox, campaign.created_by)
            compiled = self.compiled[campaign_id] = compiled_for(campaign, footer, ctx)
        sender = sender_of(mailbox, campaign)
        limits = limits_for(ctx, mailbox)
        throttle = self.throttles.get(mailbox.id)  # type: ignore[arg-type]
        if throttle is None:
            throttle = self.throttles[mailbox.id] = Throttle(ctx.db, mailbox.id)  # type: ignore[index, arg-type]
        # Send slots taken from the mailbox's shared throttle (monotonic times), in order.
        slots: deque[tuple[float, datetime]] = deque()
        slot_time: datetime | None = None
        at = 0.0
        deadline = time.monotonic() + (budget or self.batch_seconds)
        transport: SmtpTransport | SesTransport = (
            SesTransport(ctx, mailbox) if mailbox.send_via == "ses" else SmtpTransport(ctx, mailbox)
        )
        if limits.waiting:
            # The only reason ``limits_for`` gives: the whole sentence is one message.
            self._note(
                campaign,
                _(
                    "The Amazon SES 24-hour sending quota is used up. "
                    "Sending continues when SES allows it."
                ),
            )
            return
        next_state_check = 0.0
        contended = False
        # The row the server accepted last: recorded as sent in the same transaction that
        # claims the next one (one commit per message), or on its own before any wait/exit.
        self.accepted: int | None = None
        # Autocommit: each ledger write below is one statement, so one round trip each.
        self.conn = ctx.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            while time.monotonic() < deadline:
                rows = ledger.next_queued(ctx, campaign_id, 50)
                if not rows:
                    break
                for row in rows:
                    now = time.monotonic()
                    if now >= deadline:
                        break
                    if now >= next_state_check:
                        if load(ctx, campaign_id).state != CampaignState.SENDING:
                            return
                        next_state_check = now + 0.5
                    if throttled(limits):
                        if not slots:
                            # Recorded first: the daily cap counts it as sent, not in flight.
                            self._record_accepted()
                            grant = throttle.reserve(limits, len(rows), deadline - now)
                            if grant.day_full:
                                self._note(
                                    campaign,
                                    _(
                                        "Daily limit of {limit} reached; sending continues "
                                        "as the 24-hour window moves."
                                    ).format(limit=format_number(limits.per_day)),
                                )
                                return
                            if not grant.slots:
                                deadline = now  # the next slot is after this batch: next tick
                                break
                            slots.extend(grant.slots)
                        at, slot_time = slots.popleft()
                        wait = at - time.monotonic()
                        if wait > 0:
                            self._record_accepted()
                            time.sleep(wait)
                    if isinstance(transport, SmtpTransport) and not contended:
                        sent = self._claim_and_send(
                            transport, campaign, sender, row, compiled, slot_time
                        )
                    else:
                        sent = self._claim_then_send(
                            transport, campaign, sender, row, compiled, slot_time
                        )
                    if sent is None:  # another worker (or a cancel) took the row first
                        # Several workers share this campaign: claim before sending from
                        # now on (a lost claim mid-transaction costs a new connection).
                        contended = True
                        if slot_time is not None:
                            slots.appendleft((at, slot_time))  # unused: the next row takes it
                        continue
                    result = sent
                    self._maybe_progress(campaign)
                    if result.outcome == Outcome.SENT:
                        self.backoff.pop(campaign_id, None)
                    if result.stop:
                        delay = self._back_off(campaign_id)
                        self._note(
                            campaign,
                            _("Waiting {seconds} s to retry: {detail}").format(
                                seconds=f"{delay:.0f}", detail=result.detail
                            )[:500],
                        )
                        return
        finally:
            try:
                self._record_accepted()
            finally:
                self.conn.close()
                transport.close()
            self._finish_if_done(campaign_id)

    def _record_accepted(self) -> None:
        if self.accepted is not None:
            ledger.mark_sent(self.ctx, self.accepted, self.conn)
            self.accepted = None

    def _claim_then_send(
        self,
        transport: SmtpTransport | SesTransport,
        campaign: Campaign,
        sender: Sender,
        row: Any,
        compiled: templates.Compiled,
        slot_time: datetime | None,
    ) -> Result | None:
        """Claim the row (recording the last accepted one in the same statement), then send."""
        claimed = ledger.claim(
            self.ctx, row, self.worker, accepted=self.accepted, conn=self.conn, claimed_at=slot_time
        )
        self.accepted = None
        if not claimed:
            return None
        return self._send_one(transport, campaign, sender, row, compiled)

    def _claim_and_send(
        self,
        transport: SmtpTransport,
        campaign: Campaign,
        sender: Sender,
        row: Any,
        compiled: templates.Compiled,
        slot_time: datetime | None,
    ) -> Result | None:
        """The same records in the same order as ``_claim_then_send``, overlapped: the claim
        statement (which also records the last accepted row) is on its way to PostgreSQL
        while the SMTP transaction goes up to the message data; the final "." that asks the server
        to accept it is sent only once that statement has committed, and never when the claim
        lost. A crash therefore still leaves at most one row whose fate is unknown."""
        try:
            raw = compose(self.ctx, campaign, sender, row, compiled)
        except Exception:  # the plain path builds it again and records the failure
            return self._claim_then_send(transport, campaign, sender, row, compiled, slot_time)
        claimed = ledger.start_claim(
            self.conn, row, self.worker, accepted=self.accepted, claimed_at=slot_time
        )
        if claimed is None:
            return self._send_after_claim(transport, campaign, sender, row, raw, slot_time)

        def gate() -> bool:
            won = claimed()  # a database error propagates: nothing is handed over
            self.accepted = None  # recorded by the statement that just committed
            return won

        try:
            result = transport.send(raw, sender.address, row.address, gate=gate)
        finally:
            won = gate()  # before anything else touches the ledger or the row
        if not won:
            return None
        return self._record(campaign, row, result)

    def _send_after_claim(
        self,
        transport: SmtpTransport,
        campaign: Campaign,
        sender: Sender,
        row: Any,
        raw: bytes,
        slot_time: datetime | None,
    ) -> Result | None:
        claimed = ledger.claim(
            self.ctx, row, self.worker, accepted=self.accepted, conn=self.conn, claimed_at=slot_time
        )
        self.accepted = None
        if not claimed:
            return None
        return self._record(campaign, row, transport.send(raw, sender.address, row.address))

    def _send_one(
        self,
        transport: SmtpTransport | SesTransport,
        campaign: Campaign,
        sender: Sender,
        row: Any,
        compiled: templates.Compiled,
    ) -> Result:
        """Send one claimed row; an accepted row is left in ``self.accepted`` to record."""
        ctx = self.ctx
        try:
            raw = compose(ctx, campaign, sender, row, compiled)
        except Exception as exc:
            ledger.mark_failed(
                ctx,
                row.id,
                _("Could not build the message: {error}").format(error=type(exc).__name__),
            )
            return Result(Outcome.FAILED, str(exc))
        result = transport.send(raw, sender.address, row.address)
        return self._record(campaign, row, result)

    def _record(self, campaign: Campaign, row: Any, result: Result) -> Result:
        """Record the server's answer for a claimed row (an accepted one is left in
        ``self.accepted``, recorded with the next claim)."""
        ctx = self.ctx
        if result.outcome == Outcome.SENT:
            self.accepted = row.id
        elif result.outcome == Outcome.UNCERTAIN:
            ledger.mark_uncertain(ctx, row.id, result.detail)
        elif result.outcome == Outcome.RETRY and result.stop:
            # The server or the connection is the problem, not this recipient: the attempt
            # is not counted (an outage must not fail the whole list) and the worker backs off.
            ledger.release(ctx, row.id, result.detail, refund=True)
        elif result.outcome == Outcome.FAILED or row.attempts + 1 >= MAX_ATTEMPTS:
            ledger.mark_failed(ctx, row.id, result.detail)
            if result.hard_bounce:
                suppress(
                    ctx, campaign.team_id, row.address, "hard_bounce", campaign.id, result.detail
                )
        else:
            delay = CampaignSettings().mailroom_campaign_retry_seconds * (row.attempts + 1)
            ledger.release(ctx, row.id, result.detail, retry_after=delay)
        return result

    def _back_off(self, campaign_id: int) -> float:
        """Seconds until this process tries the campaign again (doubling, up to 5 minutes)."""
        _until, last = self.backoff.get(campaign_id, (0.0, 0.0))
        delay = min(max(last * 2, BACKOFF_FIRST), BACKOFF_MAX)
        self.backoff[campaign_id] = (time.monotonic() + delay, delay)
        return delay

    def _note(self, campaign: Campaign, note: str) -> None:
        with self.ctx.db.session() as session:
            row = session.get(Campaign, campaign.id)
            if row is not None and row.note != note:
                row.note = note
                session.add(row)

    def _pause(self, campaign: Campaign, note: str) -> None:
        table = Campaign.__table__  # type: ignore[attr-defined]
        with self.ctx.db.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.id == campaign.id, table.c.state == CampaignState.SENDING.value)
                .values(state=CampaignState.PAUSED.value, note=note)
            )
        self.publish_progress(load(self.ctx, saved_id(campaign)), force=True)

    def _finish_if_done(self, campaign_id: int) -> None:
        counts = ledger.counts(self.ctx, campaign_id)
        if counts.get(RecipientState.QUEUED, 0) or counts.get(RecipientState.SENDING, 0):
            self.publish_progress(load(self.ctx, campaign_id))
            return
        table = Campaign.__table__  # type: ignore[attr-defined]
        with self.ctx.db.engine.begin() as conn:
            moved = conn.execute(
                update(table)
                .where(table.c.id == campaign_id, table.c.state == CampaignState.SENDING.value)
                .values(state=CampaignState.DONE.value, finished_at=utcnow(), note="")
            ).rowcount
        if moved:
            self.compiled.pop(campaign_id, None)
            self.publish_progress(load(self.ctx, campaign_id), force=True)

    def _maybe_progress(self, campaign: Campaign) -> None:
        self.publish_progress(campaign)

    def publish_progress(self, campaign: Campaign, *, force: bool = False) -> None:
        """Post or update the campaign's message in the mailbox's channel (at most every 3 s)."""
        now = time.monotonic()
        if not force and now - self.last_progress.get(campaign.id, 0.0) < PROGRESS_EVERY_SECONDS:  # type: ignore[arg-type]
            return
        self.last_progress[campaign.id] = now  # type: ignore[index]
        ctx = self.ctx
        campaign = load(ctx, campaign.id)  # type: ignore[arg-type]
        if not campaign.channel_id:
            return
        mailbox = ctx.mailboxes.get(campaign.mailbox_id)
        counts = ledger.counts(ctx, campaign.id)  # type: ignore[arg-type]
        uncertain = ledger.rows_in(ctx, campaign.id, RecipientState.UNCERTAIN)  # type: ignore[arg-type]
        failed = ledger.rows_in(ctx, campaign.id, RecipientState.FAILED, limit=20)  # type: ignore[arg-type]
        limits = limits_for(ctx, mailbox) if mailbox else None
        remaining = counts.get(RecipientState.QUEUED, 0)
        eta = limits.seconds_for(remaining) if limits else 0.0
        text, blocks = progress_message(
            campaign,
            mailbox.address if mailbox else "",
            counts,
            ledger.unsubscribed_count(ctx, campaign.id),  # type: ignore[arg-type]
            eta_seconds=eta,
            uncertain=[r.address for r in uncertain],
            failed=[(r.address, r.error or "") for r in failed],
            bounced=ledger.bounce_count(ctx, campaign.id),  # type: ignore[arg-type]
        )
        try:
            if campaign.progress_ts:
                ctx.slack.client.chat_update(
                    channel=campaign.channel_id, ts=campaign.progress_ts, text=text, blocks=blocks
                )
            else:
                ts = ctx.slack.post(campaign.channel_id, text, blocks=blocks)
                with ctx.db.session() as session:
                    row = session.get(Campaign, campaign.id)
                    if row is not None:
                        row.progress_ts = ts
                        session.add(row)
        except SlackApiError as exc:
            log.warning(
                "campaign %s: progress update failed: %s", campaign.id, exc.response.get("error")
            )
        except Exception as exc:
            # Slack being unreachable must never stop the sending (the ledger is the truth).
            log.warning("campaign %s: progress update failed: %s", campaign.id, type(exc).__name__)


def in_background(ctx: Core, job_id: str, func: Any, *args: Any) -> None:
    """Run ``func`` off the listener's thread: as a scheduler job, or in a thread of its own
    in a web-only process (MAILROOM_SCHEDULER=off), where jobs would never run."""
    if ctx.scheduler.running:
        ctx.scheduler.once(job_id, func, *args)
        return

    def run() -> None:
        try:
            func(*args)
        except Exception:
            log.exception("background job %s failed", job_id)

    threading.Thread(target=run, name=job_id, daemon=True).start()


# --- Preview and test -----------------------------------------------------------------------


def sample_recipient(ctx: Core, team_id: str, wanted: list[str]) -> dict[str, str]:
    """A real audience member's values, preferring one that has the fields the template uses."""
    from bot.campaigns.audiences import list_audiences, members

    best: dict[str, str] | None = None
    for audience, size in list_audiences(ctx, team_id):
        if not size:
            continue
        for member in members(ctx, audience.id, limit=50):  # type: ignore[arg-type]
            values = {**json_fields(member.fields_json), "email": member.address}
            if all(values.get(f) for f in wanted):
                return values
            best = best or values
    return best or {}


def json_fields(raw: str | None) -> dict[str, str]:
    import json

    return {str(k): str(v) for k, v in json.loads(raw or "{}").items()}


def preview(
    ctx: Core,
    team_id: str,
    user_id: str,
    subject: str,
    body: str,
    mailbox: Mailbox | None,
    rich: dict[str, Any] | None = None,
) -> tuple[templates.Rendered, dict[str, str]]:
    from bot.campaigns.audiences import known_fields

    ctx.roles.require_campaigns(user_id)
    templates.validate_template("preview", subject, body, known_fields(ctx, team_id))
    values = sample_recipient(ctx, team_id, templates.fields_used(subject + "\n" + body))
    footer = campaign_footer(ctx, mailbox, user_id) if mailbox else ("", "")
    rendered = templates.render(
        templates.compile_template(
            subject, body, footer_text=footer[0], footer_html=footer[1], rich=rich
        ),
        values,
        unsubscribe_url=f"{ctx.settings.public_url.rstrip('/')}/unsubscribe/preview",
        language=values.get("language", ""),
    )
    return rendered, values


def send_test(
    ctx: Core,
    team_id: str,
    user_id: str,
    subject: str,
    body: str,
    rich: dict[str, Any] | None = None,
) -> str:
    """Mail the template, filled with a real recipient's values, to the person; returns where."""
    person = ctx.roles.user(user_id, team_id)
    if not person.email:
        raise UserError(
            _(
                "Your Slack profile has no email address, so Mailroom cannot send you a test. "
                "Add one to your profile, then try again."
            )
        )
    mailbox = next(iter(campaign_mailboxes(ctx, user_id, team_id)), None)
    if mailbox is None:
        raise UserError(
            _(
                "There is no active marketing mailbox you can send from. Connect one with "
                "`/mail-connect` (kind: marketing) or ask an admin."
            )
        )
    rendered, _values = preview(ctx, team_id, user_id, subject, body, mailbox, rich)
    msg = EmailMessage(policy=OUTBOUND_POLICY)
    msg["From"] = Address(display_name=mailbox.sender_name or "", addr_spec=mailbox.address)
    msg["To"] = Address(addr_spec=person.email)
    msg["Subject"] = _("[Test] {subject}").format(subject=rendered.subject)
    msg["Date"] = datetime.now(UTC)
    msg["Message-ID"] = make_message_id(mailbox.address)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    transport = (
        SesTransport(ctx, mailbox) if mailbox.send_via == "ses" else SmtpTransport(ctx, mailbox)
    )
    try:
        result = transport.send(flatten(msg), mailbox.address, person.email)
    finally:
        transport.close()
    if result.outcome != Outcome.SENT:
        raise UserError(
            _(
                "The test to {address} was not sent: {detail}. Check the mailbox with "
                "`/mail-status` and try again."
            ).format(address=person.email, detail=result.detail)
        )
    return person.email
