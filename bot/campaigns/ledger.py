"""The campaign ledger: one row per (campaign, recipient), the only truth about who got mail.

A row moves queued → sending (claimed, committed *before* the SMTP transaction starts) →
sent (committed only after the server accepted the message). A worker killed between the
server's acceptance and that last commit leaves the row ``sending``; recovery turns such rows
into ``uncertain``, which are never sent again automatically and are listed in the report.
Claims are conditional updates (``WHERE state = 'queued'``), so any number of worker
processes can share one campaign and a row is claimed by exactly one of them.

The worker's per-message write is one statement: the row the server accepted last becomes
``sent`` and the next one is claimed. On PostgreSQL it is sent without waiting
(``start_claim``) while the SMTP transaction is written, and the final "." that makes the
server accept the message waits for its commit, so the order of the records and the server's
acceptance is the same as when the statement runs first.
"""

from __future__ import annotations

import json
import os
import select as select_module
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import psycopg
from psycopg import pq
from sqlalchemy import Connection, bindparam, case, func, insert, or_, update
from sqlmodel import col, select

from bot.formatting.outbound import make_message_id
from locales import N_, _
from storage.models import (
    AudienceMember,
    Campaign,
    CampaignRecipient,
    RecipientState,
    Suppression,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core

TABLE = CampaignRecipient.__table__  # type: ignore[attr-defined]
# Stored on the row by a background job (so in the workspace language), shown in the
# campaign's progress message.
_STOPPED = N_(
    "Mailroom stopped while this message was being sent; the server may have accepted it, "
    "so it is not sent again automatically."
)


def snapshot_audience(ctx: Core, campaign: Campaign, sender_address: str) -> int:
    """Queue one row per audience member not suppressed; returns how many were queued.

    Idempotent: rows already there (a retried start) are left as they are.
    """
    with ctx.db.session() as session:
        blocked = set(
            session.exec(
                select(Suppression.address).where(Suppression.team_id == campaign.team_id)
            ).all()
        )
        existing = set(
            session.exec(
                select(CampaignRecipient.address).where(
                    CampaignRecipient.campaign_id == campaign.id
                )
            ).all()
        )
        members = session.exec(
            select(AudienceMember.address, AudienceMember.fields_json)
            .where(AudienceMember.audience_id == campaign.audience_id)
            .order_by(col(AudienceMember.id))
        ).all()
        rows = [
            {
                "campaign_id": campaign.id,
                "address": address,
                "fields_json": fields or "{}",
                "state": RecipientState.QUEUED.value,
                "message_id": make_message_id(sender_address),
                "attempts": 0,
                "bounce": "",
            }
            for address, fields in members
            if address not in blocked and address not in existing
        ]
        for start in range(0, len(rows), 1000):
            session.execute(insert(TABLE), rows[start : start + 1000])
        return len(rows) + len(existing)


def count_sendable(ctx: Core, team_id: str, audience_id: int) -> tuple[int, int]:
    """(recipients after suppression, suppressed members) for a confirmation."""
    with ctx.db.session() as session:
        total = session.exec(
            select(func.count()).where(AudienceMember.audience_id == audience_id)
        ).one()
        suppressed = session.exec(
            select(func.count())
            .select_from(AudienceMember)
            .join(
                Suppression,
                (col(Suppression.address) == AudienceMember.address)
                & (col(Suppression.team_id) == team_id),
            )
            .where(AudienceMember.audience_id == audience_id)
        ).one()
    return total - suppressed, suppressed


def next_queued(ctx: Core, campaign_id: int, limit: int) -> list[CampaignRecipient]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state == RecipientState.QUEUED,
                    or_(
                        col(CampaignRecipient.retry_at).is_(None),
                        col(CampaignRecipient.retry_at) <= utcnow(),
                    ),
                )
                .order_by(col(CampaignRecipient.id))
                .limit(limit)
            )
        )


def _move(ctx: Core, row_id: int, from_state: str, **values: object) -> bool:
    with ctx.db.engine.begin() as conn:
        result = conn.execute(
            update(TABLE).where(TABLE.c.id == row_id, TABLE.c.state == from_state).values(**values)
        )
    return result.rowcount == 1


# Built once: a campaign runs these two statements once per recipient.
_CLAIM = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("row_id"), TABLE.c.state == RecipientState.QUEUED.value)
    .values(
        state=RecipientState.SENDING.value,
        claimed_by=bindparam("worker"),
        claimed_at=bindparam("now"),
        attempts=bindparam("attempts"),
    )
)
_SENT = (
    update(TABLE)
    .where(TABLE.c.id == bindparam("row_id"), TABLE.c.state == RecipientState.SENDING.value)
    .values(state=RecipientState.SENT.value, sent_at=bindparam("now"))
)
# Both in one statement (one round trip, atomic on its own): the accepted row becomes sent
# and the next one is claimed; RETURNING says whether the claim won.
_IS_CLAIM = TABLE.c.id == bindparam("claim_id")
_SENT_AND_CLAIM = (
    update(TABLE)
    .where(
        or_(
            _IS_CLAIM & (TABLE.c.state == RecipientState.QUEUED.value),
            (TABLE.c.id == bindparam("sent_id")) & (TABLE.c.state == RecipientState.SENDING.value),
        )
    )
    .values(
        state=case((_IS_CLAIM, RecipientState.SENDING.value), else_=RecipientState.SENT.value),
        claimed_by=case(
            (_IS_CLAIM, bindparam("worker", type_=TABLE.c.claimed_by.type)),
            else_=TABLE.c.claimed_by,
        ),
        claimed_at=case(
            (_IS_CLAIM, bindparam("claimed_at", type_=TABLE.c.claimed_at.type)),
            else_=TABLE.c.claimed_at,
        ),
        attempts=case(
            (_IS_CLAIM, bindparam("attempts", type_=TABLE.c.attempts.type)),
            else_=TABLE.c.attempts,
        ),
        sent_at=case(
            (_IS_CLAIM, TABLE.c.sent_at), else_=bindparam("now", type_=TABLE.c.sent_at.type)
        ),
    )
    .returning(TABLE.c.id)
)


_PG_SENT_AND_CLAIM = f"""
UPDATE campaign_recipients SET
  state = CASE WHEN id = %(claim)s THEN '{RecipientState.SENDING.value}'
          ELSE '{RecipientState.SENT.value}' END,
  claimed_by = CASE WHEN id = %(claim)s THEN %(worker)s::varchar ELSE claimed_by END,
  claimed_at = CASE WHEN id = %(claim)s THEN %(claimed_at)s::timestamptz ELSE claimed_at END,
  attempts = CASE WHEN id = %(claim)s THEN %(attempts)s::integer ELSE attempts END,
  sent_at = CASE WHEN id = %(claim)s THEN sent_at ELSE %(now)s::timestamptz END
WHERE (id = %(claim)s AND state = '{RecipientState.QUEUED.value}')
   OR (id = %(sent)s AND state = '{RecipientState.SENDING.value}')
RETURNING id
"""


_PG_SENT_AND_CLAIM_SENT = (
    _PG_SENT_AND_CLAIM.replace("%(claim)s", "$1")
    .replace("%(sent)s", "$2")
    .replace("%(worker)s", "$3")
    .replace("%(claimed_at)s", "$4")
    .replace("%(attempts)s", "$5")
    .replace("%(now)s", "$6")
    .encode()
)


_PREPARED = "mailroom_sent_and_claim"


def start_claim(
    conn: Connection,
    row: CampaignRecipient,
    worker: str,
    *,
    accepted: int | None,
    claimed_at: datetime | None = None,
) -> Callable[[], bool] | None:
    """``claim`` sent to PostgreSQL without waiting for its answer; call the returned
    function for it (True: claimed, and ``accepted`` recorded, both committed). The worker
    writes the SMTP transaction meanwhile. None when the connection cannot do this (not an
    autocommit psycopg connection): use ``claim``.

    Nothing else may use the connection until the answer was read."""
    if not _raw_postgres(conn):
        return None
    pgconn = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
    now = utcnow()
    params: list[bytes | None] = [
        str(row.id).encode(),
        str(accepted if accepted is not None else 0).encode(),  # 0: no row is recorded
        worker.encode(),
        (claimed_at or now).isoformat().encode(),
        str(row.attempts + 1).encode(),
        now.isoformat().encode(),
    ]
    if not conn.connection.info.get(_PREPARED):
        # Once per pooled connection: parsed and planned once, then only its values travel.
        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
            b"PREPARE " + _PREPARED.encode() + b" AS " + _PG_SENT_AND_CLAIM_SENT
        )
        conn.connection.info[_PREPARED] = True
    pgconn.send_query_prepared(_PREPARED.encode(), params)
    while pgconn.flush() == 1:
        select_module.select([], [pgconn.socket], [])
    answer: list[bool] = []

    def claimed() -> bool:
        if answer:
            return answer[0]
        ids: list[int] = []
        error = ""
        while True:
            while pgconn.is_busy():
                select_module.select([pgconn.socket], [], [])
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            if result.status == pq.ExecStatus.TUPLES_OK:
                ids += [int(result.get_value(n, 0) or 0) for n in range(result.ntuples)]
            else:
                error = (result.error_message or b"").decode(errors="replace") or "failed"
        if error:
            raise psycopg.OperationalError(f"claiming a campaign row failed: {error}")
        answer.append(row.id in ids)
        return answer[0]

    return claimed


def _raw_postgres(conn: Connection) -> bool:
    """An autocommit psycopg connection: each statement on its driver commits by itself."""
    return (
        conn.dialect.name == "postgresql"
        and conn.dialect.driver == "psycopg"
        and conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    )


def claim(
    ctx: Core,
    row: CampaignRecipient,
    worker: str,
    *,
    accepted: int | None = None,
    conn: Connection | None = None,
    claimed_at: datetime | None = None,
) -> bool:
    """Take a queued row for sending; False when another worker (or a cancel) got it first.

    ``accepted``: a row the server has just accepted, recorded as sent in the same commit
    (one commit per message instead of two; the order of the two records is unchanged).
    ``claimed_at``: the time of the throttle's slot this send uses (the daily cap matches
    slots with claims by it); now by default.
    """
    now = utcnow()
    if accepted is not None and conn is not None and _raw_postgres(conn):
        # The worker's per-message statement, straight to the driver (a prepared
        # statement, no SQL layer in between): most of a message's CPU was spent there.
        with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(
                _PG_SENT_AND_CLAIM,
                {
                    "claim": row.id,
                    "sent": accepted,
                    "worker": worker,
                    "claimed_at": claimed_at or now,
                    "attempts": row.attempts + 1,
                    "now": now,
                },
                prepare=True,
            )
            return any(changed_id == row.id for (changed_id,) in cursor.fetchall())
    if accepted is not None:
        with _transaction(ctx, conn) as tx:
            changed = tx.execute(
                _SENT_AND_CLAIM,
                {
                    "claim_id": row.id,
                    "sent_id": accepted,
                    "worker": worker,
                    "claimed_at": claimed_at or now,
                    "attempts": row.attempts + 1,
                    "now": now,
                },
            ).all()
        return any(changed_id == row.id for (changed_id,) in changed)
    with _transaction(ctx, conn) as tx:
        result = tx.execute(
            _CLAIM,
            {
                "row_id": row.id,
                "worker": worker,
                "now": claimed_at or now,
                "attempts": row.attempts + 1,
            },
        )
    return result.rowcount == 1


@contextmanager
def _transaction(ctx: Core, conn: Connection | None) -> Iterator[Connection]:
    """A transaction on the worker's own connection (no pool checkout per message), or a
    fresh one from the pool."""
    if conn is None:
        with ctx.db.engine.begin() as fresh:
            yield fresh
        return
    with conn.begin():
        yield conn


def mark_sent(ctx: Core, row_id: int, conn: Connection | None = None) -> None:
    with _transaction(ctx, conn) as tx:
        tx.execute(_SENT, {"row_id": row_id, "now": utcnow()})


def mark_failed(ctx: Core, row_id: int, error: str) -> None:
    _move(ctx, row_id, RecipientState.SENDING, state=RecipientState.FAILED.value, error=error)


def release(
    ctx: Core,
    row_id: int,
    error: str,
    *,
    refund: bool = False,
    retry_after: float = 0.0,
) -> None:
    """The server certainly did not take the message (refused before DATA): queue it again.

    ``refund``: the failure was the server's or the connection's, not this recipient's, so
    the attempt does not count towards MAX_ATTEMPTS.
    """
    values: dict[str, object] = {
        "state": RecipientState.QUEUED.value,
        "error": error,
        "claimed_by": None,
    }
    if refund:
        values["attempts"] = TABLE.c.attempts - 1
    if retry_after:
        # A temporary refusal (greylisting, a full mailbox) is not retried at once.
        values["retry_at"] = utcnow() + timedelta(seconds=retry_after)
    _move(ctx, row_id, RecipientState.SENDING, **values)


def mark_uncertain(ctx: Core, row_id: int, error: str) -> None:
    _move(ctx, row_id, RecipientState.SENDING, state=RecipientState.UNCERTAIN.value, error=error)


def recover_stale(ctx: Core, older_than: datetime | None) -> int:
    """Rows left ``sending`` by a dead worker become ``uncertain`` (never resent).

    ``older_than=None`` takes every ``sending`` row: right at start in embedded (SQLite)
    mode, where this process is the only worker.
    """
    query = update(TABLE).where(TABLE.c.state == RecipientState.SENDING.value)
    if older_than is not None:
        query = query.where(TABLE.c.claimed_at < older_than)
    with ctx.db.engine.begin() as conn:
        result = conn.execute(
            query.values(
                state=RecipientState.UNCERTAIN.value,
                error=_(_STOPPED),
            )
        )
    return result.rowcount


def recover_dead_local_workers(ctx: Core, host: str) -> int:
    """Rows claimed by a process of this machine that no longer exists become ``uncertain``
    at once (a shared database cannot wait for the stale-claim cutoff after every restart)."""
    with ctx.db.session() as session:
        workers = session.exec(
            select(CampaignRecipient.claimed_by)
            .where(
                CampaignRecipient.state == RecipientState.SENDING,
                col(CampaignRecipient.claimed_by).startswith(f"{host}:"),
            )
            .distinct()
        ).all()
    recovered = 0
    for worker in workers:
        pid = (worker or "").split(":")[1] if (worker or "").count(":") >= 2 else ""
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with ctx.db.engine.begin() as conn:
            recovered += conn.execute(
                update(TABLE)
                .where(TABLE.c.state == RecipientState.SENDING.value, TABLE.c.claimed_by == worker)
                .values(state=RecipientState.UNCERTAIN.value, error=_(_STOPPED))
            ).rowcount
    return recovered


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel_queued(ctx: Core, campaign_id: int) -> int:
    with ctx.db.engine.begin() as conn:
        result = conn.execute(
            update(TABLE)
            .where(
                TABLE.c.campaign_id == campaign_id,
                TABLE.c.state == RecipientState.QUEUED.value,
            )
            .values(state=RecipientState.CANCELLED.value)
        )
    return result.rowcount


def counts(ctx: Core, campaign_id: int) -> dict[str, int]:
    with ctx.db.session() as session:
        rows = session.exec(
            select(CampaignRecipient.state, func.count())
            .where(CampaignRecipient.campaign_id == campaign_id)
            .group_by(CampaignRecipient.state)
        ).all()
    return {state: n for state, n in rows}


def bounce_count(ctx: Core, campaign_id: int) -> int:
    with ctx.db.session() as session:
        return session.exec(
            select(func.count()).where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.bounce != ""
            )
        ).one()


def unsubscribed_count(ctx: Core, campaign_id: int) -> int:
    with ctx.db.session() as session:
        return session.exec(
            select(func.count()).where(
                Suppression.campaign_id == campaign_id, Suppression.reason == "unsubscribed"
            )
        ).one()


def rows_in(ctx: Core, campaign_id: int, state: str, limit: int = 50) -> list[CampaignRecipient]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.state == state
                )
                .order_by(col(CampaignRecipient.id))
                .limit(limit)
            )
        )


def sent_since(ctx: Core, mailbox_id: int, since: datetime) -> int:
    """Messages a mailbox's campaigns had accepted since ``since`` (for the daily cap)."""
    with ctx.db.session() as session:
        return session.exec(
            select(func.count())
            .select_from(CampaignRecipient)
            .join(Campaign, col(Campaign.id) == CampaignRecipient.campaign_id)
            .where(
                Campaign.mailbox_id == mailbox_id,
                CampaignRecipient.state == RecipientState.SENT,
                col(CampaignRecipient.sent_at) >= since,
            )
        ).one()


def in_window(
    conn: Connection, mailbox_id: int, since: datetime, claimed_since: datetime
) -> tuple[int, int]:
    """For a mailbox's daily cap, across workers: (messages of its campaigns sent since
    ``since``, or claimed since then and possibly sent (in flight, or uncertain); rows
    claimed since ``claimed_since`` whatever became of them)."""
    campaigns = Campaign.__table__  # type: ignore[attr-defined]
    mine = TABLE.c.campaign_id.in_(
        select(campaigns.c.id).where(campaigns.c.mailbox_id == mailbox_id).scalar_subquery()
    )
    used = conn.execute(
        select(func.count())
        .select_from(TABLE)
        .where(
            mine,
            or_(
                (TABLE.c.state == RecipientState.SENT.value) & (TABLE.c.sent_at >= since),
                TABLE.c.state.in_([RecipientState.SENDING.value, RecipientState.UNCERTAIN.value])
                & (TABLE.c.claimed_at >= since),
            ),
        )
    ).scalar_one()
    claimed = conn.execute(
        select(func.count()).select_from(TABLE).where(mine, TABLE.c.claimed_at >= claimed_since)
    ).scalar_one()
    return int(used), int(claimed)


def fields_of(row: CampaignRecipient) -> dict[str, str]:
    fields = json.loads(row.fields_json or "{}")
    return {str(k): str(v) for k, v in fields.items()} | {"email": row.address}


def stale_cutoff(smtp_timeout: float) -> datetime:
    # A live worker finishes a claimed row within a few SMTP timeouts; older claims are dead.
    return utcnow() - timedelta(seconds=max(120.0, 6 * smtp_timeout))
