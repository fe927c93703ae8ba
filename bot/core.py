"""What every service may use: settings, storage, Slack, people's roles and languages, the
scheduler and the named events.

Services receive a ``Core`` (or less) and the other services they call, by name, in their
constructors; they never receive the whole ``AppContext``. That keeps the arrows one way:
``bot.context`` (the assembled application) refers to the services, the services refer to
this module, and this module refers to nothing that refers back."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.events import Events
from bot.languages import Languages
from bot.mailboxes import Mailboxes
from bot.metrics import Metrics
from bot.notify import Notifier
from bot.roles import Roles
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.slack_client import Slack
from storage.db import Database


@dataclass
class Core:
    settings: Settings
    db: Database
    slack: Slack
    mailboxes: Mailboxes
    roles: Roles
    notifier: Notifier
    scheduler: Scheduler
    # Each person's language from their Slack locale (bot/languages.py).
    languages: Languages
    # Named signals features listen to (bot/events.py).
    events: Events = field(default_factory=Events)
    # Prometheus counters (bot/metrics.py); None until the composition installs them.
    metrics: Metrics | None = None
