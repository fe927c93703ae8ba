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

A killed worker is noticed sooner than its leases run out: each worker holds a session
advisory lock on a PostgreSQL connection of its own for as long as it lives
(``LivenessLock``). When its process dies (kill -9, a crash, a lost machine) the server
closes that session and the lock goes with it; the others see that within a second
(``pg_locks``), count the worker as dead and claim its mailboxes at once, without waiting
for the lease. A frozen worker (SIGSTOP, a long pause) keeps its session, so it is still
found by its heartbeat and leases, as before. The lock only speeds failover up; fencing
keeps it correct even if the lock is wrongly missing (the worker then loses its leases at
its next renewal and claims its share again).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, delete, or_, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, col, func, select

from bot.mailboxes import not_removed
from storage.models import Mailbox, Worker, utcnow

if TYPE_CHECKING:
    from bot.core import Core

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


# The advisory-lock namespace of liveness locks (two-key form: namespace, key of the worker).
LIVENESS_NAMESPACE = 0x4D52  # "MR"
# How often, between ticks, a worker looks for workers whose liveness lock went away.
DEATH_CHECK_SECONDS = 1.0


def liveness_key(worker_id: str) -> int:
    """The worker's key in the liveness namespace: 31 bits of a hash of its id (a collision
    only makes a dead worker look alive until its leases expire, as without the lock)."""
    return int.from_bytes(hashlib.sha256(worker_id.encode()).digest()[:4], "big") & 0x7FFFFFFF


HELD_LIVENESS_KEYS = text(
    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND classid = :namespace AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class LivenessLock:
    """A session advisory lock that lives exactly as long as this worker's connection.

    On a connection of its own (outside the pool, which recycles connections). Behind a
    pooler in transaction mode (PgBouncer) session locks do not follow the client, so
    MAILROOM_FAST_FAILOVER=false turns this off there and failover waits for the leases."""

    def __init__(self, url: Any, worker_id: str) -> None:
        self.key = liveness_key(worker_id)
        self._engine: Engine = create_engine(url, poolclass=NullPool)
        self._conn: Connection | None = None

    def hold(self) -> bool:
        """Take the lock on a connection of its own unless we have it; True if held. A lost
        connection is found (and dropped) by ``held_keys``, which then calls this again."""
        if self._conn is not None:
            return True
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            taken = conn.execute(
                text("SELECT pg_try_advisory_lock(:namespace, :key)"),
                {"namespace": LIVENESS_NAMESPACE, "key": self.key},
            ).scalar()
        except SQLAlchemyError:
            log.warning("could not take the liveness lock; failover falls back to leases")
            return False
        if not taken:  # the old session is still closing on the server: try next time
            conn.close()
            return False
        self._conn = conn
        return True

    def held_keys(self) -> set[int] | None:
        """Keys of every worker holding its liveness lock in this database, our own lock
        taken again first if its connection was lost; None when that cannot be done (then
        nobody is judged dead by it)."""
        for _attempt in range(2):  # the second after reconnecting a lost connection
            if not self.hold():
                return None
            assert self._conn is not None
            try:
                rows = self._conn.execute(HELD_LIVENESS_KEYS, {"namespace": LIVENESS_NAMESPACE})
                return {int(row[0]) for row in rows}
            except SQLAlchemyError:
                log.warning("the liveness connection was lost; taking the lock again")
                self._drop()
        return None

    def close(self) -> None:
        self._drop()
        self._engine.dispose()

    def _drop(self) -> None:
        if self._conn is not None:
            # Already gone is fine: the server released the lock with the session.
            with contextlib.suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fair_share(active: int, workers: list[str], me: str) -> int:
    """My part of ``active`` mailboxes: equal parts, the remainder to the first workers."""
    if me not in workers:
        workers = sorted([*workers, me])
    base, extra = divmod(active, len(workers))
    return base + (1 if workers.index(me) < extra else 0)


class Ownership:
    def __init__(self, ctx: Core, worker_id: str | None = None) -> None:
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
        self.active = 0
        self.last_tick: float | None = None
        self._next_wait = self.heartbeat
        self._renewed_at: float | None = None  # monotonic time our last renewal started
        # PostgreSQL: a worker whose liveness lock is gone is dead, whatever its heartbeat.
        self.liveness: LivenessLock | None = None
        if not self.exclusive and settings.mailroom_fast_failover:
            self.liveness = LivenessLock(ctx.db.engine.url, self.id)
        self._live: list[str] = [self.id]  # live workers as of the last tick
        # Workers with a fresh heartbeat but no liveness lock: dead, their leases claimable.
        # (Only these: a worker that joined since our last look is not in ``_live`` yet,
        # and its leases must not look free.)
        self._dead: list[str] = []

    # --- Life cycle ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Register, take a first share now, then tick every heartbeat in the background."""
        if self._thread is not None:
            return
        if self.liveness is not None:
            self.liveness.hold()  # before our row exists, so nobody sees us without it
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
                session.exec(
                    update(Mailbox)
                    .where(col(Mailbox.lease_owner) == self.id)
                    .values(lease_owner=None, sync_lease_until=None)
                )
                session.exec(delete(Worker).where(col(Worker.id) == self.id))
            notify_others(self.ctx, "rebalance")
        except Exception:
            log.exception("could not release this worker's leases; they expire by themselves")
        if self.liveness is not None:
            self.liveness.close()

    def nudge(self) -> None:
        """Tick now (another worker joined or left)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wait_for_tick()
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

    def _wait_for_tick(self) -> None:
        """Until the next tick is due, a nudge, or (with liveness locks) a worker's death."""
        deadline = time.monotonic() + self._next_wait
        while not self._stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if self._wake.wait(min(left, DEATH_CHECK_SECONDS)):
                return
            if self._someone_died():
                log.info("a worker's liveness lock is gone: claiming its mailboxes now")
                return

    def _someone_died(self) -> bool:
        if self.liveness is None:
            return False
        held = self.liveness.held_keys()
        if held is None:
            return False
        return any(liveness_key(w) not in held for w in self._live if w != self.id)

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
            "live_workers": len(self._live),
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
        still_ours = session.exec(
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
                    col(Mailbox.id) == mailbox_id, col(Mailbox.active).is_(True), not_removed()
                )
                if not self.exclusive:
                    free = free.where(_claimable(now, self._dead))
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
                    select(func.count())
                    .select_from(Mailbox)
                    .where(col(Mailbox.active).is_(True), not_removed())
                ).one()
                self._next_wait = self._until_next_expiry(session, now)
            lost = [m for m in self._owned if m not in renewed]
            for mailbox_id in lost:
                del self._owned[mailbox_id]
            self.active, self._live = int(active), workers
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
        session.exec(
            delete(Worker).where(col(Worker.heartbeat_at) < now - self.lease * FORGET_AFTER_LEASES)
        )

    def _renew(self, session: Session, now: Any) -> set[int]:
        """Extend our leases where we are still the owner; the ids renewed."""
        # A paused or removed mailbox is let go.
        session.exec(
            update(Mailbox)
            .where(
                col(Mailbox.lease_owner) == self.id,
                or_(col(Mailbox.active).is_(False), col(Mailbox.removed_at).is_not(None)),
            )
            .values(lease_owner=None, sync_lease_until=None)
        )
        rows = _id_epoch_rows(
            session.exec(
                update(Mailbox)
                .where(col(Mailbox.lease_owner) == self.id)
                .values(sync_lease_until=now + self.lease)
                .returning(col(Mailbox.id), col(Mailbox.lease_epoch))
            ).all()
        )
        renewed = {mailbox_id for mailbox_id, epoch in rows if self._owned.get(mailbox_id) == epoch}
        stray = [mailbox_id for mailbox_id, _epoch in rows if mailbox_id not in renewed]
        if stray:
            # Held in the database under our id but unknown here (a claim whose commit we
            # never heard back about): release, so the tick claims them cleanly.
            session.exec(
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
        self._dead = []
        held = self.liveness.held_keys() if self.liveness is not None else None
        if held is not None:
            self._dead = [w for w in rows if liveness_key(w) not in held and w != self.id]
        return sorted((set(rows) - set(self._dead)) | {self.id})

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
            session.exec(
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
            query = select(Mailbox.id).where(col(Mailbox.active).is_(True), not_removed())
            if self.exclusive:
                query = query.where(
                    or_(col(Mailbox.lease_owner).is_(None), col(Mailbox.lease_owner) != self.id)
                )
            else:
                query = query.where(_claimable(now, self._dead))
            ids = session.exec(
                query.order_by(col(Mailbox.id)).limit(wanted).with_for_update(skip_locked=True)
            ).all()
            return self._claim_rows(session, [i for i in ids if i is not None], now) if ids else []

    def _claim_rows(self, session: Session, ids: list[int], now: Any) -> list[int]:
        """Take the (already locked) rows: owner = us, epoch + 1, lease from now."""
        rows = session.exec(
            update(Mailbox)
            .where(col(Mailbox.id).in_(ids))
            .values(
                lease_owner=self.id,
                lease_epoch=Mailbox.lease_epoch + 1,
                sync_lease_until=now + self.lease,
            )
            .returning(col(Mailbox.id), col(Mailbox.lease_epoch))
        ).all()
        session.commit()
        claimed = _id_epoch_rows(rows)
        for mailbox_id, epoch in claimed:
            self._owned[mailbox_id] = epoch
        return [mailbox_id for mailbox_id, _epoch in claimed]

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


def _claimable(now: Any, dead: list[str]) -> Any:
    """A lease nobody holds, one its holder let expire, or one held by a dead worker."""
    return or_(
        col(Mailbox.lease_owner).is_(None),
        col(Mailbox.sync_lease_until).is_(None),
        col(Mailbox.sync_lease_until) < now,
        col(Mailbox.lease_owner).in_(dead),
    )


NOTIFY_CHANNEL = "mailroom_jobs"


def notify_others(ctx: Core, payload: str, session: Session | None = None) -> None:
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


def _id_epoch_rows(rows: Sequence[Any]) -> list[tuple[int, int]]:
    """(id, lease_epoch) rows of RETURNING, typed (both columns are NOT NULL)."""
    return [(int(mailbox_id), int(epoch)) for mailbox_id, epoch in rows]
