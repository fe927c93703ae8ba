"""Everything a listener or job needs, built once per process (see bot.factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.events import Events
from bot.languages import Languages
from bot.mailboxes import Mailboxes
from bot.notify import Notifier
from bot.roles import Roles
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.slack_client import Slack
from storage.db import Database

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.campaigns.sending import CampaignEngine
    from bot.jobs import Jobs
    from bot.lifecycle import MailboxLifecycle
    from bot.metrics import Metrics
    from bot.ownership import Ownership
    from bot.preferences.panel import HealthWatcher
    from bot.push.engine import PushEngine
    from bot.replies import ReplyService
    from bot.senders import Senders
    from bot.signin.service import SignIn
    from bot.sync import SyncService
    from storage.models import Mailbox

T = TypeVar("T")


@dataclass
class AppContext:
    settings: Settings
    db: Database
    slack: Slack
    mailboxes: Mailboxes
    roles: Roles
    notifier: Notifier
    scheduler: Scheduler
    # Each person's language from their Slack locale (bot/i18n.py).
    languages: Languages
    sync: SyncService = field(init=False)
    replies: ReplyService = field(init=False)
    # Activate / pause / choose a channel: guards, scheduling, mailbox_changed (bot/lifecycle.py).
    lifecycle: MailboxLifecycle = field(init=False)
    # Which mailboxes this process syncs (leases), and work routed to their workers.
    ownership: Ownership = field(init=False)
    jobs: Jobs = field(init=False)
    # Named signals features listen to (bot/events.py).
    events: Events = field(default_factory=Events)
    # Services of the features (bot/features.py); None when a feature is not installed.
    senders: Senders | None = None
    signin: SignIn | None = None
    campaigns: CampaignEngine | None = None
    push: PushEngine | None = None
    metrics: Metrics | None = None
    home_watcher: HealthWatcher | None = None
    # Extension points: see the aliases below for what each is called with.
    routes: list[RouteInstaller] = field(default_factory=list)
    health: list[HealthSection] = field(default_factory=list)
    status_lines: list[StatusLines] = field(default_factory=list)
    status_footer: list[StatusFooter] = field(default_factory=list)
    activation_guards: list[ActivationGuard] = field(default_factory=list)
    home_view: HomeView | None = None
    sync_mode_line: SyncModeLine | None = None
    sign_in_buttons: SignInButtons | None = None
    sign_in_note: SignInNote | None = None
    # Secret for unsubscribe links, derived once (bot/campaigns/unsubscribe.py).
    unsubscribe_key: bytes | None = None

    # For code that only runs when its feature is installed (its listeners, its commands).
    def need_senders(self) -> Senders:
        return _installed(self.senders, "senders")

    def need_signin(self) -> SignIn:
        return _installed(self.signin, "signin")

    def need_campaigns(self) -> CampaignEngine:
        return _installed(self.campaigns, "campaigns")


def _installed(service: T | None, feature: str) -> T:
    if service is None:
        raise RuntimeError(f"the {feature} feature is not installed (bot/features.py)")
    return service


# Web routes a feature adds to the FastAPI app.
RouteInstaller = Callable[["FastAPI", AppContext], None]
# A section merged into /health's body.
HealthSection = Callable[[AppContext], dict[str, Any]]
# Lines under one mailbox in /mail-status.
StatusLines = Callable[[AppContext, "Mailbox"], list[str]]
# Lines at the end of /mail-status for admins of team_id.
StatusFooter = Callable[[AppContext, str], list[str]]
# Why the mailbox may not be activated now, or None.
ActivationGuard = Callable[[AppContext, "Mailbox"], "str | None"]
# App Home tab of (user_id, team_id).
HomeView = Callable[[AppContext, str, str], dict[str, Any]]
# How a mailbox syncs (push / polling), one line.
SyncModeLine = Callable[[AppContext, "Mailbox"], str]
# Sign-in buttons for (ctx, user_id, team_id, kind, mailbox_id).
SignInButtons = Callable[..., list[dict[str, Any]]]
# A note for the connect modal: providers not configured on this server.
SignInNote = Callable[[AppContext], str]
