"""Incremental inbox sync: IMAP → database → Slack threads, exactly once.

The jobs of a sync, one module each:

- ``service``: ``SyncService``, the entry points (a scheduled poll, "Sync now", the push
  engine's syncs), one run at a time per mailbox under its lease, and each folder's cursor;
- ``recording``: new mail parsed and recorded exactly once, the cursor moving with it;
- ``posting``: recorded mail posted to its Slack thread, reconciled with Slack after a crash;
- ``set_aside``: a mail that keeps failing is set aside with a notice and a Retry button, so
  one mail never stalls its mailbox;
- ``health``: each sync's outcome counted into the mailbox's health, and a failing mailbox's
  notices sent once per streak.

Callers import from here; the modules import one another directly.
"""

from bot.sync.health import FailureNotifier, streak_key
from bot.sync.posting import SLACK_METADATA_EVENT
from bot.sync.recording import IngestHook, PostFilter
from bot.sync.service import SyncResult, SyncService

__all__ = [
    "SLACK_METADATA_EVENT",
    "FailureNotifier",
    "IngestHook",
    "PostFilter",
    "SyncResult",
    "SyncService",
    "streak_key",
]
