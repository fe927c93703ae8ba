"""View listeners for sign-in: none are needed.

The sign-in buttons sit in the /mail-connect modal as URL buttons, so the sign-in never
submits a view of its own: their clicks are handled in handlers/actions/signin.py and the
rest happens in the browser (bot/signin/web.py).
"""

from __future__ import annotations

from slack_bolt import App

from bot.context import AppContext


def register(app: App, ctx: AppContext) -> None:
    """Nothing to register (see the module docstring)."""
