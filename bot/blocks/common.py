"""Small Block Kit pieces shared by every builder."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from bot.formatting.slack_text import escape, truncate
from locales import N_, _

Block = dict[str, Any]
SECTION_LIMIT = 3000  # Slack's limit for a section's text


CHANNEL_ID_RE = re.compile(r"^[CG][A-Z0-9_]{1,40}$")


def channel_link(channel_id: str | None) -> str:
    """``<#C123>`` for a well-formed public or private channel id; anything else is shown as
    escaped text, never as a control sequence (a stored id is not trusted to be clean)."""
    if not channel_id:
        return _("none")
    if CHANNEL_ID_RE.match(channel_id):
        return f"<#{channel_id}>"
    return "`" + escape(channel_id).replace("`", "'") + "`"


def plain(text: str, *, emoji: bool = True) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150] if len(text) > 150 else text, "emoji": emoji}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(
    text: str, *, accessory: dict[str, Any] | None = None, block_id: str | None = None
) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(truncate(text, SECTION_LIMIT))}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text)}


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(t) for t in texts if t][:10]}


def divider() -> Block:
    return {"type": "divider"}


def button(
    text: str,
    action_id: str,
    value: str = "",
    *,
    style: str | None = None,
    url: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "text": plain(text), "action_id": action_id}
    if value:
        element["value"] = value
    if style:
        element["style"] = style
    if url:
        element["url"] = url
    if confirm:
        element["confirm"] = confirm
    return element


def confirm_dialog(title: str, text: str, yes: str, *, danger: bool = False) -> dict[str, Any]:
    """The "Are you sure?" Slack shows before sending a button's click, cut to Slack's limits
    (title 100, text 300, buttons 30). ``text`` is mrkdwn the caller escaped, like a section's."""
    dialog: dict[str, Any] = {
        "title": {"type": "plain_text", "text": truncate(title, 100)},
        "text": mrkdwn(truncate(text, 300)),
        "confirm": {"type": "plain_text", "text": truncate(yes, 30)},
        "deny": {"type": "plain_text", "text": truncate(_(CANCEL), 30)},
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def actions(*elements: dict[str, Any], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


SAVE = N_("Save")
CANCEL = N_("Cancel")


def modal(
    title: str,
    blocks: list[Block],
    *,
    callback_id: str,
    submit: str | None = SAVE,
    private_metadata: str = "",
    close: str = CANCEL,
) -> dict[str, Any]:
    # The defaults are translated here, at the moment the view is built.
    if submit == SAVE:
        submit = _(SAVE)
    if close == CANCEL:
        close = _(CANCEL)
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title[:24]),
        "close": plain(close),
        "blocks": blocks[:100],
        "private_metadata": private_metadata,
    }
    if submit:
        view["submit"] = plain(submit)
    return view


def text_input(
    block_id: str,
    label: str,
    *,
    initial: str = "",
    placeholder: str = "",
    optional: bool = False,
    multiline: bool = False,
    hint: str = "",
) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
    }
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return input_block(block_id, label, element, optional=optional, hint=hint)


def select_input(
    block_id: str,
    label: str,
    options: list[tuple[str, str]],
    *,
    initial: str | None = None,
    optional: bool = False,
    dispatch: bool = False,
) -> Block:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": "value",
        "options": [option(text, value) for text, value in options],
    }
    for text, value in options:
        if value == initial:
            element["initial_option"] = option(text, value)
    return input_block(block_id, label, element, optional=optional, dispatch=dispatch)


def input_block(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str = "",
    dispatch: bool = False,
) -> Block:
    """An input block around ``element`` (whose action_id the views read back)."""
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    if dispatch:
        block["dispatch_action"] = True
    return block


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def slack_date(value: datetime, *, words: bool = True) -> str:
    """A moment each reader sees in their own time zone (Slack's date token: "Jan 2 at 10:00",
    or "Jan 2 10:00" without ``words``). Clients that cannot render it show the fallback: the
    same moment in UTC, labelled so (a naive value is taken as UTC, as the database keeps it)."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    shown = (
        # Slack fills in {date_short_pretty} and {time}; the words around them are ours.
        _("{date} at {time}").format(date="{date_short_pretty}", time="{time}")
        if words
        else "{date_short_pretty} {time}"
    )
    return f"<!date^{int(moment.timestamp())}^{shown}|{moment:%Y-%m-%d %H:%M} UTC>"
