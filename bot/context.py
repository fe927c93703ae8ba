"""Everything a listener or job needs, built once per process (see bot.factory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.mailboxes import Mailboxes
from bot.notify import Notifier
from bot.roles import Roles
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.slack_client import Slack
from storage.db import Database

if TYPE_CHECKING:
    from bot.jobs import Jobs
    from bot.ownership import Ownership
    from bot.replies import ReplyService
    from bot.sync import SyncService


@dataclass
class AppContext:
    settings: Settings
    db: Database
    slack: Slack
    mailboxes: Mailboxes
    roles: Roles
    notifier: Notifier
    scheduler: Scheduler
    sync: SyncService = field(init=False)
    replies: ReplyService = field(init=False)
    # Which mailboxes this process syncs (leases), and work routed to their workers.
    ownership: Ownership = field(init=False)
    jobs: Jobs = field(init=False)
    # Capabilities added by later features register themselves here (e.g. "oauth", "ses").
    extras: dict[str, Any] = field(default_factory=dict)
