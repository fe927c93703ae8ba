"""Realtime sync through IMAP IDLE (see ``engine``). ``install`` wires it into the app:

- ``ctx.sync.delegate``: scheduled polls and "Sync now" of a live mailbox run over its
  persistent connection instead of a new login;
- ``ctx.events.mailbox_changed``: pausing stops the watch, activating starts it;
- after a reply is sent, the Sent folder is checked at once over the live connection;
- ``/mail-status`` lines, App Home's sync line and ``/healthz`` say live / polling / reconnecting.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from bot.push.engine import PushEngine
from bot.push.status import health, publish_sync_states, sync_mode_line
from bot.push.watcher import SENT

if TYPE_CHECKING:
    from bot.context import AppContext
    from storage.models import Mailbox, Message

__all__ = [
    "PushEngine",
    "engine_of",
    "health",
    "install",
    "publish_sync_states",
    "sync_mode_line",
]


def install(ctx: AppContext) -> PushEngine | None:
    ctx.status_lines.append(partial(_status_lines, ctx))
    ctx.sync_mode_line = partial(sync_mode_line, ctx)
    ctx.health.append(partial(health, ctx))
    if not ctx.settings.sync_push or ctx.settings.mailroom_scheduler == "off":
        return None
    engine = PushEngine(ctx, ctx.sync, ctx.ownership)
    ctx.push = engine
    ctx.sync.delegate = engine.take_over
    ctx.events.mailbox_changed.connect(engine.mailbox_changed)

    def check_sent(mailbox: Mailbox, _row: Message) -> None:
        engine.request(mailbox.id, {SENT})  # type: ignore[arg-type]

    ctx.replies.sent_hooks.append(check_sent)
    return engine


def engine_of(ctx: AppContext) -> PushEngine | None:
    return ctx.push


def _status_lines(ctx: AppContext, mailbox: Mailbox) -> list[str]:
    line = sync_mode_line(ctx, mailbox)
    return [line] if line else []


def start(ctx: AppContext) -> None:
    engine = engine_of(ctx)
    if engine is not None:
        engine.start()


def stop(ctx: AppContext) -> None:
    engine = engine_of(ctx)
    if engine is not None:
        engine.stop()
