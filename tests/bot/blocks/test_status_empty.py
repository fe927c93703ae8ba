"""/mail-status with no mailboxes still shows the workspace lines (domain verdicts)."""

from __future__ import annotations

from bot.blocks.status import status_message


def test_status_footer_shows_without_mailboxes() -> None:
    text, blocks = status_message([], ["*example.com*: DNS verdict pass"])
    assert "No mailboxes yet" in text
    assert any(b["type"] == "context" and "example.com" in str(b) for b in blocks)
