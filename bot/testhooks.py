"""Test hook: points where a kill -9 test can hold a worker so it dies exactly there."""

from __future__ import annotations

import logging
import os
import threading

log = logging.getLogger(__name__)


def pause_for_tests(point: str) -> None:
    """With MAILROOM_TEST_PAUSE_AT=<point>, hold this worker forever at ``point`` (and log
    ``test pause at <point>``) so a test can kill -9 the process exactly there. The points:
    "after_ack" and "after_record" (a thread reply, bot/replies.py), "compose_after_ack"
    (a new email, handlers/views/inbox.py). Never set in production."""
    if os.environ.get("MAILROOM_TEST_PAUSE_AT") == point:
        log.warning("test pause at %s", point)
        threading.Event().wait()
