"""Google and Microsoft sign-in, token lifecycle, Microsoft admin consent.

Imports happen inside ``install``: the provider modules import ``providers.signin_errors``, so the
package itself must not import them at load time.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import AppContext
    from storage.models import Mailbox

STATE_PURGE_SECONDS = 3600


def install(ctx: AppContext) -> None:
    """Register services, hooks, routes and scheduled jobs on ``ctx`` (see bot.features)."""
    from bot.signin.service import SignIn
    from bot.signin.web import install_routes

    signin = SignIn(ctx, ctx.lifecycle, ctx.sync.sync_now)
    ctx.signin = signin
    ctx.mailboxes.tokens = signin.tokens
    ctx.sign_in_buttons = signin.sign_in_buttons
    ctx.sign_in_note = partial(_sign_in_note, ctx)
    ctx.routes.append(partial(install_routes, ctx=ctx))
    ctx.events.started.connect(partial(_schedule, ctx))
    ctx.status_footer.append(partial(_status_footer, ctx))
    ctx.status_lines.append(_status_lines)
    ctx.activation_guards.append(_needs_channel)
    ctx.sync.failure_notifiers.append(signin.on_sync_failure)


def _schedule(ctx: AppContext) -> None:
    from bot.signin import states

    signin = ctx.need_signin()
    ctx.scheduler.every(
        "oauth-states-purge", STATE_PURGE_SECONDS, states.purge_expired, ctx.db, first_in=60
    )
    if ctx.settings.microsoft_configured:
        interval = max(1, ctx.settings.microsoft_consent_recheck_seconds)
        ctx.scheduler.every(
            "consent-recheck", interval, signin.consent.recheck_waiting, first_in=min(60, interval)
        )


def _status_footer(ctx: AppContext, team_id: str) -> list[str]:
    """For admins in /mail-status: providers not configured, tenants waiting for approval."""
    from bot.blocks.status import sign_in_setup_note
    from bot.signin import config
    from locales import ngettext
    from providers.signin_errors import PROVIDER_NAMES

    lines = []
    missing = [p for p in config.PROVIDERS if not config.is_configured(ctx.settings, p)]
    if missing:
        names = sorted({n for p in missing for n in config.missing_settings(ctx.settings, p)})
        lines.append(sign_in_setup_note([PROVIDER_NAMES[p] for p in missing], names))
    waiting = [r for r in ctx.need_signin().consent.rows(team_id) if r.status != "granted"]
    if waiting:
        lines.append(
            ngettext(
                "{n} Microsoft 365 organisation waits for an IT admin's approval: "
                "see `/mail-consent`.",
                "{n} Microsoft 365 organisations wait for an IT admin's approval: "
                "see `/mail-consent`.",
                len(waiting),
            ).format(n=len(waiting))
        )
    return lines


def _status_lines(mailbox: Mailbox) -> list[str]:
    from locales import _
    from providers.signin_errors import PROVIDER_NAMES

    if mailbox.provider not in PROVIDER_NAMES:
        return []
    lines = [_("Signs in with {provider}").format(provider=PROVIDER_NAMES[mailbox.provider])]
    if mailbox.health == "admin_approval_needed":
        lines.append(
            _("Waiting for an IT admin to approve Mailroom in Microsoft 365: see `/mail-consent`.")
        )
    if not mailbox.channel_id:
        lines.append(
            _("No channel yet: choose one in the message Mailroom sent after the sign-in.")
        )
    return lines


def _needs_channel(mailbox: Mailbox) -> str | None:
    from locales import _

    if not mailbox.channel_id:
        return _(
            "{address} has no channel yet: choose one in the message Mailroom sent "
            "after the sign-in (or reconnect it from `/mail-connect`), then activate it."
        ).format(address=mailbox.address)
    return None


def _sign_in_note(ctx: AppContext) -> str:
    """For the connect modal: the providers that cannot be used on this server."""
    from bot.blocks.signin import not_configured_note
    from bot.signin import config

    missing = [p for p in config.PROVIDERS if not config.is_configured(ctx.settings, p)]
    return not_configured_note(missing) if missing else ""
