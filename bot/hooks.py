"""The shapes of the hooks features add to the application (``AppContext``'s lists).

Hooks receive no context: a feature binds what it uses when it installs them, so this module
(and the services typed with it) never refers back to the assembled application."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from storage.models import Mailbox

# Web routes a feature adds to the FastAPI app.
RouteInstaller = Callable[["FastAPI"], None]
# A section merged into /health's body.
HealthSection = Callable[[], dict[str, Any]]
# Lines under one mailbox in /mail-status.
StatusLines = Callable[["Mailbox"], list[str]]
# Lines at the end of /mail-status for admins of team_id.
StatusFooter = Callable[[str], list[str]]
# Why the mailbox may not be activated now, or None.
ActivationGuard = Callable[["Mailbox"], "str | None"]
# App Home tab of (user_id, team_id).
HomeView = Callable[[str, str], dict[str, Any]]
# How a mailbox syncs (push / polling), one line.
SyncModeLine = Callable[["Mailbox"], str]
# Sign-in buttons for (user_id, team_id, kind, mailbox_id).
SignInButtons = Callable[..., list[dict[str, Any]]]
# A note for the connect modal: providers not configured on this server.
SignInNote = Callable[[], str]
