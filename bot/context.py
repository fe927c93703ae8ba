"""Everything a listener or job needs, built once per process (see bot.factory)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from bot.core import Core
from bot.hooks import (
    ActivationGuard,
    HealthSection,
    HomeView,
    RouteInstaller,
    SignInButtons,
    SignInNote,
    StatusFooter,
    StatusLines,
    SyncModeLine,
)

if TYPE_CHECKING:
    from bot.campaigns.sending import CampaignEngine
    from bot.jobs import Jobs, JobWorker
    from bot.lifecycle import MailboxLifecycle
    from bot.ownership import Ownership
    from bot.push.engine import PushEngine
    from bot.replies import ReplyService
    from bot.senders.service import Senders
    from bot.signin.service import SignIn
    from bot.sync import SyncService

T = TypeVar("T")


@dataclass
class AppContext(Core):
    """The assembled application: the core (bot/core.py) and every service and hook.

    Only the composition (bot/factory.py, bot/features.py, each feature's ``install``) and
    the Slack listeners (handlers/) hold it; services receive what they use instead."""

    sync: SyncService = field(init=False)
    replies: ReplyService = field(init=False)
    # Activate, pause, hide, choose a channel, connected, reconnect, remove, sync mode,
    # language: role check, guards, scheduling, mailbox_changed (bot/lifecycle.py).
    lifecycle: MailboxLifecycle = field(init=False)
    # Which mailboxes this process syncs (leases); where a mailbox's work runs (here, or
    # its worker woken up); the worker side that picks up waiting work.
    ownership: Ownership = field(init=False)
    jobs: Jobs = field(init=False)
    job_worker: JobWorker = field(init=False)
    # Services of the features (bot/features.py); None when a feature is not installed.
    senders: Senders | None = None
    signin: SignIn | None = None
    campaigns: CampaignEngine | None = None
    push: PushEngine | None = None
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
