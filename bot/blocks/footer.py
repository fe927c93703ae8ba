"""The footer modal (/mail-footer, App Home "Edit footer"): fields, preview, test result."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    divider,
    modal,
    option,
    section,
    select_input,
    text_input,
)
from bot.formatting.slack_text import escape, quote_block, truncate
from locales import N_, _
from storage.models import FOOTER_BACKGROUND_COLOR, FOOTER_LINK_COLOR, FOOTER_TEXT_COLOR

CALLBACK = "mail_footer"
TARGET_ACTION = "footer_target"
PREVIEW_ACTION = "footer_preview"
TEST_ACTION = "footer_test"
# Block ids of the inputs, in the order shown (also the keys of the form values).
FIELDS = (
    "text",
    "format",
    "company",
    "text_color",
    "link_color",
    "background_color",
    "facebook",
    "x",
    "instagram",
    "linkedin",
)


def footer_modal(
    *,
    targets: list[tuple[str, str]],
    target: str,
    values: dict[str, str],
    tags: dict[str, str],
    preview: tuple[str, list[str]] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    """The editor. ``targets`` are (label, value) pairs: the mailboxes this person may edit
    (value = mailbox id) and, for admins, the workspace default. ``preview`` is (plain text
    version, problems). Nothing is stored until the modal is submitted (Save)."""
    v = values
    current = next(((label, value) for label, value in targets if value == target), targets[0])
    picker = {
        "type": "static_select",
        "action_id": TARGET_ACTION,
        "options": [option(label, value) for label, value in targets],
        "initial_option": option(*current),
    }
    blocks: list[Block] = [section(_("*Footer for*"), accessory=picker, block_id="target")]
    if notice:
        blocks.append(section(notice, block_id="notice"))
    blocks += [
        text_input(
            "text",
            _("Footer text"),
            initial=v.get("text", ""),
            multiline=True,
            optional=True,
            hint=_("Several lines are fine. Tags are filled in when a reply is sent."),
        ),
        select_input(
            "format",
            _("Format"),
            [
                (_("Plain text"), "plain"),
                (_("Rich: *bold*, _italic_, <https://link|links>"), "rich"),
            ],
            initial=v.get("format") or "plain",
        ),
        text_input(
            "company",
            _("Company name (for {company})"),
            initial=v.get("company", ""),
            optional=True,
        ),
        *(
            text_input(name, _(label), initial=v.get(name, default), placeholder=default)
            for name, label, default in (
                ("text_color", N_("Text colour"), FOOTER_TEXT_COLOR),
                ("link_color", N_("Link colour"), FOOTER_LINK_COLOR),
                ("background_color", N_("Background colour"), FOOTER_BACKGROUND_COLOR),
            )
        ),
        text_input(
            "facebook",
            _("Facebook page"),
            initial=v.get("facebook", ""),
            optional=True,
            placeholder="https://facebook.com/yourcompany",
        ),
        text_input(
            "x",
            _("X profile"),
            initial=v.get("x", ""),
            optional=True,
            placeholder="https://x.com/yourcompany",
        ),
        text_input(
            "instagram",
            _("Instagram profile"),
            initial=v.get("instagram", ""),
            optional=True,
            placeholder="https://instagram.com/yourcompany",
        ),
        text_input(
            "linkedin",
            _("LinkedIn page"),
            initial=v.get("linkedin", ""),
            optional=True,
            placeholder="https://linkedin.com/company/yourcompany",
        ),
        context(
            _("Tags: {tags}").format(
                tags=" · ".join(
                    f"`{{{name}}}` {escape(_(meaning))}" for name, meaning in tags.items()
                )
            )
        ),
        actions(
            button(_("Preview"), PREVIEW_ACTION, target),
            button(_("Send me a test"), TEST_ACTION, target),
            block_id="footer_tools",
        ),
    ]
    if preview is not None:
        blocks += preview_blocks(*preview)
    return modal(
        _("Email footer"),
        blocks,
        callback_id=CALLBACK,
        submit=_("Save"),
        private_metadata=json.dumps({"target": target}),
    )


def preview_blocks(text: str, problems: list[str]) -> list[Block]:
    blocks: list[Block] = [divider()]
    if problems:
        blocks.append(
            section(
                ":x: "
                + _("*Fix these before saving:*")
                + "\n"
                + "\n".join(f"• {escape(p)}" for p in problems),
                block_id="preview",
            )
        )
        return blocks
    shown = quote_block(truncate(escape(text), 2500)) if text.strip() else _("_(empty footer)_")
    blocks.append(
        section(
            _("*Preview* (text version; the email also uses your colours and links):")
            + "\n"
            + shown,
            block_id="preview",
        )
    )
    return blocks


def footer_saved_text(address: str | None) -> str:
    """``address``: the mailbox's; None for the workspace default footer."""
    if address is None:
        return _("Default footer saved. Every reply sent from now on carries it.")
    return _("Footer saved for {target}. Every reply sent from now on carries it.").format(
        target=address
    )
