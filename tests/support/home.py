"""Opening and reading a person's App Home, as the fake Slack published it."""

from __future__ import annotations

import json

from tests.support.harness import Harness
from tests.support.slack_requests import app_home_opened
from tests.support.wait import wait_until


def open_home(h: Harness, user: str) -> str:
    """Open the App Home tab as ``user``; returns the published view's blocks as text."""
    before = len(h.slack.calls_to("views.publish"))
    response = h.client.event(app_home_opened(user))
    assert response.status_code == 200
    wait_until(lambda: len(h.slack.calls_to("views.publish")) > before, message="home published")
    return home_text(h, user)


def home_text(h: Harness, user: str) -> str:
    view = h.slack.home_view(user)
    assert view is not None and view["type"] == "home"
    return json.dumps(view["blocks"])


def home_containing(h: Harness, user: str, needle: str, timeout: float = 10.0) -> str:
    """Wait until the user's published home contains ``needle``; return its text."""
    return wait_until(
        lambda: needle in home_text(h, user) and home_text(h, user),
        timeout=timeout,
        message=f"{user}'s home to show {needle!r}",
    )
