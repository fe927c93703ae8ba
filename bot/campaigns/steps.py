"""Follow-up steps: "N days after campaign #12 finished, send template T to those who did
not reply / did not click / clicked / everyone it reached".

A step becomes its own campaign (same mailbox and audience, the parent's domain decision)
when it is due; its recipients are taken from the parent's ledger (only rows the server
accepted), filtered by the condition, minus everyone suppressed by then. Launching is a
conditional update on the step, so two workers never launch it twice.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import insert, update
from sqlmodel import col, select

from bot.campaigns import ledger
from bot.formatting.outbound import make_message_id
from locales import _, ngettext
from providers.errors import UserError
from storage.models import (
    Campaign,
    CampaignRecipient,
    CampaignState,
    CampaignStep,
    CampaignTemplate,
    Message,
    RecipientState,
    Suppression,
    utcnow,
)

if TYPE_CHECKING:
    from bot.context import AppContext

CONDITIONS = {
    "all": "everyone it reached",
    "no-reply": "those who did not reply",
    "no-click": "those who did not click",
    "clicked": "those who clicked",
}


def followup_added_text(days: float, campaign_id: int, condition: str, template: str) -> str:
    """The answer to `/mail-campaign followup`: one whole sentence per condition."""
    n = int(days) if days == int(days) else 2  # 0.5 days is plural, as 2 is
    if condition == "no-reply":
        text = ngettext(
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who did not "
            "reply get the template {template}. Unsubscribed and bounced addresses are always "
            "left out.",
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who did not "
            "reply get the template {template}. Unsubscribed and bounced addresses are always "
            "left out.",
            n,
        )
    elif condition == "no-click":
        text = ngettext(
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who did not "
            "click get the template {template}. Unsubscribed and bounced addresses are always "
            "left out.",
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who did not "
            "click get the template {template}. Unsubscribed and bounced addresses are always "
            "left out.",
            n,
        )
    elif condition == "clicked":
        text = ngettext(
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who clicked "
            "get the template {template}. Unsubscribed and bounced addresses are always left out.",
            "Follow-up added: {days} day(s) after campaign #{id} finishes, those who clicked "
            "get the template {template}. Unsubscribed and bounced addresses are always left out.",
            n,
        )
    else:
        text = ngettext(
            "Follow-up added: {days} day(s) after campaign #{id} finishes, everyone it reached "
            "gets the template {template}. Unsubscribed and bounced addresses are always left "
            "out.",
            "Follow-up added: {days} day(s) after campaign #{id} finishes, everyone it reached "
            "gets the template {template}. Unsubscribed and bounced addresses are always left "
            "out.",
            n,
        )
    return text.format(days=f"{days:g}", id=campaign_id, template=template)


def add_step(
    ctx: AppContext,
    team_id: str,
    user_id: str,
    campaign_id: int,
    days: float,
    template_name: str,
    condition: str,
) -> CampaignStep:
    from bot.campaigns.sending import check_control, load
    from bot.campaigns.templates import find_template

    campaign = load(ctx, campaign_id, team_id)
    check_control(ctx, campaign, user_id)
    if campaign.state == CampaignState.CANCELLED:
        raise UserError(_("That campaign was cancelled; follow-up steps need one that sends."))
    if condition not in CONDITIONS:
        raise UserError(
            _("The condition is one of: {conditions}.").format(
                conditions=", ".join(f"`{c}`" for c in CONDITIONS)
            )
        )
    if condition in ("no-click", "clicked") and not campaign.track_clicks:
        raise UserError(
            _(
                "That campaign does not track clicks, so Mailroom cannot tell who clicked. Use "
                "`no-reply` or `all`, or track clicks in the next campaign."
            )
        )
    if not 0 < days <= 365:
        raise UserError(_("The delay is a number of days between 0 and 365 (0.5 = 12 hours)."))
    template = find_template(ctx, team_id, template_name)
    if template is None:
        raise UserError(
            _("There is no template called {name}. See `/mail-campaign-template list`.").format(
                name=repr(template_name)
            )
        )
    step = CampaignStep(
        campaign_id=campaign_id,
        delay_days=days,
        template_id=template.id,  # type: ignore[arg-type]
        condition=condition,
        created_by=user_id,
    )
    with ctx.db.session() as session:
        session.add(step)
        session.flush()
    return step


def launch_due_steps(ctx: AppContext) -> list[int]:
    """Launch every step whose campaign finished at least ``delay_days`` ago."""
    now = utcnow()
    with ctx.db.session() as session:
        rows = session.exec(
            select(CampaignStep, Campaign)
            .join(Campaign, col(Campaign.id) == CampaignStep.campaign_id)
            .where(
                col(CampaignStep.child_campaign_id).is_(None),
                Campaign.state == CampaignState.DONE,
            )
        ).all()
    launched = []
    for step, parent in rows:
        if parent.finished_at is None or parent.finished_at + timedelta(days=step.delay_days) > now:
            continue
        child = _launch(ctx, step, parent)
        if child is not None:
            launched.append(child)
    return launched


def _launch(ctx: AppContext, step: CampaignStep, parent: Campaign) -> int | None:
    from bot.campaigns.sending import CampaignEngine

    mailbox = ctx.mailboxes.get(parent.mailbox_id)
    with ctx.db.session() as session:
        template = session.get(CampaignTemplate, step.template_id)
    if mailbox is None or template is None:
        return None
    targets = recipients_for(ctx, parent, step.condition)
    with ctx.db.session() as session:
        child = Campaign(
            team_id=parent.team_id,
            mailbox_id=parent.mailbox_id,
            audience_id=parent.audience_id,
            template_id=template.id,  # type: ignore[arg-type]
            name=f"{template.name} (follow-up of #{parent.id}: {CONDITIONS[step.condition]})",
            created_by=step.created_by,
            subject=template.subject,
            body=template.body,
            body_rich=template.body_rich,
            channel_id=parent.channel_id,
            domain=parent.domain,
            domain_verdict=parent.domain_verdict,
            domain_confirmed_by=parent.domain_confirmed_by,
            track_clicks=parent.track_clicks,
            parent_id=parent.id,
            state=CampaignState.SENDING,
            started_at=utcnow(),
            total=len(targets),
        )
        session.add(child)
        session.flush()
        table = CampaignStep.__table__  # type: ignore[attr-defined]
        claimed = (
            session.connection()
            .execute(
                update(table)
                .where(table.c.id == step.id, table.c.child_campaign_id.is_(None))
                .values(child_campaign_id=child.id)
            )
            .rowcount
        )
        if claimed != 1:
            session.rollback()
            return None
        rows = [
            {
                "campaign_id": child.id,
                "address": address,
                "fields_json": fields,
                "state": RecipientState.QUEUED.value,
                "message_id": make_message_id(mailbox.address),
                "attempts": 0,
                "bounce": "",
            }
            for address, fields in targets
        ]
        for start in range(0, len(rows), 1000):
            session.execute(insert(ledger.TABLE), rows[start : start + 1000])
        child_id = child.id
    engine: CampaignEngine | None = ctx.campaigns
    if engine is not None:
        with ctx.db.session() as session:
            row = session.get(Campaign, child_id)
        if row is not None:
            engine.publish_progress(row, force=True)
    return child_id


def recipients_for(ctx: AppContext, parent: Campaign, condition: str) -> list[tuple[str, str]]:
    """(address, merge fields) of the parent's accepted recipients matching ``condition``,
    never anyone suppressed (unsubscribed, bounced)."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == parent.id,
                CampaignRecipient.state == RecipientState.SENT,
                CampaignRecipient.bounce != "hard",
            )
        ).all()
        blocked = set(
            session.exec(
                select(Suppression.address).where(Suppression.team_id == parent.team_id)
            ).all()
        )
        repliers: set[str] = set()
        if condition == "no-reply":
            repliers = {
                a.lower()
                for a in session.exec(
                    select(Message.from_address).where(
                        Message.mailbox_id == parent.mailbox_id,
                        Message.direction == "in",
                        col(Message.created_at) >= (parent.started_at or parent.created_at),
                    )
                ).all()
            }
    chosen = []
    for row in rows:
        if row.address in blocked:
            continue
        if condition == "no-reply" and row.address in repliers:
            continue
        if condition == "clicked" and row.clicked_at is None:
            continue
        if condition == "no-click" and row.clicked_at is not None:
            continue
        chosen.append((row.address, row.fields_json or "{}"))
    return chosen
