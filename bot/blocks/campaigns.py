"""Block Kit for campaigns: modals, the confirmation, the progress message, lists, reports.

Every address, name and server answer shown here came from a CSV file, a template or a mail
server: it is escaped before Slack reads it as mrkdwn.
"""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    header,
    input_block,
    modal,
    section,
    select_input,
    slack_date,
    text_input,
)
from bot.formatting.slack_text import escape, truncate
from locales import N_, _, format_number, ngettext
from storage.models import Campaign, CampaignState, CampaignTemplate, RecipientState

CAMPAIGN_VIEW = "campaign_new"
TEMPLATE_VIEW = "campaign_template"
SEND = "campaign_send"
CONFIRM_DOMAIN = "campaign_confirm_domain"
PAUSE = "campaign_pause"
RESUME = "campaign_resume"
CANCEL = "campaign_cancel"
DISCARD = "campaign_discard"
SCHEDULE = "campaign_schedule"
SCHEDULE_AT = "campaign_schedule_at"
PREVIEW = "campaign_template_preview"
TEST = "campaign_template_test"
HOME_NEW = "campaign_home_new"
HOME_TEMPLATE = "campaign_home_template"
BAR_WIDTH = 20
HOME_BLOCK_BUDGET = 12


def campaign_modal(
    mailboxes: list[tuple[str, str]],
    audiences: list[tuple[str, str]],
    templates: list[tuple[str, str]],
) -> dict[str, Any]:
    blocks: list[Block] = [
        select_input("mailbox", _("Send from (marketing mailbox)"), mailboxes),
        select_input("audience", _("To (audience)"), audiences),
        select_input("template", _("Template"), templates),
        {
            "type": "input",
            "block_id": "tracking",
            "optional": True,
            "label": {"type": "plain_text", "text": _("Tracking")},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {
                        "text": {"type": "plain_text", "text": _("Track clicks")},
                        "description": {
                            "type": "plain_text",
                            "text": _(
                                "Links go through Mailroom, so follow-up steps can target "
                                "who clicked. Opens are not tracked (unreliable)."
                            ),
                        },
                        "value": "clicks",
                    }
                ],
            },
        },
        context(
            _("Nothing is sent yet: the next step shows the recipient count and the domain check.")
        ),
    ]
    return modal(_("New campaign"), blocks, callback_id=CAMPAIGN_VIEW, submit=_("Next"))


def body_input(row: CampaignTemplate | None, fields: list[str]) -> Block:
    """The rich text editor (re-opened with the stored rich_text block); a template written
    in Slack mrkdwn before the editor existed keeps its plain text box."""
    merge = _("Merge fields: {fields}; a default after a bar: {example}.").format(
        fields=", ".join(f"{{{f}}}" for f in fields), example="{first_name|there}"
    )
    if row is not None and not row.body_rich and row.body:
        return text_input(
            "body",
            _("Message"),
            initial=row.body,
            multiline=True,
            hint=_("Slack formatting (*bold*, _italic_, <https://link|label>). {merge}").format(
                merge=merge
            ),
        )
    element: dict[str, Any] = {"type": "rich_text_input", "action_id": "value"}
    if row is not None and row.body_rich:
        element["initial_value"] = json.loads(row.body_rich)
    return input_block("body", _("Message"), element, hint=merge)


def template_modal(row: CampaignTemplate | None, fields: list[str]) -> dict[str, Any]:
    blocks: list[Block] = [
        text_input("name", _("Template name"), initial=row.name if row else ""),
        text_input(
            "subject",
            _("Subject"),
            initial=row.subject if row else "",
            placeholder=_("News for {first_name|you}"),
        ),
        body_input(row, fields),
        actions(
            button(_("Preview"), PREVIEW),
            button(_("Send me a test"), TEST),
            block_id="template_tools",
        ),
    ]
    metadata = json.dumps({"template_id": row.id if row else None})
    return modal(
        _("Campaign template"), blocks, callback_id=TEMPLATE_VIEW, private_metadata=metadata
    )


def confirmation(
    campaign: Campaign,
    mailbox_address: str,
    recipients: int,
    suppressed: int,
    limits_text: str,
    domain_lines: list[str],
    warning: str = "",
) -> tuple[str, list[Block]]:
    verdict = campaign.domain_verdict
    icon = {"pass": ":white_check_mark:", "warn": ":warning:"}.get(verdict, ":x:")
    text = ngettext(
        "Campaign *{name}* from {mailbox}: *{n}* recipient after suppression "
        "({suppressed} suppressed).",
        "Campaign *{name}* from {mailbox}: *{n}* recipients after suppression "
        "({suppressed} suppressed).",
        recipients,
    ).format(
        name=escape(campaign.name),
        mailbox=escape(mailbox_address),
        n=format_number(recipients),
        suppressed=format_number(suppressed),
    )
    blocks: list[Block] = [
        header(_("Ready to send?")),
        section(text),
        section(
            icon
            + " "
            + _("Domain {domain}: *{verdict}* — {lines}").format(
                domain=escape(campaign.domain),
                verdict=verdict,
                lines=escape(", ".join(domain_lines) or _("no SPF/DKIM/DMARC lines")),
            )
        ),
        context(_("Limits: {limits}").format(limits=escape(limits_text))),
    ]
    if warning:
        blocks.append(section(f":warning: {escape(warning)}"))
    value = str(campaign.id)
    if verdict in ("fail", "unknown") and not campaign.domain_confirmed_by:
        blocks.append(
            section(
                _(
                    "{domain} does not pass its checks: mail may land in spam or be refused. "
                    "Fix it with `/dkim-check {domain}`; only a Mailroom admin can send anyway."
                ).format(domain=escape(campaign.domain))
            )
        )
        blocks.append(
            actions(
                button(_("Send anyway (admin)"), CONFIRM_DOMAIN, value, style="danger"),
                button(_("Discard"), DISCARD, value),
            )
        )
    else:
        blocks.append(
            actions(
                button(_("Send now"), SEND, value, style="primary"),
                # Shown in the person's own Slack time zone; Slack sends back a Unix time.
                {"type": "datetimepicker", "action_id": SCHEDULE_AT},
                button(_("Schedule"), SCHEDULE, value),
                button(_("Discard"), DISCARD, value),
                block_id="campaign_confirm",
            )
        )
    return text, blocks


def progress_bar(done: int, total: int) -> str:
    filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
    return "█" * filled + "░" * (BAR_WIDTH - filled) + f" {100 * done // total if total else 100}%"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{int(seconds // 60)} min"
    return f"{seconds / 3600:.1f} h"


def progress_message(
    campaign: Campaign,
    mailbox_address: str,
    counts: dict[str, int],
    unsubscribed: int,
    *,
    eta_seconds: float,
    uncertain: list[str],
    failed: list[tuple[str, str]],
    bounced: int = 0,
) -> tuple[str, list[Block]]:
    sent = counts.get(RecipientState.SENT, 0)
    failed_n = counts.get(RecipientState.FAILED, 0)
    unsure = counts.get(RecipientState.UNCERTAIN, 0)
    remaining = counts.get(RecipientState.QUEUED, 0) + counts.get(RecipientState.SENDING, 0)
    total = sum(counts.values()) or campaign.total
    finished = campaign.state in (CampaignState.DONE, CampaignState.CANCELLED)
    state = {
        CampaignState.SENDING: ":outbox_tray: " + _("Sending"),
        CampaignState.PAUSED: ":double_vertical_bar: " + _("Paused"),
        CampaignState.CANCELLED: ":no_entry_sign: " + _("Cancelled"),
        CampaignState.DONE: ":white_check_mark: " + _("Finished"),
        CampaignState.SCHEDULED: ":calendar: " + _("Scheduled"),
    }.get(CampaignState(campaign.state), campaign.state)
    numbers = {
        "sent": format_number(sent),
        "remaining": format_number(remaining),
        "failed": format_number(failed_n),
        "uncertain": format_number(unsure),
        "bounced": format_number(bounced),
        "unsubscribed": format_number(unsubscribed),
    }
    text = _(
        "{state}: campaign {name} from {mailbox} — {sent} sent, {remaining} remaining, "
        "{failed} failed, {uncertain} uncertain, {bounced} bounced, {unsubscribed} unsubscribed"
    ).format(state=state, name=escape(campaign.name), mailbox=escape(mailbox_address), **numbers)
    if remaining and not finished:
        tally = _(
            "Sent *{sent}* · remaining *{remaining}* · failed *{failed}* · uncertain "
            "*{uncertain}* · bounced *{bounced}* · unsubscribed *{unsubscribed}* · "
            "about {duration} left"
        ).format(duration=_duration(eta_seconds), **numbers)
    else:
        tally = _(
            "Sent *{sent}* · remaining *{remaining}* · failed *{failed}* · uncertain "
            "*{uncertain}* · bounced *{bounced}* · unsubscribed *{unsubscribed}*"
        ).format(**numbers)
    lines = [
        _("*{state}* · campaign *{name}* from {mailbox}").format(
            state=state, name=escape(campaign.name), mailbox=escape(mailbox_address)
        ),
        f"`{progress_bar(sent + failed_n + unsure, total - counts.get(RecipientState.CANCELLED, 0))}`",
        tally,
    ]
    if campaign.note and not finished:
        lines.append(f"_{escape(campaign.note)}_")
    blocks: list[Block] = [section("\n".join(lines))]
    if uncertain:
        blocks.append(
            section(
                _(
                    "*Uncertain* (Mailroom stopped while sending; the server may have accepted "
                    "them, so they are not sent again): {addresses}"
                ).format(addresses=escape(truncate(", ".join(uncertain), 2000)))
            )
        )
    if failed and finished:
        blocks.append(
            section(
                _("*Failed*: {addresses}").format(
                    addresses=escape(
                        truncate("; ".join(f"{a} ({why[:80]})" for a, why in failed), 2000)
                    )
                )
            )
        )
    value = str(campaign.id)
    if campaign.state == CampaignState.SENDING:
        blocks.append(
            actions(
                button(_("Pause"), PAUSE, value),
                button(_("Cancel"), CANCEL, value, style="danger"),
            )
        )
    elif campaign.state == CampaignState.PAUSED:
        blocks.append(
            actions(
                button(_("Resume"), RESUME, value, style="primary"),
                button(_("Cancel"), CANCEL, value, style="danger"),
            )
        )
    return text, blocks


STATE_WORDS = {
    CampaignState.DRAFT: N_("draft"),
    CampaignState.SCHEDULED: N_("scheduled"),
    CampaignState.SENDING: N_("sending"),
    CampaignState.PAUSED: N_("paused"),
    CampaignState.CANCELLED: N_("cancelled"),
    CampaignState.DONE: N_("done"),
}


def _state_word(state: str) -> str:
    """A campaign's state as a word in the list (``done``, ``sending``…)."""
    word = STATE_WORDS.get(CampaignState(state)) if state in set(CampaignState) else None
    return _(word) if word else state


def campaign_list(rows: list[tuple[Campaign, dict[str, int]]]) -> tuple[str, list[Block]]:
    if not rows:
        return _("No campaigns yet. Start one with `/mail-campaign`."), []
    lines = []
    for campaign, counts in rows:
        uncertain = counts.get(RecipientState.UNCERTAIN, 0)
        values = {
            "id": campaign.id,
            "name": escape(campaign.name),
            "state": _state_word(campaign.state),
            "sent": format_number(counts.get(RecipientState.SENT, 0)),
            "total": format_number(campaign.total),
            "uncertain": format_number(uncertain),
        }
        if campaign.state == CampaignState.SCHEDULED and campaign.scheduled_at:
            values["when"] = slack_date(campaign.scheduled_at)
            line = (
                _(
                    "• #{id} *{name}* — {state}, {sent}/{total} sent, {uncertain} uncertain (starts {when})"
                )
                if uncertain
                else _("• #{id} *{name}* — {state}, {sent}/{total} sent (starts {when})")
            )
        elif campaign.started_at:
            values["when"] = f"{campaign.started_at:%Y-%m-%d %H:%M}"
            line = (
                _(
                    "• #{id} *{name}* — {state}, {sent}/{total} sent, {uncertain} uncertain "
                    "(started {when} UTC)"
                )
                if uncertain
                else _("• #{id} *{name}* — {state}, {sent}/{total} sent (started {when} UTC)")
            )
        else:
            line = (
                _("• #{id} *{name}* — {state}, {sent}/{total} sent, {uncertain} uncertain")
                if uncertain
                else _("• #{id} *{name}* — {state}, {sent}/{total} sent")
            )
        line = line.format(**values)
        lines.append(line)
    text = _("Campaigns:") + "\n" + "\n".join(lines)
    return text, [section(text)]


def import_report_text(report: Any) -> str:
    """What a CSV import did, with every skipped row and why."""
    parts = [
        _("Audience *{name}*: added {added}, updated {updated}.").format(
            name=escape(report.audience),
            added=format_number(report.added),
            updated=format_number(report.updated),
        )
    ]
    if report.fields:
        parts.append(
            _("Merge fields: {fields}.").format(
                fields=", ".join(f"`{{{escape(f)}}}`" for f in report.fields)
            )
        )
    skipped = len(report.invalid) + len(report.duplicates) + len(report.suppressed)
    if skipped:
        parts.append(_("Skipped {n}:").format(n=format_number(skipped)))
    for line, value, why in report.invalid[:20]:
        parts.append(
            _("• line {line}: invalid address {value} — {why}").format(
                line=line, value=escape(value) or _("(empty)"), why=escape(why)
            )
        )
    more = len(report.invalid) - 20
    if more > 0:
        parts.append(
            ngettext(
                "• … and {n} more invalid address",
                "• … and {n} more invalid addresses",
                more,
            ).format(n=format_number(more))
        )
    for line, address in report.duplicates[:20]:
        parts.append(
            _("• line {line}: duplicate {address}").format(line=line, address=escape(address))
        )
    more = len(report.duplicates) - 20
    if more > 0:
        parts.append(
            ngettext("• … and {n} more duplicate", "• … and {n} more duplicates", more).format(
                n=format_number(more)
            )
        )
    for line, address in report.suppressed[:20]:
        parts.append(
            _("• line {line}: suppressed {address} (unsubscribed or bounced)").format(
                line=line, address=escape(address)
            )
        )
    more = len(report.suppressed) - 20
    if more > 0:
        parts.append(
            ngettext(
                "• … and {n} more suppressed address",
                "• … and {n} more suppressed addresses",
                more,
            ).format(n=format_number(more))
        )
    return "\n".join(parts)


def home_section(rows: list[tuple[Campaign, dict[str, int]]]) -> list[Block]:
    """The Campaigns part of App Home: recent campaigns and the two starting buttons."""
    blocks: list[Block] = [
        header(_("Campaigns")),
        actions(
            button(_("New campaign"), HOME_NEW, style="primary"),
            button(_("New template"), HOME_TEMPLATE),
            block_id="campaign_home",
        ),
    ]
    for campaign, counts in rows[:5]:
        sent = counts.get(RecipientState.SENT, 0)
        blocks.append(
            context(
                _("#{id} *{name}* — {state}, {sent}/{total} sent").format(
                    id=campaign.id,
                    name=escape(campaign.name),
                    state=_state_word(campaign.state),
                    sent=format_number(sent),
                    total=format_number(campaign.total),
                )
            )
        )
    if not rows:
        blocks.append(
            context(
                _(
                    "No campaigns yet. Audiences: `/mail-audience`; templates: "
                    "`/mail-campaign-template`."
                )
            )
        )
    return blocks[:HOME_BLOCK_BUDGET]
