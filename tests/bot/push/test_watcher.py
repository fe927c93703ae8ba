"""One live mailbox's session (bot.push.watcher): reading what the server says while idle."""

from __future__ import annotations

from bot.push.backoff import Backoff
from bot.push.watcher import Watcher


def test_idle_lines_cut_by_the_network_are_joined_before_they_are_read() -> None:
    """imapclient issue #519: a non-blocking read may end in the middle of a line."""
    watcher = Watcher(1, Backoff())
    assert watcher.feed(b"* OK Still here\r\n* 4 EXI") == (False, False)
    assert watcher.feed(b"STS\r\n") == (True, False)
    assert watcher.feed(b"* 3 EXPUNGE\r\n* BYE shutting down\r\n") == (True, True)
    assert watcher.feed(b"x" * (70 * 1024)) == (False, True)  # no line end in sight: broken
