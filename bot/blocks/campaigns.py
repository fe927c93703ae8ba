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
    text_input,
)
from bot.formatting.slack_text import escape, truncate
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
        select_input("mailbox", "Send from (marketing mailbox)", mailboxes),
        select_input("audience", "To (audience)", audiences),
        select_input("template", "Template", templates),
        {
            "type": "input",
            "block_id": "tracking",
            "optional": True,
            "label": {"type": "plain_text", "text": "Tracking"},
            "element": {
                "type": "checkboxes",
                "action_id": "value",
                "options": [
                    {
                        "text": {"type": "plain_text", "text": "Track clicks"},
                        "description": {
                            "type": "plain_text",
                            "text": "Links go through Mailroom, so follow-up steps can target "
                            "who clicked. Opens are not tracked (unreliable).",
                        },
                        "value": "clicks",
                    }
                ],
            },
        },
        context(
            "Nothing is sent yet: the next step shows the recipient count and the domain check."
        ),
    ]
    return modal("New campaign", blocks, callback_id=CAMPAIGN_VIEW, submit="Next")


def body_input(row: CampaignTemplate | None, fields: list[str]) -> Block:
    """The rich text editor (re-opened with the stored rich_text block); a template written
    in Slack mrkdwn before the editor existed keeps its plain text box."""
    merge = (
        "Merge fields: "
        + ", ".join(f"{{{f}}}" for f in fields)
        + "; a default after a bar: {first_name|there}."
    )
    if row is not None and not row.body_rich and row.body:
        return text_input(
            "body",
            "Message",
            initial=row.body,
            multiline=True,
            hint="Slack formatting (*bold*, _italic_, <https://link|label>). " + merge,
        )
    element: dict[str, Any] = {"type": "rich_text_input", "action_id": "value"}
    if row is not None and row.body_rich:
        element["initial_value"] = json.loads(row.body_rich)
    return input_block("body", "Message", element, hint=merge)


def template_modal(row: CampaignTemplate | None, fields: list[str]) -> dict[str, Any]:
    blocks: list[Block] = [
        text_input("name", "Template name", initial=row.name if row else ""),
        text_input(
            "subject",
            "Subject",
            initial=row.subject if row else "",
            placeholder="News for {first_name|you}",
        ),
        body_input(row, fields),
        actions(
            button("Preview", PREVIEW),
            button("Send me a test", TEST),
            block_id="template_tools",
        ),
    ]
    metadata = json.dumps({"template_id": row.id if row else None})
    return modal("Campaign template", blocks, callback_id=TEMPLATE_VIEW, private_metadata=metadata)


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
    text = (
        f"Campaign *{escape(campaign.name)}* from {escape(mailbox_address)}: "
        f"*{recipients:,}* recipients after suppression ({suppressed:,} suppressed)."
    )
    blocks: list[Block] = [
        header("Ready to send?"),
        section(text),
        section(
            f"{icon} Domain {escape(campaign.domain)}: *{verdict}* — "
            + escape(", ".join(domain_lines) or "no SPF/DKIM/DMARC lines")
        ),
        context(f"Limits: {escape(limits_text)}"),
    ]
    if warning:
        blocks.append(section(f":warning: {escape(warning)}"))
    value = str(campaign.id)
    if verdict in ("fail", "unknown") and not campaign.domain_confirmed_by:
        blocks.append(
            section(
                f"{escape(campaign.domain)} does not pass its checks: mail may land in spam or be "
                f"refused. Fix it with `/dkim-check {escape(campaign.domain)}`; only a Mailroom "
                "admin can send anyway."
            )
        )
        blocks.append(
            actions(
                button("Send anyway (admin)", CONFIRM_DOMAIN, value, style="danger"),
                button("Discard", DISCARD, value),
            )
        )
    else:
        blocks.append(
            actions(
                button("Send now", SEND, value, style="primary"),
                # Shown in the person's own Slack time zone; Slack sends back a Unix time.
                {"type": "datetimepicker", "action_id": SCHEDULE_AT},
                button("Schedule", SCHEDULE, value),
                button("Discard", DISCARD, value),
                block_id="campaign_confirm",
            )
        )
    return text, blocks


def when_text(moment: Any) -> str:
    """A time Slack shows in each reader's own time zone."""
    ts = int(moment.timestamp())
    return f"<!date^{ts}^{{date_short_pretty}} at {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


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
        CampaignState.SENDING: ":outbox_tray: Sending",
        CampaignState.PAUSED: ":double_vertical_bar: Paused",
        CampaignState.CANCELLED: ":no_entry_sign: Cancelled",
        CampaignState.DONE: ":white_check_mark: Finished",
        CampaignState.SCHEDULED: ":calendar: Scheduled",
    }.get(CampaignState(campaign.state), campaign.state)
    text = (
        f"{state}: campaign {escape(campaign.name)} from {escape(mailbox_address)} — "
        f"{sent:,} sent, {remaining:,} remaining, {failed_n:,} failed, {unsure:,} uncertain, "
        f"{bounced:,} bounced, {unsubscribed:,} unsubscribed"
    )
    lines = [
        f"*{state}* · campaign *{escape(campaign.name)}* from {escape(mailbox_address)}",
        f"`{progress_bar(sent + failed_n + unsure, total - counts.get(RecipientState.CANCELLED, 0))}`",
        f"Sent *{sent:,}* · remaining *{remaining:,}* · failed *{failed_n:,}* · uncertain "
        f"*{unsure:,}* · bounced *{bounced:,}* · unsubscribed *{unsubscribed:,}*"
        + (f" · about {_duration(eta_seconds)} left" if remaining and not finished else ""),
    ]
    if campaign.note and not finished:
        lines.append(f"_{escape(campaign.note)}_")
    blocks: list[Block] = [section("\n".join(lines))]
    if uncertain:
        blocks.append(
            section(
                "*Uncertain* (Mailroom stopped while sending; the server may have accepted "
                "them, so they are not sent again): " + escape(truncate(", ".join(uncertain), 2000))
            )
        )
    if failed and finished:
        blocks.append(
            section(
                "*Failed*: "
                + escape(truncate("; ".join(f"{a} ({why[:80]})" for a, why in failed), 2000))
            )
        )
    value = str(campaign.id)
    if campaign.state == CampaignState.SENDING:
        blocks.append(
            actions(button("Pause", PAUSE, value), button("Cancel", CANCEL, value, style="danger"))
        )
    elif campaign.state == CampaignState.PAUSED:
        blocks.append(
            actions(
                button("Resume", RESUME, value, style="primary"),
                button("Cancel", CANCEL, value, style="danger"),
            )
        )
    return text, blocks


def campaign_list(rows: list[tuple[Campaign, dict[str, int]]]) -> tuple[str, list[Block]]:
    if not rows:
        return "No campaigns yet. Start one with `/mail-campaign`.", []
    lines = []
    for campaign, counts in rows:
        uncertain = counts.get(RecipientState.UNCERTAIN, 0)
        started = (
            f" (started {campaign.started_at:%Y-%m-%d %H:%M} UTC)" if campaign.started_at else ""
        )
        if campaign.state == CampaignState.SCHEDULED and campaign.scheduled_at:
            started = f" (starts {when_text(campaign.scheduled_at)})"
        lines.append(
            f"• #{campaign.id} *{escape(campaign.name)}* — {campaign.state}, "
            f"{counts.get(RecipientState.SENT, 0):,}/{campaign.total:,} sent"
            + (f", {uncertain:,} uncertain" if uncertain else "")
            + started
        )
    text = "Campaigns:\n" + "\n".join(lines)
    return text, [section(text)]


def import_report_text(report: Any) -> str:
    """What a CSV import did, with every skipped row and why."""
    parts = [
        f"Audience *{escape(report.audience)}*: added {report.added:,}, updated {report.updated:,}."
    ]
    if report.fields:
        parts.append(
            "Merge fields: " + ", ".join(f"`{{{escape(f)}}}`" for f in report.fields) + "."
        )
    skipped = len(report.invalid) + len(report.duplicates) + len(report.suppressed)
    if skipped:
        parts.append(f"Skipped {skipped:,}:")
    for line, value, why in report.invalid[:20]:
        parts.append(f"• line {line}: invalid address {escape(value) or '(empty)'} — {escape(why)}")
    if len(report.invalid) > 20:
        parts.append(f"• … and {len(report.invalid) - 20:,} more invalid addresses")
    for line, address in report.duplicates[:20]:
        parts.append(f"• line {line}: duplicate {escape(address)}")
    if len(report.duplicates) > 20:
        parts.append(f"• … and {len(report.duplicates) - 20:,} more duplicates")
    for line, address in report.suppressed[:20]:
        parts.append(f"• line {line}: suppressed {escape(address)} (unsubscribed or bounced)")
    if len(report.suppressed) > 20:
        parts.append(f"• … and {len(report.suppressed) - 20:,} more suppressed addresses")
    return "\n".join(parts)


def home_section(rows: list[tuple[Campaign, dict[str, int]]]) -> list[Block]:
    """The Campaigns part of App Home: recent campaigns and the two starting buttons."""
    blocks: list[Block] = [
        header("Campaigns"),
        actions(
            button("New campaign", HOME_NEW, style="primary"),
            button("New template", HOME_TEMPLATE),
            block_id="campaign_home",
        ),
    ]
    for campaign, counts in rows[:5]:
        sent = counts.get(RecipientState.SENT, 0)
        blocks.append(
            context(
                f"#{campaign.id} *{escape(campaign.name)}* — {campaign.state}, "
                f"{sent:,}/{campaign.total:,} sent"
            )
        )
    if not rows:
        blocks.append(
            context(
                "No campaigns yet. Audiences: `/mail-audience`; templates: `/mail-campaign-template`."
            )
        )
    return blocks[:HOME_BLOCK_BUDGET]
