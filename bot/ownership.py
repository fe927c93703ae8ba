"""Which worker process syncs which mailbox: leases on the mailbox rows, with epochs.

Every worker process (role ``worker`` or ``all``) keeps a row in ``workers`` with a heartbeat
and, every MAILROOM_HEARTBEAT_SECONDS, in one tick:

1. renews its heartbeat and the leases it holds (``sync_lease_until``), only where it is
   still the owner: a mailbox whose lease another worker took is dropped at once;
2. works out its fair share: active mailboxes ÷ live workers, the remainder going to the
   first workers by id, so shares differ by at most one and add up to the whole;
3. releases its surplus (a worker joined) or claims free or expired leases up to its share
   with ``SELECT … FOR UPDATE SKIP LOCKED``: two workers claiming at once never wait for
   each other nor take the same row. Each claim bumps the mailbox's ``lease_epoch``.

Every write a sync makes (record, cursor, post) first runs ``fence``: a conditional update of
the lease row (owner and epoch unchanged) in the same transaction, so a worker that was
frozen or cut off while another took its mailbox cannot record or post anything when it
wakes: its epoch is stale. On SQLite there is one process (app.py refuses a second one), so
the same code runs with a single worker that owns everything and may take any lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, func, select

from storage.models import Mailbox, Worker, utcnow

if TYPE_CHECKING:
    from bot.context import AppContext

log = logging.getLogger(__name__)

# Rows of workers silent for this many lease periods are deleted (housekeeping only: a
# silent worker already stopped counting after one lease period).
FORGET_AFTER_LEASES = 10

MailboxCallback = Callable[[int], None]


class LeaseLost(Exception):
    """This process no longer holds the mailbox's lease: whatever it was doing is dropped."""

    def __init__(self, mailbox_id: int) -> None:
        super().__init__(f"the lease on mailbox {mailbox_id} is held by another worker")
        self.mailbox_id = mailbox_id


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fair_share(active: int, workers: list[str], me: str) -> int:
    """My part of ``active`` mailboxes: equal parts, the remainder to the first workers."""
    if me not in workers:
        workers = sorted([*workers, me])
    base, extra = divmod(active, len(workers))
    return base + (1 if workers.index(me) < extra else 0)


class Ownership:
    def __init__(self, ctx: AppContext, worker_id: str | None = None) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.id = worker_id or new_worker_id()
        self.role = settings.mailroom_role
        self.lease = timedelta(seconds=settings.mailroom_lease_seconds)
        self.heartbeat = float(settings.mailroom_heartbeat_seconds)
        # SQLite: one process owns the file, so a lease held by anyone else is void.
        self.exclusive = settings.is_sqlite
        self.on_gain: list[MailboxCallback] = []
        self.on_loss: list[MailboxCallback] = []
        # Run after every tick (outside the lock), e.g. to publish sync states.
        self.on_tick: list[Callable[[], None]] = []
        self._owned: dict[int, int] = {}  # mailbox id -> epoch of our claim
        self._lock = threading.RLock()  # one tick (or claim) at a time
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.share = 0
        self.live_workers = 1
        self.active = 0
        self.last_tick: float | None = None
        self._next_wait = self.heartbeat
        self._renewed_at: float | None = None  # monotonic time our last renewal started

    # --- Life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Register, take a first share now, then tick every heartbeat in the background."""
        if self._thread is not None:
            return
        self.tick()
        self._thread = threading.Thread(target=self._loop, name="ownership", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Graceful leave: hand every mailbox over at once (release, tell the others)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        if self._thread is None and not self.owned():
            return  # never took part (web role, scheduler off)
        if self._thread is not None:
            self._thread.join(2.0)
        with self._lock:
            owned = list(self._owned)
            self._owned.clear()
        for mailbox_id in owned:
            self._lost(mailbox_id)
        try:
            with self.ctx.db.session() as session:
                session.exec(  # type: ignore[call-overload]
                    update(Mailbox)
                    .where(col(Mailbox.lease_owner) == self.id)
                    .values(lease_owner=None, sync_lease_until=None)
                )
                session.exec(delete(Worker).where(col(Worker.id) == self.id))  # type: ignore[call-overload]
            notify_others(self.ctx, "rebalance")
        except Exception:
            log.exception("could not release this worker's leases; they expire by themselves")

    def nudge(self) -> None:
        """Tick now (another worker joined or left)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._next_wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.tick()
            except Exception:
                # The database is unreachable: every write is fenced, so nothing is done
                # twice; keep trying. Once our leases must have run out, let every mailbox
                # go here too, so its connection closes before another worker opens one.
                log.exception("ownership tick failed")
                self._next_wait = self.heartbeat
                self._drop_all_if_expired()

    def _drop_all_if_expired(self) -> None:
        """After a failed tick: the next try is a heartbeat away, so once the last renewal
        is more than a lease minus a heartbeat old, our leases may expire before it."""
        if self._renewed_at is None:
            return
        if time.monotonic() - self._renewed_at < self.lease.total_seconds() - self.heartbeat:
            return
        with self._lock:
            owned = list(self._owned)
            self._owned.clear()
        if owned:
            log.warning(
                "no lease renewal for %.0f s (database unreachable): stopping %s mailboxes",
                time.monotonic() - self._renewed_at,
                len(owned),
            )
        for mailbox_id in owned:
            self._lost(mailbox_id)

    # --- What this process holds ------------------------------------------------------------

    def holds(self, mailbox_id: int) -> bool:
        with self._lock:
            return mailbox_id in self._owned

    def owned(self) -> list[int]:
        with self._lock:
            return sorted(self._owned)

    def holds_share(self) -> bool:
        with self._lock:
            return len(self._owned) >= self.share

    def status(self) -> dict[str, Any]:
        with self._lock:
            owned = len(self._owned)
        return {
            "worker": self.id,
            "owned": owned,
            "share": self.share,
            "holds_share": owned >= self.share,
            "live_workers": self.live_workers,
            "active_mailboxes": self.active,
        }

    def fence(self, session: Session, mailbox_id: int) -> None:
        """Raise LeaseLost unless this process still holds the mailbox's lease at the epoch
        it claimed. Runs in the caller's transaction, so the write it guards commits only
        if the lease was ours; on PostgreSQL the update also locks the lease row until then,
        so a claim by another worker waits for our commit and then sees the epoch it bumps."""
        with self._lock:
            epoch = self._owned.get(mailbox_id)
        if epoch is None:
            raise LeaseLost(mailbox_id)
        still_ours = session.exec(  # type: ignore[call-overload]
            update(Mailbox)
            .where(
                col(Mailbox.id) == mailbox_id,
                col(Mailbox.lease_owner) == self.id,
                col(Mailbox.lease_epoch) == epoch,
            )
            .values(lease_epoch=epoch)
        ).rowcount
        if not still_ours:
            self._drop_later(mailbox_id)
            raise LeaseLost(mailbox_id)

    def lost(self, mailbox_id: int) -> None:
        """A fence said the lease is gone: forget it and stop its work now."""
        with self._lock:
            had = self._owned.pop(mailbox_id, None) is not None
        if had:
            self._lost(mailbox_id)

    # --- Claiming on demand ---------------------------------------------------------------

    def try_claim(self, mailbox_id: int) -> bool:
        """Claim one mailbox now if we may (a new mailbox, a Sync now, embedded mode)."""
        if self._stopping.is_set():
            return False
        with self._lock:
            if mailbox_id in self._owned:
                return True
            full = self.last_tick is not None and len(self._owned) >= self.share
            if full and not self.exclusive:
                return False
            now = utcnow()
            with self.ctx.db.session() as session:
                free = select(Mailbox.id).where(
                    col(Mailbox.id) == mailbox_id, col(Mailbox.active).is_(True)
                )
                if not self.exclusive:
                    free = free.where(_claimable(now))
                if session.exec(free.with_for_update(skip_locked=True)).first() is None:
                    return False
                claimed = self._claim_rows(session, [mailbox_id], now)
        for claimed_id in claimed:
            self._gained(claimed_id)
        return bool(claimed)

    # --- The tick -------------------------------------------------------------------------

    def tick(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            now, started = utcnow(), time.monotonic()
            with self.ctx.db.session() as session:
                self._beat(session, now)
                renewed = self._renew(session, now)
                workers = self._live_workers(session, now)
                active = session.exec(
                    select(func.count()).select_from(Mailbox).where(col(Mailbox.active).is_(True))
                ).one()
                self._next_wait = self._until_next_expiry(session, now)
            lost = [m for m in self._owned if m not in renewed]
            for mailbox_id in lost:
                del self._owned[mailbox_id]
            self.active, self.live_workers = int(active), len(workers)
            self.share = (
                int(active) if self.exclusive else fair_share(int(active), workers, self.id)
            )
            released = self._release_surplus(now)
            gained = self._claim_share(now)
            self.last_tick = time.monotonic()
            self._renewed_at = started
        for mailbox_id in lost:
            log.warning("mailbox %s: lease lost to another worker; stopping its sync", mailbox_id)
            self._lost(mailbox_id)
        for mailbox_id in gained:
            self._gained(mailbox_id)
        if released:
            notify_others(self.ctx, "rebalance")
        for callback in self.on_tick:
            try:
                callback()
            except Exception:
                log.exception("after-tick callback failed")

    def _beat(self, session: Session, now: Any) -> None:
        worker = session.get(Worker, self.id)
        if worker is None:
            host, pid = socket.gethostname(), os.getpid()
            worker = Worker(id=self.id, role=self.role, host=host, pid=pid, started_at=now)
            log.info("worker %s joins", self.id)
            session.add(worker)
            session.flush()
            notify_others(self.ctx, "rebalance", session)
        worker.heartbeat_at = now
        session.add(worker)
        session.exec(  # type: ignore[call-overload]
            delete(Worker).where(col(Worker.heartbeat_at) < now - self.lease * FORGET_AFTER_LEASES)
        )

    def _renew(self, session: Session, now: Any) -> set[int]:
        """Extend our leases where we are still the owner; the ids renewed."""
        # A paused or deleted mailbox is let go.
        session.exec(  # type: ignore[call-overload]
            update(Mailbox)
            .where(col(Mailbox.lease_owner) == self.id, col(Mailbox.active).is_(False))
            .values(lease_owner=None, sync_lease_until=None)
        )
        rows = session.exec(  # type: ignore[call-overload]
            update(Mailbox)
            .where(col(Mailbox.lease_owner) == self.id)
            .values(sync_lease_until=now + self.lease)
            .returning(Mailbox.id, Mailbox.lease_epoch)
        ).all()
        renewed = {mailbox_id for mailbox_id, epoch in rows if self._owned.get(mailbox_id) == epoch}
        stray = [mailbox_id for mailbox_id, _epoch in rows if mailbox_id not in renewed]
        if stray:
            # Held in the database under our id but unknown here (a claim whose commit we
            # never heard back about): release, so the tick claims them cleanly.
            session.exec(  # type: ignore[call-overload]
                update(Mailbox)
                .where(col(Mailbox.id).in_(stray), col(Mailbox.lease_owner) == self.id)
                .values(lease_owner=None, sync_lease_until=None)
            )
        return renewed

    def _until_next_expiry(self, session: Session, now: Any) -> float:
        """Seconds until the next tick: the heartbeat, or sooner when another worker's
        lease runs out before then (a live worker renews long before that; a dead one's
        leases are claimed the moment they expire, not up to a heartbeat later)."""
        soonest = session.exec(
            select(func.min(Mailbox.sync_lease_until)).where(
                col(Mailbox.lease_owner).is_not(None),
                col(Mailbox.lease_owner) != self.id,
                col(Mailbox.sync_lease_until) > now,
            )
        ).one()
        if soonest is None:
            return self.heartbeat
        if soonest.tzinfo is None:
            soonest = soonest.replace(tzinfo=now.tzinfo)
        return max(0.05, min(self.heartbeat, (soonest - now).total_seconds() + 0.05))

    def _live_workers(self, session: Session, now: Any) -> list[str]:
        if self.exclusive:
            return [self.id]
        rows = session.exec(
            select(Worker.id).where(col(Worker.heartbeat_at) > now - self.lease)
        ).all()
        return sorted(set(rows) | {self.id})

    def _release_surplus(self, now: Any) -> list[int]:
        surplus = len(self._owned) - self.share
        if surplus <= 0:
            return []
        # The newest mailboxes go: the oldest stay where their connections already are.
        release = sorted(self._owned)[-surplus:]
        for mailbox_id in release:
            del self._owned[mailbox_id]
            # Close the watch first (LOGOUT starts now), then let the lease go.
            self._lost(mailbox_id)
        with self.ctx.db.session() as session:
            session.exec(  # type: ignore[call-overload]
                update(Mailbox)
                .where(col(Mailbox.id).in_(release), col(Mailbox.lease_owner) == self.id)
                .values(lease_owner=None, sync_lease_until=None)
            )
        log.info("released %s mailboxes to other workers (share %s)", len(release), self.share)
        return release

    def _claim_share(self, now: Any) -> list[int]:
        wanted = self.share - len(self._owned)
        if wanted <= 0:
            return []
        with self.ctx.db.session() as session:
            query = select(Mailbox.id).where(col(Mailbox.active).is_(True))
            if self.exclusive:
                query = query.where(
                    or_(col(Mailbox.lease_owner).is_(None), col(Mailbox.lease_owner) != self.id)
                )
            else:
                query = query.where(_claimable(now))
            ids = session.exec(
                query.order_by(col(Mailbox.id)).limit(wanted).with_for_update(skip_locked=True)
            ).all()
            return self._claim_rows(session, list(ids), now) if ids else []

    def _claim_rows(self, session: Session, ids: list[int], now: Any) -> list[int]:
        """Take the (already locked) rows: owner = us, epoch + 1, lease from now."""
        rows = session.exec(  # type: ignore[call-overload]
            update(Mailbox)
            .where(col(Mailbox.id).in_(ids))
            .values(
                lease_owner=self.id,
                lease_epoch=Mailbox.lease_epoch + 1,
                sync_lease_until=now + self.lease,
            )
            .returning(Mailbox.id, Mailbox.lease_epoch)
        ).all()
        session.commit()
        for mailbox_id, epoch in rows:
            self._owned[mailbox_id] = epoch
        return [mailbox_id for mailbox_id, _epoch in rows]

    # --- Callbacks ----------------------------------------------------------------------------

    def _drop_later(self, mailbox_id: int) -> None:
        # Called inside the caller's transaction: the callbacks run in a thread of their own
        # so that stopping the mailbox's work never waits on that transaction.
        threading.Thread(target=self.lost, args=(mailbox_id,), daemon=True).start()

    def _gained(self, mailbox_id: int) -> None:
        for callback in self.on_gain:
            try:
                callback(mailbox_id)
            except Exception:
                log.exception("starting mailbox %s after claiming it failed", mailbox_id)

    def _lost(self, mailbox_id: int) -> None:
        for callback in self.on_loss:
            try:
                callback(mailbox_id)
            except Exception:
                log.exception("stopping mailbox %s after losing it failed", mailbox_id)


def _claimable(now: Any) -> Any:
    """A lease nobody holds, or one its holder let expire."""
    return or_(
        col(Mailbox.lease_owner).is_(None),
        col(Mailbox.sync_lease_until).is_(None),
        col(Mailbox.sync_lease_until) < now,
    )


NOTIFY_CHANNEL = "mailroom_jobs"


def notify_others(ctx: AppContext, payload: str, session: Session | None = None) -> None:
    """PostgreSQL NOTIFY on the jobs channel (delivered when the transaction commits); a
    no-op on SQLite, where the one process does everything itself."""
    if ctx.settings.is_sqlite:
        return
    from sqlalchemy import text

    statement = text("SELECT pg_notify(:channel, :payload)")
    params = {"channel": NOTIFY_CHANNEL, "payload": payload}
    if session is not None:
        session.exec(statement, params=params)  # type: ignore[call-overload]
        return
    with ctx.db.session() as own:
        own.exec(statement, params=params)  # type: ignore[call-overload]
