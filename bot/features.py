"""Capabilities plug into the context here: sign-in providers, SES and DNS, preferences.

Each feature's ``install(ctx)`` fills typed fields of ``AppContext`` (bot/context.py):
- its service: ``ctx.senders``, ``ctx.signin``, ``ctx.campaigns``, ``ctx.push``...;
- web routes: ``ctx.routes`` (``RouteInstaller``, shapes in bot/hooks.py), /health
  sections: ``ctx.health``;
- lines in /mail-status: ``ctx.status_lines`` / ``ctx.status_footer`` (admins only);
- ``ctx.activation_guards``: why a mailbox may not be activated now;
- ``ctx.home_view``, ``ctx.sign_in_buttons``, ``ctx.sign_in_note``, ``ctx.sync_mode_line``;
- listeners on ``ctx.events`` (bot/events.py): ``started``, ``mailbox_changed``,
  ``domain_checked``;
- hooks on the services: ``ctx.sync.post_filters / ingest_hooks / failure_notifiers``,
  ``ctx.replies.footer / sent_hooks / send_guards``, ``ctx.mailboxes.tokens``.
Hooks and listeners receive no context: ``install`` binds what they use
(``partial(f, ctx)``) or hands over a service's bound method.
"""

from __future__ import annotations

from bot import campaigns, inbox, preferences, senders, signin
from bot.context import AppContext

FEATURES = (senders, signin, preferences, campaigns, inbox)


def install(ctx: AppContext) -> None:
    for feature in FEATURES:
        feature.install(ctx)
