"""Capabilities plug into the context here: sign-in providers, SES and DNS, preferences.

Each feature's ``install(ctx)`` may add:
- services in ``ctx.extras`` (e.g. ``ctx.extras["ses"]``);
- web routes: ``ctx.extras["routes"]``, callables ``(api, ctx)``;
- start-up work and scheduled jobs: ``ctx.extras["on_start"]``, callables ``(ctx)``;
- lines in /mail-status: ``ctx.extras["status_lines"]`` ``(ctx, mailbox) -> [str]`` and
  ``ctx.extras["status_footer"]`` ``(ctx, team_id) -> [str]`` (admins only);
- ``ctx.extras["activation_guards"]``: ``(ctx, mailbox) -> refusal | None`` before activating;
- ``ctx.extras["on_mailbox_changed"]``: ``(ctx, mailbox_id)`` after a settings change;
- ``ctx.extras["on_domain_checked"]``: ``(ctx, team_id, domain)`` after a DNS report is stored;
- ``ctx.extras["sign_in_buttons"]``: ``(ctx, user, team, kind, mailbox_id) -> [button]``;
- ``ctx.extras["home_view"]``: ``(ctx, user, team) -> view`` for App Home;
- hooks on the services: ``ctx.sync.post_filters / ingest_hooks / failure_notifiers``,
  ``ctx.replies.footer / sent_hooks / send_guards``, ``ctx.mailboxes.tokens``.
"""

from __future__ import annotations

from bot import campaigns, inbox, preferences, senders, signin
from bot.context import AppContext
from storage.models import Mailbox

FEATURES = (senders, signin, preferences, campaigns, inbox)


def install(ctx: AppContext) -> None:
    for key in (
        "routes",
        "on_start",
        "status_lines",
        "status_footer",
        "activation_guards",
        "on_mailbox_changed",
        "on_domain_checked",
    ):
        ctx.extras.setdefault(key, [])
    for feature in FEATURES:
        feature.install(ctx)


def activation_refusal(ctx: AppContext, mailbox: Mailbox) -> str | None:
    """Why ``mailbox`` may not be made active now (sender unverified, no channel...), or None."""
    for guard in ctx.extras.get("activation_guards", []):
        refusal = guard(ctx, mailbox)
        if refusal:
            return refusal
    return None
