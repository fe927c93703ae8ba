"""Wait for asynchronous outcomes by polling with a deadline, never by fixed sleeps."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.02, message: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; return that value.

    Raises AssertionError naming ``message`` when the deadline passes, so a test that waits
    for an outcome that never comes fails with a readable reason instead of hanging.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for: {message or probe}")
        time.sleep(interval)
