"""The footer modal of /mail-footer and App Home, as plain dicts."""

from __future__ import annotations

import json

from bot.blocks.footer import (
    CALLBACK,
    FIELDS,
    PREVIEW_ACTION,
    TARGET_ACTION,
    TEST_ACTION,
    footer_modal,
    footer_saved_text,
    preview_blocks,
)
from locales import N_, speaking
from storage.models import FOOTER_TEXT_COLOR

TARGETS = [("ventas@acme.test", "7"), ("Workspace default", "default")]
TAGS = {"name": N_("your name"), "company": N_("the company name")}


def by_id(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def test_the_modal_has_every_field_the_submission_reads_for_the_chosen_target() -> None:
    view = footer_modal(
        targets=TARGETS, target="default", values={"text": "Regards, {name}"}, tags=TAGS
    )
    assert view["callback_id"] == CALLBACK
    assert json.loads(view["private_metadata"]) == {"target": "default"}
    blocks = by_id(view)
    assert set(FIELDS) <= set(blocks)
    assert blocks["text"]["element"]["initial_value"] == "Regards, {name}"
    assert blocks["format"]["element"]["initial_option"]["value"] == "plain"
    assert blocks["text_color"]["element"]["initial_value"] == FOOTER_TEXT_COLOR
    picker = blocks["target"]["accessory"]
    assert picker["action_id"] == TARGET_ACTION
    assert picker["initial_option"]["value"] == "default"
    tools = blocks["footer_tools"]["elements"]
    assert [(b["action_id"], b["value"]) for b in tools] == [
        (PREVIEW_ACTION, "default"),
        (TEST_ACTION, "default"),
    ]
    assert "preview" not in blocks


def test_an_unknown_target_falls_back_to_the_first_and_tags_are_listed() -> None:
    view = footer_modal(targets=TARGETS, target="99", values={}, tags=TAGS, notice="Saved.")
    blocks = by_id(view)
    assert blocks["target"]["accessory"]["initial_option"]["value"] == "7"
    assert blocks["notice"]["text"]["text"] == "Saved."
    tags = next(b for b in view["blocks"] if b["type"] == "context")["elements"][0]["text"]
    assert tags == "Tags: `{name}` your name · `{company}` the company name"


def test_the_preview_escapes_the_text_or_lists_what_to_fix() -> None:
    view = footer_modal(
        targets=TARGETS, target="7", values={}, tags=TAGS, preview=("Hi <!channel>\nAna", [])
    )
    preview = by_id(view)["preview"]["text"]["text"]
    assert preview.startswith("*Preview* (text version")
    assert "&lt;!channel&gt;" in preview and "<!channel>" not in preview
    problems = preview_blocks("ignored", ["Bad colour <#C1>", "Link is not https"])
    text = problems[1]["text"]["text"]
    assert text.startswith(":x: *Fix these before saving:*")
    assert "• Bad colour &lt;#C1&gt;\n• Link is not https" in text and "ignored" not in text
    assert preview_blocks("  ", [])[1]["text"]["text"].endswith("_(empty footer)_")


def test_saved_text_names_the_target_in_the_readers_language() -> None:
    assert footer_saved_text(None).startswith("Default footer saved.")
    assert footer_saved_text("ventas@acme.test").startswith("Footer saved for ventas@acme.test.")
    with speaking("es"):
        spanish = footer_saved_text("ventas@acme.test")
    assert "ventas@acme.test" in spanish and not spanish.startswith("Footer saved")
