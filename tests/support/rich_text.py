"""Slack ``rich_text`` blocks as the rich text editor sends them, built in tests."""

from __future__ import annotations

from typing import Any


def section(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rich_text_section", "elements": list(elements)}


def text(value: str, **style: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "text", "text": value}
    if style:
        element["style"] = style
    return element


def rich(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "rich_text", "elements": list(blocks)}
