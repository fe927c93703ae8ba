"""What people and operators see about push: one line per mailbox, counts for /healthz."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from bot.push.watcher import State
from locales import N_, _, ngettext

if TYPE_CHECKING:
    from bot.context import AppContext
    from bot.push.engine import PushEngine
    from storage.models import Mailbox


def _engine(ctx: AppContext) -> PushEngine | None:
    return ctx.push


def sync_mode(ctx: AppContext, mailbox: Mailbox) -> tuple[str, str]:
    """(mode, why) for an active mailbox: live, connecting, reconnecting or polling."""
    engine = _engine(ctx)
    interval = ctx.settings.sync_interval_seconds
    if engine is None:
        return "polling", _("every {interval} s (push is off: SYNC_PUSH=off)").format(
            interval=interval
        )
    found = engine.state_of(mailbox.id)  # type: ignore[arg-type]
    if found is None:
        # Held by another process (a web process holds none): what its worker published.
        shared = _SHARED_WHY.get(mailbox.sync_state or "")
        if shared is not None:
            return mailbox.sync_state, _(shared).format(interval=interval)  # type: ignore[return-value]
        return "connecting", _("opening the live connection")
    state, watcher = found
    if state == State.LIVE:
        return "live", _("new mail arrives within seconds (IMAP IDLE push)")
    if state == State.POLLING:
        return "polling", _(
            "every {interval} s: the server does not offer IMAP IDLE (push)"
        ).format(interval=interval)
    if state == State.RECONNECTING:
        wait = max(0, round((watcher.retry_at or time.monotonic()) - time.monotonic()))
        tries = watcher.backoff.failures
        return (
            "reconnecting",
            ngettext(
                "backing off after {tries} failed attempt(s); next try in {wait} s. "
                "Mail that arrives meanwhile is caught up on reconnect",
                "backing off after {tries} failed attempt(s); next try in {wait} s. "
                "Mail that arrives meanwhile is caught up on reconnect",
                tries,
            ).format(tries=tries, wait=wait),
        )
    if watcher.backfilling:
        return "connecting", _(
            "the first sync is bringing in existing mail ({count} so far); new mail goes first"
        ).format(count=_recorded(ctx, mailbox))
    return "connecting", _("opening the live connection")


def _recorded(ctx: AppContext, mailbox: Mailbox) -> int:
    """Mails recorded for this mailbox so far: the progress of its backfill."""
    from sqlmodel import func, select

    from storage.models import Message

    with ctx.db.session() as session:
        return int(
            session.exec(
                select(func.count()).select_from(Message).where(Message.mailbox_id == mailbox.id)
            ).one()
        )


_SHARED_WHY = {
    "live": N_("new mail arrives within seconds (IMAP IDLE push)"),
    "polling": N_("every {interval} s: the server does not offer IMAP IDLE (push)"),
    "reconnecting": N_(
        "the live connection dropped and is being re-opened with backoff. "
        "Mail that arrives meanwhile is caught up on reconnect"
    ),
}
# The modes as shown (the keys are what is stored and compared).
_MODE_NAMES = {
    "live": N_("live"),
    "polling": N_("polling"),
    "reconnecting": N_("reconnecting"),
    "connecting": N_("connecting"),
}


def publish_sync_states(ctx: AppContext, mailbox_ids: list[int], published: dict[int, str]) -> None:
    """Store the sync state of the mailboxes this worker holds where it changed since the
    last call (``published`` remembers what was written), so every process can show it."""
    engine = _engine(ctx)
    if engine is None:
        return
    changed: dict[str, list[int]] = {}
    for mailbox_id in mailbox_ids:
        found = engine.state_of(mailbox_id)
        state = found[0].value if found is not None else "connecting"
        if published.get(mailbox_id) != state:
            changed.setdefault(state, []).append(mailbox_id)
    if not changed:
        return
    from sqlalchemy import update
    from sqlmodel import col

    from storage.models import Mailbox

    with ctx.db.session() as session:
        for state, ids in changed.items():
            session.exec(update(Mailbox).where(col(Mailbox.id).in_(ids)).values(sync_state=state))
    for state, ids in changed.items():
        for mailbox_id in ids:
            published[mailbox_id] = state


_ICONS = {
    "live": ":zap:",
    "polling": ":repeat:",
    "reconnecting": ":arrows_counterclockwise:",
    "connecting": ":hourglass_flowing_sand:",
}


def sync_mode_line(ctx: AppContext, mailbox: Mailbox) -> str:
    """The line /mail-status and App Home show; empty for a paused mailbox."""
    if not mailbox.active:
        return ""
    mode, why = sync_mode(ctx, mailbox)
    return f"{_ICONS[mode]} " + _("Sync: *{mode}*: {why}.").format(
        mode=_(_MODE_NAMES.get(mode, mode)), why=why
    )


def health(ctx: AppContext) -> dict[str, Any]:
    """``/healthz`` section: push on/off and how many mailboxes are in each mode."""
    engine = _engine(ctx)
    if engine is None:
        active = len(ctx.mailboxes.active_ids())
        return {
            "push": {"enabled": False},
            "sync_modes": {"live": 0, "polling": active, "reconnecting": 0, "connecting": 0},
        }
    info = engine.health()
    counts = info["mailboxes"]
    problems = []
    fds = info.get("open_files")
    if fds and not fds["ok"]:
        problems.append(
            f"open-file limit {fds['soft']} is below the {fds['needed']} needed for the live "
            "mailboxes: raise it (ulimit -n / LimitNOFILE)"
        )
    return {
        "push": {**info, "problems": problems},
        "sync_modes": {
            "live": counts.get(State.LIVE.value, 0),
            "polling": counts.get(State.POLLING.value, 0),
            "reconnecting": counts.get(State.RECONNECTING.value, 0),
            "connecting": counts.get(State.CONNECTING.value, 0),
        },
    }
