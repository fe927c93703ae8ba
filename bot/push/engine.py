"""Push sync: one persistent IDLE connection per live mailbox, one selector thread for all.

How a mail gets to Slack: Dovecot (or Gmail, Microsoft 365...) sends ``* n EXISTS`` on the
mailbox's idling connection; the selector thread reads it without blocking and hands the
watcher to the bounded worker pool at live priority; a worker sends DONE, runs the ordinary
incremental sync of INBOX over that same connection (``SyncService.sync_folders``: record,
move the cursor, post, exactly once), selects INBOX again and re-enters IDLE. No login per
mail, no thread per mailbox.

Which mailboxes this process watches is decided by ``watch``/``unwatch``: in embedded mode
``start`` watches every active mailbox; a later ownership layer (several processes on one
PostgreSQL) can call them for the mailboxes it holds instead.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.ownership import LeaseLost
from bot.push.backoff import Backoff
from bot.push.pool import Priority, PriorityPool
from bot.push.watcher import (
    CATCH_UP,
    INBOX,
    KEEPALIVE,
    PENDING,
    PUSHED,
    SENT,
    Owner,
    State,
    Watcher,
    enable_keepalive,
    read_available,
)
from locales import _
from providers.errors import MailroomError, ServiceError
from providers.imap import ImapSession
from storage.models import Mailbox, Provider

if TYPE_CHECKING:
    from bot.core import Core
    from bot.ownership import Ownership
    from bot.sync import SyncService

log = logging.getLogger(__name__)

# Reconnect this long before an OAuth access token expires. The token store refreshes
# tokens within 5 minutes of expiry, so at 4 minutes the new session gets a fresh token.
TOKEN_RECONNECT_MARGIN = 240.0
# How long a sync waits when another party (a poll in another process) holds the lease.
LEASE_RETRY_SECONDS = 2.0
# Active mailboxes are compared with the watched ones this often (pauses, deletions).
RECONCILE_SECONDS = 60.0
# File descriptors beyond the two per mailbox: database, HTTP, Slack, logs, Python itself.
FD_MARGIN = 256
TIMER_GRANULARITY = 0.25  # seconds between timer scans (bounds idle CPU at any size)


@dataclass
class FdLimit:
    soft: int
    hard: int
    needed: int

    @property
    def ok(self) -> bool:
        return self.soft >= self.needed

    def as_dict(self) -> dict[str, Any]:
        return {"soft": self.soft, "hard": self.hard, "needed": self.needed, "ok": self.ok}


def raise_fd_limit(needed: int) -> FdLimit:
    """Raise RLIMIT_NOFILE's soft limit toward the hard limit as far as ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %s: %s", target, exc)
    limit = FdLimit(
        soft=needed if soft == resource.RLIM_INFINITY else soft,
        hard=-1 if hard == resource.RLIM_INFINITY else hard,
        needed=needed,
    )
    return limit


class PushEngine:
    def __init__(self, ctx: Core, sync: SyncService, ownership: Ownership) -> None:
        settings = ctx.settings
        self.ctx = ctx
        # A live mailbox's changes run the ordinary sync over the persistent connection.
        self.sync = sync
        # Which mailboxes this worker holds (only those are watched).
        self.ownership = ownership
        self.reidle = float(settings.sync_push_reidle_seconds)
        self.backstop = float(settings.sync_push_backstop_seconds)
        self.backoff_cap = float(settings.sync_push_backoff_cap_seconds)
        self.workers = settings.sync_push_workers
        self.pool: PriorityPool | None = None
        self.fd_limit: FdLimit | None = None
        self._watchers: dict[int, Watcher] = {}
        self._lock = threading.RLock()
        self._ops: deque[tuple[str, Watcher, bytes]] = deque()
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_timers = 0.0
        self._next_reconcile = 0.0
        # Which mailboxes this process may watch (bot.ownership: the ones it holds a lease
        # on); every process in embedded mode.
        self.mine: Callable[[int], bool] = lambda _mailbox_id: True

    # --- Life cycle -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, mailbox_ids: list[int] | None = None) -> None:
        """Start the selector thread and the pool, then watch ``mailbox_ids`` (default:
        every active mailbox, the embedded single-process mode)."""
        if self._thread is not None:
            return
        ids = self.ctx.mailboxes.active_ids() if mailbox_ids is None else mailbox_ids
        self._check_fd_limit(len(ids))
        self.pool = PriorityPool(self.workers)
        self._next_reconcile = time.monotonic() + RECONCILE_SECONDS
        self._thread = threading.Thread(target=self._loop, name="push-selector", daemon=True)
        self._thread.start()
        for mailbox_id in ids:
            self.watch(mailbox_id)

    def stop(self, deadline: float = 5.0) -> None:
        """DONE + LOGOUT on every connection, all at once, within ``deadline`` seconds."""
        if self._stopping.is_set():
            return
        started = time.monotonic()
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(1.0)
        if self.pool is not None:
            self.pool.stop(timeout=0.5)
        with self._lock:
            watchers = list(self._watchers.values())
            self._watchers.clear()
        goodbyes = [(w.session, w.idling) for w in watchers if w.session is not None]
        for w in watchers:
            w.stopping, w.session = True, None
        remaining = max(0.5, deadline - (time.monotonic() - started) - 0.2)
        say_goodbye(goodbyes, remaining)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # --- Which mailboxes ---------------------------------------------------------------------

    def watch(self, mailbox_id: int) -> None:
        """Keep ``mailbox_id`` live from now on (connect in the pool)."""
        if not self.mine(mailbox_id):
            return
        with self._lock:
            if self._stopping.is_set() or mailbox_id in self._watchers:
                return
            watcher = Watcher(
                mailbox_id, Backoff(cap=self.backoff_cap), wants=set(CATCH_UP), owner=Owner.TASK
            )
            self._watchers[mailbox_id] = watcher
            count = len(self._watchers)
        if self.fd_limit is not None and _fds_needed(count) > self.fd_limit.soft:
            self._check_fd_limit(count)
        self._submit(watcher, Priority.ROUTINE, self._connect)

    def unwatch(self, mailbox_id: int) -> None:
        """Stop watching: DONE + LOGOUT now, or as soon as the running task ends."""
        with self._lock:
            watcher = self._watchers.pop(mailbox_id, None)
            if watcher is None:
                return
            watcher.stopping = True
            owner = watcher.owner
            if owner == Owner.ARMED:
                self._ops.append(("close", watcher, b""))
            elif owner in (Owner.TIMER, Owner.NONE):
                watcher.owner = Owner.NONE
        if owner == Owner.ARMED:
            self._wake()
        # TASK/ARMING: the owner sees ``stopping`` and closes the session itself.

    def watched(self) -> list[int]:
        with self._lock:
            return list(self._watchers)

    def take_over(self, mailbox_id: int) -> bool:
        """``SyncService.delegate``: a scheduled poll or "Sync now" of a mailbox this engine
        keeps live becomes a catch-up over the persistent connection (no new login).
        False means: poll it the usual way (no IDLE on its server, or not ours)."""
        if self._stopping.is_set() or not self.running:
            return False
        with self._lock:
            watcher = self._watchers.get(mailbox_id)
        if watcher is None:
            mailbox = self.ctx.mailboxes.get(mailbox_id)
            if mailbox is None or not mailbox.active or not self.mine(mailbox_id):
                return False
            self.watch(mailbox_id)
            return True
        if watcher.state == State.POLLING:
            return False
        self._retry_now_if_changed(watcher)
        self.request(mailbox_id, {INBOX, SENT, PENDING})
        return True

    def _retry_now_if_changed(self, watcher: Watcher) -> None:
        """A mailbox backing off whose settings changed since it failed (Reconnect with a
        new password, say) is tried at once instead of after the rest of its wait."""
        if watcher.owner != Owner.TIMER or watcher.failed_at is None:
            return
        mailbox = self.ctx.mailboxes.get(watcher.mailbox_id)
        if mailbox is None or _as_utc(mailbox.updated_at) <= watcher.failed_at:
            return
        with self._lock:
            if watcher.owner == Owner.TIMER and watcher.retry_at is not None:
                watcher.retry_at = time.monotonic()

    def request(
        self, mailbox_id: int, wants: set[str], priority: Priority = Priority.ROUTINE
    ) -> None:
        """Ask for a sync of some folders of a watched mailbox (e.g. Sent after a reply, a
        scheduled poll). Routine priority: pushed INBOX mail of any mailbox goes first."""
        with self._lock:
            watcher = self._watchers.get(mailbox_id)
            if watcher is None or watcher.state == State.POLLING:
                return
            watcher.wants |= wants
            armed = watcher.owner == Owner.ARMED
            if armed:
                watcher.wake_priority = min(watcher.wake_priority, priority)
                self._ops.append(("wake", watcher, b""))
        if armed:
            self._wake()

    def mailbox_changed(self, mailbox_id: int) -> None:
        """``events.mailbox_changed`` listener: a pause stops the watch, an activation starts it."""
        mailbox = self.ctx.mailboxes.get(mailbox_id)
        if mailbox is None or not mailbox.active:
            self.unwatch(mailbox_id)
        elif self.running:
            self.watch(mailbox_id)
            with self._lock:
                watcher = self._watchers.get(mailbox_id)
            if watcher is not None:
                self._retry_now_if_changed(watcher)

    # --- What people see -------------------------------------------------------------------

    def state_of(self, mailbox_id: int) -> tuple[State, Watcher] | None:
        with self._lock:
            watcher = self._watchers.get(mailbox_id)
            return (watcher.state, watcher) if watcher is not None else None

    def backstop_overdue(self, grace: float = 60.0) -> int:
        """Live mailboxes whose INBOX backstop check is more than ``grace`` seconds late
        (a starved mailbox: the pool cannot keep up)."""
        now = time.monotonic()
        with self._lock:
            return sum(
                1
                for w in self._watchers.values()
                if w.state == State.LIVE and now - w.next_backstop > grace
            )

    def counts(self) -> dict[str, int]:
        with self._lock:
            states = [w.state for w in self._watchers.values()]
        return {state.value: states.count(state) for state in State}

    def health(self) -> dict[str, Any]:
        pool = self.pool
        return {
            "enabled": True,
            "running": self.running,
            "mailboxes": self.counts(),
            "workers": self.workers,
            "queued": pool.queued() if pool else 0,
            "busy": pool.busy() if pool else 0,
            "backstop_overdue": self.backstop_overdue(),
            "open_files": self.fd_limit.as_dict() if self.fd_limit else None,
        }

    # --- Pool tasks -------------------------------------------------------------------------

    def _submit(self, watcher: Watcher, priority: Priority, task: Any) -> None:
        if self.pool is None or self._stopping.is_set():
            return
        self.pool.submit(priority, task, watcher)

    def _connect(self, watcher: Watcher) -> None:
        """Open (or replace) the session, then catch up and idle. Runs in the pool."""
        if self._abandoned(watcher):
            return
        mailbox = self.ctx.mailboxes.get(watcher.mailbox_id)
        if mailbox is None or not mailbox.active:
            self._forget(watcher)
            return
        old, old_idling, old_tail = watcher.session, watcher.idling, bytes(watcher.buffer)
        try:
            session = ImapSession(self.ctx.mailboxes.imap_settings(mailbox))
        except MailroomError as exc:
            self._failed(watcher, mailbox, exc)
            return
        except Exception as exc:  # a bug: never let one mailbox stop the pool
            log.exception("push connect of mailbox %s failed", mailbox.id)
            self._failed(watcher, mailbox, _unexpected(exc))
            return
        # A replaced session (token renewal) goes only once the new one is in: no gap.
        watcher.session, watcher.idling, watcher.buffer = session, False, bytearray()
        if old is not None:
            close_session(old, old_idling, old_tail)
        try:
            has_idle = session.has_idle()
            if has_idle:
                watcher.sock = session.socket()
                enable_keepalive(watcher.sock)
        except MailroomError as exc:
            self._failed(watcher, mailbox, exc)
            return
        if not has_idle:
            self._hand_to_poller(watcher, session)
            return
        watcher.token_refresh_at = _token_refresh_at(mailbox)
        watcher.next_backstop = time.monotonic() + self.backstop
        if _needs_backfill(self.ctx, mailbox) and self.pool is not None:
            # A first sync that brings in existing mail waits behind live work.
            watcher.backfilling = True
            self._submit(watcher, Priority.BACKFILL, self._cycle)
            return
        self._cycle(watcher)

    def _cycle(self, watcher: Watcher) -> None:
        """Leave IDLE, do what is wanted, idle again. Runs in the pool, owner TASK."""
        if self._abandoned(watcher):
            return
        session = watcher.session
        if session is None:
            self._connect(watcher)
            return
        mailbox: Mailbox | None = None
        try:
            if watcher.idling:
                tail, watcher.buffer = bytes(watcher.buffer), bytearray()
                watcher.idling = False
                session.idle_done(tail)
            if _due(watcher.token_refresh_at):
                self._connect(watcher)  # a new session with a fresh token, then this one goes
                return
            retry = False
            while True:
                with self._lock:
                    wants, watcher.wants = watcher.wants, set()
                if watcher.stopping:
                    break
                if wants & CATCH_UP:
                    mailbox = self.ctx.mailboxes.get(watcher.mailbox_id)
                    if mailbox is None or not mailbox.active:
                        self._forget(watcher)
                        return
                    if not self._sync(watcher, mailbox, session, wants):
                        with self._lock:
                            watcher.wants |= wants
                        retry = True
                        break
                with self._lock:
                    if not watcher.wants:
                        break
            if self._abandoned(watcher):
                return
            session.select_readonly("INBOX")
            leftover = session.idle_start()
            watcher.idling = True
            now = time.monotonic()
            watcher.next_reidle = now + self.reidle
            watcher.retry_at = now + LEASE_RETRY_SECONDS if retry else None
            self._arm(watcher, leftover)
        except MailroomError as exc:
            self._failed(watcher, mailbox or self.ctx.mailboxes.get(watcher.mailbox_id), exc)
        except Exception as exc:
            log.exception("push cycle of mailbox %s failed", watcher.mailbox_id)
            self._failed(
                watcher, mailbox or self.ctx.mailboxes.get(watcher.mailbox_id), _unexpected(exc)
            )

    def _sync(
        self, watcher: Watcher, mailbox: Mailbox, session: ImapSession, wants: set[str]
    ) -> bool:
        """The ordinary incremental sync over this session; False when the lease is busy."""
        sync = self.sync
        if not sync._acquire(watcher.mailbox_id):
            return False
        try:
            roles = [role for role in (INBOX, SENT) if role in wants]
            new, _posted = sync.sync_folders(
                mailbox, session, roles, finish_pending=PENDING in wants, pushed=PUSHED in wants
            )
        except LeaseLost:
            # Another worker holds the mailbox now (we were frozen or cut off): nothing of
            # ours was written; stop watching (the cycle ends on ``stopping``).
            log.warning("mailbox %s: lease lost; its push connection closes", watcher.mailbox_id)
            self.ownership.lost(watcher.mailbox_id)
            self.unwatch(watcher.mailbox_id)
            return True
        finally:
            sync._release(watcher.mailbox_id)
        watcher.backfilling = False
        if INBOX in wants:
            watcher.next_backstop = time.monotonic() + self.backstop
        sync.health.on_success(mailbox, new)  # health, last sync time, "recovered" notice
        watcher.set_state(State.LIVE)
        watcher.backoff.reset()
        watcher.last_error = None
        return True

    def _hand_to_poller(self, watcher: Watcher, session: ImapSession) -> None:
        """No IDLE on this server: log out and let the scheduler poll it at the interval."""
        close_session(session, False, b"")
        with self._lock:
            watcher.session, watcher.sock = None, None
            watcher.set_state(State.POLLING)
            watcher.owner = Owner.NONE
        log.info("mailbox %s: the server has no IDLE; polling it instead", watcher.mailbox_id)
        self.sync.sync_now(watcher.mailbox_id)

    def _failed(self, watcher: Watcher, mailbox: Mailbox | None, error: MailroomError) -> None:
        """A connect or a cycle failed: count it into the mailbox's health, back off."""
        if mailbox is not None:
            self.sync.health.on_failure(mailbox, error)
        watcher.last_error = error.message
        self._schedule_reconnect(watcher)

    def _schedule_reconnect(self, watcher: Watcher) -> None:
        session, watcher.session, watcher.sock = watcher.session, None, None
        watcher.idling, watcher.buffer = False, bytearray()
        if session is not None:
            abandon_session(session)
        delay = watcher.backoff.next_delay()
        watcher.failed_at = datetime.now(UTC)
        with self._lock:
            watcher.wants |= CATCH_UP  # whatever arrived meanwhile is caught up on return
            if watcher.stopping:
                watcher.owner = Owner.NONE
                return
            watcher.set_state(State.RECONNECTING)
            watcher.retry_at = time.monotonic() + delay
            watcher.owner = Owner.TIMER
        log.info(
            "mailbox %s: push connection lost; reconnecting in %.1f s (attempt %s)",
            watcher.mailbox_id,
            delay,
            watcher.backoff.failures,
        )

    def _forget(self, watcher: Watcher) -> None:
        """The mailbox is gone or paused: close and stop watching."""
        with self._lock:
            if self._watchers.get(watcher.mailbox_id) is watcher:
                del self._watchers[watcher.mailbox_id]
            watcher.stopping = True
            watcher.owner = Owner.NONE
        self._close(watcher)

    def _abandoned(self, watcher: Watcher) -> bool:
        """True (after closing) when the watcher was unwatched or the engine stops."""
        if self._stopping.is_set():
            return True
        if watcher.stopping:
            self._close(watcher)
            return True
        return False

    def _close(self, watcher: Watcher) -> None:
        session, watcher.session, watcher.sock = watcher.session, None, None
        if session is not None:
            close_session(session, watcher.idling, bytes(watcher.buffer))
        watcher.idling = False

    def _reconcile(self, _watcher: Watcher | None = None) -> None:
        """Watch active mailboxes nobody watches yet; drop paused or deleted ones (and, with
        several workers, the ones this process no longer holds)."""
        active = {m for m in self.ctx.mailboxes.active_ids() if self.mine(m)}
        for mailbox_id in set(self.watched()) - active:
            self.unwatch(mailbox_id)
        for mailbox_id in active - set(self.watched()):
            self.watch(mailbox_id)

    # --- Selector thread ---------------------------------------------------------------------

    def _arm(self, watcher: Watcher, leftover: bytes) -> None:
        with self._lock:
            watcher.owner = Owner.ARMING
            self._ops.append(("arm", watcher, leftover))
        self._wake()

    def _wake(self) -> None:
        # A full wake-up pipe means a wake-up is already pending; a closed one, shutdown.
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._turn()
            except Exception:
                log.exception("push selector turn failed")
                time.sleep(0.1)

    def _turn(self) -> None:
        self._apply_ops()
        # TLS: bytes already decrypted into the SSL object's buffer do not wake select.
        ready = [w for w in self._armed() if w.is_tls and w.sock.pending()]  # type: ignore[union-attr]
        timeout = 0.0 if ready else max(0.0, min(1.0, self._next_timers - time.monotonic()))
        for key, _events in self._selector.select(timeout):
            if key.data is None:
                read_available(self._wake_r)
            else:
                ready.append(key.data)
        for watcher in ready:
            self._readable(watcher)
        now = time.monotonic()
        if now >= self._next_timers:
            self._next_timers = now + TIMER_GRANULARITY
            self._run_timers(now)

    def _armed(self) -> list[Watcher]:
        return [key.data for key in self._selector.get_map().values() if key.data is not None]

    def _apply_ops(self) -> None:
        while True:
            with self._lock:
                if not self._ops:
                    return
                op, watcher, leftover = self._ops.popleft()
            if op == "arm":
                self._on_armed(watcher, leftover)
            elif op == "wake" and watcher.owner == Owner.ARMED:
                priority, watcher.wake_priority = watcher.wake_priority, Priority.BACKFILL
                self._disarm_and_run(watcher, priority)
            elif op == "close" and watcher.owner == Owner.ARMED:
                self._unregister(watcher)
                watcher.owner = Owner.TASK
                self._submit(watcher, Priority.ROUTINE, self._abandoned)

    def _on_armed(self, watcher: Watcher, leftover: bytes) -> None:
        if watcher.stopping:
            watcher.owner = Owner.TASK
            self._submit(watcher, Priority.ROUTINE, self._abandoned)
            return
        changed, ending = watcher.feed(leftover) if leftover else (False, False)
        if ending:
            watcher.owner = Owner.TASK
            self._dropped(watcher)
            return
        # Decide and register under the lock: a request() in between either sees ARMED (and
        # queues a wake-up) or adds its wants before this check.
        with self._lock:
            if changed:
                watcher.wants |= {INBOX, PUSHED}
            if not watcher.wants or watcher.retry_at is not None:
                assert watcher.sock is not None
                self._selector.register(watcher.sock, selectors.EVENT_READ, watcher)
                watcher.owner = Owner.ARMED
                return
            watcher.owner = Owner.TASK
        # New INBOX mail announced at IDLE start is live; requests that came in meanwhile
        # (a poll, Sent after a reply) are routine.
        self._submit(watcher, Priority.LIVE if changed else Priority.ROUTINE, self._cycle)

    def _readable(self, watcher: Watcher) -> None:
        if watcher.owner != Owner.ARMED or watcher.sock is None:
            return
        data, closed = read_available(watcher.sock)
        changed, ending = watcher.feed(data) if data else (False, False)
        if closed or ending:
            self._unregister(watcher)
            watcher.owner = Owner.TASK
            self._dropped(watcher)
        elif changed:
            with self._lock:
                watcher.wants |= {INBOX, PUSHED}
            self._disarm_and_run(watcher, Priority.LIVE)

    def _dropped(self, watcher: Watcher) -> None:
        """The server closed the connection or said BYE while idling: reconnect soon."""
        log.info("mailbox %s: the server closed the push connection", watcher.mailbox_id)
        watcher.idling = False
        self._schedule_reconnect(watcher)

    def _disarm_and_run(self, watcher: Watcher, priority: Priority) -> None:
        self._unregister(watcher)
        watcher.owner = Owner.TASK
        self._submit(watcher, priority, self._cycle)

    def _unregister(self, watcher: Watcher) -> None:
        if watcher.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(watcher.sock)

    def _run_timers(self, now: float) -> None:
        with self._lock:
            watchers = list(self._watchers.values())
        for watcher in watchers:
            if watcher.owner == Owner.TIMER and watcher.retry_at is not None:
                if now >= watcher.retry_at:
                    watcher.retry_at = None
                    watcher.owner = Owner.TASK
                    watcher.set_state(State.RECONNECTING)
                    self._submit(watcher, Priority.ROUTINE, self._connect)
            elif watcher.owner == Owner.ARMED:
                self._armed_timers(watcher, now)
        if now >= self._next_reconcile:
            self._next_reconcile = now + RECONCILE_SECONDS
            if self.pool is not None:
                self.pool.submit(Priority.ROUTINE, self._reconcile, None)

    def _armed_timers(self, watcher: Watcher, now: float) -> None:
        with self._lock:
            if watcher.retry_at is not None:
                # A sync waits for a lease held elsewhere: nothing else until it is due.
                due = now >= watcher.retry_at and bool(watcher.wants)
                if now >= watcher.retry_at:
                    watcher.retry_at = None
            elif now >= watcher.next_backstop:
                watcher.wants.add(INBOX)  # one STATUS when nothing is new
                due = True
            elif now >= watcher.next_reidle or _due(watcher.token_refresh_at):
                watcher.wants.add(KEEPALIVE)
                due = True
            else:
                due = False
        if due:
            self._disarm_and_run(watcher, Priority.ROUTINE)

    def _check_fd_limit(self, mailboxes: int) -> None:
        self.fd_limit = raise_fd_limit(_fds_needed(mailboxes))
        if not self.fd_limit.ok:
            log.warning(
                "The open-file limit (%s, hard %s) is too low for %s live mailboxes (needs %s): "
                "raise it (ulimit -n / LimitNOFILE) or some mailboxes will fail to connect.",
                self.fd_limit.soft,
                self.fd_limit.hard,
                mailboxes,
                self.fd_limit.needed,
            )


# --- Helpers ---------------------------------------------------------------------------------


def _fds_needed(mailboxes: int) -> int:
    # At most two connections per mailbox: the push session and a reply's SMTP or a poll.
    return 2 * mailboxes + FD_MARGIN


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _due(moment: float | None) -> bool:
    return moment is not None and time.monotonic() >= moment


def _token_refresh_at(mailbox: Mailbox) -> float | None:
    if mailbox.provider == Provider.IMAP or mailbox.token_expires_at is None:
        return None
    expires = mailbox.token_expires_at
    if expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    left = (expires - datetime.now(UTC)).total_seconds() - TOKEN_RECONNECT_MARGIN
    # Never sooner than a minute: a token that is already short-lived is renewed at connect.
    return time.monotonic() + max(60.0, left)


def _needs_backfill(ctx: Core, mailbox: Mailbox) -> bool:
    """A first sync that will fetch existing mail (backfill days set, INBOX never synced)."""
    if mailbox.backfill_days <= 0:
        return False
    from sqlmodel import select

    from storage.models import FolderState

    with ctx.db.session() as session:
        state = session.exec(
            select(FolderState).where(
                FolderState.mailbox_id == mailbox.id, FolderState.role == "inbox"
            )
        ).first()
    return state is None or state.uidvalidity is None


def _unexpected(exc: BaseException) -> ServiceError:
    return ServiceError(
        _("Mailroom hit an unexpected error while syncing. ({error})").format(
            error=type(exc).__name__
        )
    )


def close_session(session: ImapSession, idling: bool, tail: bytes) -> None:
    """DONE (when idling) and LOGOUT, bounded by the session timeout; never raises."""
    try:
        if idling:
            session.idle_done(tail)
        session.logout()
    except Exception:  # saying goodbye on a broken connection: just drop it
        abandon_session(session)


def abandon_session(session: ImapSession) -> None:
    """Drop a connection known to be broken, without another round trip."""
    with contextlib.suppress(Exception):
        session.socket().close()
    session._client = None


def say_goodbye(sessions: list[tuple[ImapSession, bool]], deadline: float) -> None:
    """Shutdown: DONE + LOGOUT written to every connection at once, then wait (bounded)
    for the servers to close them, so a thousand connections take one round trip, not a
    thousand."""
    pending: dict[socket.socket, ImapSession] = {}
    for session, idling in sessions:
        try:
            sock = session.socket()
            sock.settimeout(0.2)
            sock.sendall((b"DONE\r\n" if idling else b"") + b"MRBYE LOGOUT\r\n")
            sock.setblocking(False)
            pending[sock] = session
        except Exception:  # saying goodbye on a broken connection: just drop it
            abandon_session(session)
    end = time.monotonic() + deadline
    with selectors.DefaultSelector() as selector:
        for sock in pending:
            with contextlib.suppress(ValueError, OSError):
                selector.register(sock, selectors.EVENT_READ)
        while selector.get_map() and time.monotonic() < end:
            for key, _events in selector.select(max(0.0, end - time.monotonic())):
                _data, closed = read_available(key.fileobj)  # type: ignore[arg-type]
                if closed:
                    selector.unregister(key.fileobj)
    for session in pending.values():
        abandon_session(session)
