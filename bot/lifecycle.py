"""One place that changes whether a mailbox runs or shows: activate, pause, choose its channel,
hide or show, reconnect, remove; and the settings that change what it syncs or writes (sync
mode, language).

Each change checks who may make it and what blocks it (``ctx.activation_guards``: SES
verification, Microsoft consent, a channel), applies the scheduling consequence (sync
scheduled or unscheduled), and announces ``ctx.events.mailbox_changed`` (App Home, push)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.events import Signal
from bot.mailboxes import Mailboxes
from bot.roles import Roles
from bot.scheduler import Scheduler
from locales import N_, _
from providers.errors import UserError
from storage.models import SYNC_MODES, Health, Mailbox, saved_id

if TYPE_CHECKING:
    from bot.hooks import ActivationGuard

NOT_MANAGER = N_("Only an admin (or the owner of a personal mailbox) can pause or activate it.")
CANNOT_RECONNECT = N_("Only an admin (or the owner of a personal mailbox) can reconnect it.")
CANNOT_REMOVE = N_("Only an admin (or the owner of a personal mailbox) can remove it.")
CANNOT_CHOOSE_CHANNEL = N_(
    "Only an admin (or the owner of a personal mailbox) can choose its channel."
)
CANNOT_CHANGE_SYNC = N_(
    "Only an admin (or the owner of a personal mailbox) can change how it syncs."
)
CANNOT_CHANGE_LANGUAGE = N_(
    "Only an admin (or the owner of a personal mailbox) can change its language."
)
GONE = N_("That mailbox no longer exists. Run `/mail-status` to see the current list.")


class MailboxLifecycle:
    def __init__(
        self,
        mailboxes: Mailboxes,
        roles: Roles,
        scheduler: Scheduler,
        sync_run: Callable[[int], object],
        guards: Sequence[ActivationGuard],
        changed: Signal[[int]],
    ) -> None:
        self.mailboxes = mailboxes
        self.roles = roles
        self.scheduler = scheduler
        self.sync_run = sync_run
        self.guards = guards
        self.changed = changed

    def activation_refusal(self, mailbox: Mailbox) -> str | None:
        """Why ``mailbox`` may not be made active now (sender unverified, no channel...)."""
        for guard in self.guards:
            refusal = guard(mailbox)
            if refusal:
                return refusal
        return None

    def set_active(self, user_id: str, mailbox: Mailbox, active: bool) -> Mailbox:
        """Activate (sync from now on) or pause (stop syncing); raises UserError if refused."""
        if not self.roles.can_manage(user_id, mailbox):
            raise UserError(_(NOT_MANAGER))
        if active:
            refusal = self.activation_refusal(mailbox)
            if refusal:
                raise UserError(refusal)
        updated = self.mailboxes.set_fields(saved_id(mailbox), active=active)
        if active:
            self.scheduler.schedule_sync(saved_id(mailbox), self.sync_run)
        else:
            self.scheduler.unschedule_sync(saved_id(mailbox))
        self.changed.emit(saved_id(mailbox))
        return updated if updated is not None else mailbox

    def set_visible(self, user_id: str, mailbox: Mailbox, visible: bool) -> Mailbox:
        """Show or hide a mailbox (hidden: listed to admins only); its sync is unchanged."""
        if not self.roles.can_manage(user_id, mailbox):
            raise UserError(
                _("Only an admin (or the owner of a personal mailbox) can hide or show it.")
            )
        updated = self.mailboxes.set_fields(saved_id(mailbox), visible=visible)
        self.changed.emit(saved_id(mailbox))
        return updated if updated is not None else mailbox

    def activate_in_channel(
        self, user_id: str, mailbox: Mailbox, channel_id: str
    ) -> tuple[Mailbox, str | None]:
        """Save the chosen channel, then activate unless a guard refuses (the channel stays).
        Raises UserError when ``user_id`` may not manage the mailbox."""
        self.check_can_choose_channel(user_id, mailbox)
        saved = self.mailboxes.set_fields(saved_id(mailbox), channel_id=channel_id)
        mailbox = saved if saved is not None else mailbox
        refusal = self.activation_refusal(mailbox)
        if refusal:
            return mailbox, refusal
        activated = self.mailboxes.set_fields(saved_id(mailbox), active=True)
        mailbox = activated if activated is not None else mailbox
        self.start_syncing(mailbox)
        self.changed.emit(saved_id(mailbox))
        return mailbox, None

    def start_syncing(self, mailbox: Mailbox) -> None:
        """A connected (or reconnected) active mailbox: its first sync right away."""
        if mailbox.active:
            self.scheduler.schedule_sync(saved_id(mailbox), self.sync_run, first_in=0.2)

    def check_can_choose_channel(self, user_id: str, mailbox: Mailbox) -> None:
        """Before Mailroom joins a channel for the mailbox: may ``user_id`` choose it?"""
        self._check_manager(user_id, mailbox, CANNOT_CHOOSE_CHANNEL)

    def set_sync_mode(self, user_id: str, mailbox: Mailbox, mode: str) -> Mailbox:
        """Full (every mail) or partial (only known contacts' mail) from the next sync on."""
        self._check_manager(user_id, mailbox, CANNOT_CHANGE_SYNC)
        if mode not in SYNC_MODES:
            raise UserError(
                _("The sync mode is `full` (every email) or `partial` (only known contacts).")
            )
        return self._set(mailbox, sync_mode=mode)

    def set_language(self, user_id: str, mailbox: Mailbox, language: str | None) -> Mailbox:
        """The language of the email Mailroom itself writes for the mailbox (None: the
        workspace's)."""
        self._check_manager(user_id, mailbox, CANNOT_CHANGE_LANGUAGE)
        return self._set(mailbox, language=language)

    def _set(self, mailbox: Mailbox, **fields: object) -> Mailbox:
        updated = self.mailboxes.set_fields(saved_id(mailbox), **fields)
        if updated is None:
            raise UserError(_(GONE))
        self.changed.emit(saved_id(mailbox))
        return updated

    def _check_manager(self, user_id: str, mailbox: Mailbox, refusal: str) -> None:
        if not self.roles.can_manage(user_id, mailbox):
            raise UserError(_(refusal))

    def may_reconnect(self, user_id: str, mailbox: Mailbox) -> bool:
        """Whether ``user_id`` may give ``mailbox`` new credentials (and change its settings)."""
        return self.roles.can_manage(user_id, mailbox)

    def check_can_reconnect(self, user_id: str, mailbox: Mailbox) -> None:
        """``may_reconnect``, raising UserError with the sentence when not."""
        if not self.may_reconnect(user_id, mailbox):
            raise UserError(_(CANNOT_RECONNECT))

    def connected(self, mailbox: Mailbox) -> Mailbox:
        """Credentials were just saved (a new mailbox, or a reconnect of one): its health
        starts over (the old error was about the old credentials), its first sync runs at
        once when it is active, and App Home and push hear of it."""
        reset = self.mailboxes.set_fields(
            saved_id(mailbox), health=Health.NEW, last_error=None, consecutive_failures=0
        )
        mailbox = reset if reset is not None else mailbox
        self.start_syncing(mailbox)
        self.changed.emit(saved_id(mailbox))
        return mailbox

    def remove(self, user_id: str, mailbox: Mailbox) -> Mailbox:
        """Take ``mailbox`` out of Mailroom: no more sync or sending, its passwords and
        tokens wiped, gone from every list; its threads stay in Slack. Raises UserError
        if ``user_id`` may not."""
        if not self.roles.can_manage(user_id, mailbox):
            raise UserError(_(CANNOT_REMOVE))
        self.scheduler.unschedule_sync(saved_id(mailbox))
        removed = self.mailboxes.mark_removed(saved_id(mailbox))
        # Push stops watching it and App Home drops it (both listen to this).
        self.changed.emit(saved_id(mailbox))
        return removed if removed is not None else mailbox
