"""Reading the Block Kit blocks the app builds."""

from __future__ import annotations

from typing import Any


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    """The action ids of every element of the ``actions`` blocks, in order."""
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
