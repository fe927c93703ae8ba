"""OAuth ``state`` rows: single use, bound to workspace, user and mailbox kind, short-lived.

A sign-in state lives 10 minutes. An admin-consent state lives a week, because the link is
forwarded to an IT admin who may open it much later; it is still used once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, delete

from locales import _
from providers.signin_errors import StateProblem
from storage.db import Database
from storage.models import MailboxKind, OAuthState, utcnow

SIGNIN_TTL = timedelta(minutes=10)
CONSENT_TTL = timedelta(days=7)
SIGNIN = "signin"
ADMIN_CONSENT = "adminconsent"


def create(
    db: Database,
    *,
    provider: str,
    purpose: str,
    team_id: str,
    user_id: str,
    kind: str = MailboxKind.PERSONAL,
    mailbox_id: int | None = None,
    tenant: str | None = None,
    channel_id: str | None = None,
    backfill_days: int = 0,
) -> OAuthState:
    row = OAuthState(
        state=secrets.token_urlsafe(32),
        provider=provider,
        purpose=purpose,
        team_id=team_id,
        user_id=user_id,
        kind=kind,
        mailbox_id=mailbox_id,
        tenant=tenant,
        channel_id=channel_id,
        backfill_days=backfill_days,
        # PKCE verifier (Google; MSAL makes its own): 64 URL-safe characters, RFC 7636.
        code_verifier=secrets.token_urlsafe(48)[:64],
        expires_at=utcnow() + (CONSENT_TTL if purpose == ADMIN_CONSENT else SIGNIN_TTL),
    )
    with db.session() as session:
        session.add(row)
    return row


def _already_used(purpose: str) -> StateProblem:
    if purpose == ADMIN_CONSENT:
        return StateProblem(
            _(
                "This link was already used, and each link works only once: run "
                "`/mail-consent` in Slack for a new approval link."
            )
        )
    return StateProblem(
        _(
            "This link was already used, and each link works only once: go back to Slack "
            "and press the sign-in button again."
        )
    )


def _problem(row: OAuthState | None, provider: str, purpose: str) -> StateProblem:
    """Why a link does not work, and what to do instead (a complete sentence per case)."""
    consent = purpose == ADMIN_CONSENT
    if row is None or row.provider != provider or row.purpose != purpose:
        if consent:
            return StateProblem(
                _(
                    "This link is not valid (it may have been copied incompletely): run "
                    "`/mail-consent` in Slack for a new approval link."
                )
            )
        return StateProblem(
            _(
                "This link is not valid (it may have been copied incompletely): go back to "
                "Slack and press the sign-in button again."
            )
        )
    if row.used_at is not None:
        return _already_used(purpose)
    if row.expires_at <= utcnow():
        if consent:
            return StateProblem(
                _("This link has expired: run `/mail-consent` in Slack for a new approval link.")
            )
        return StateProblem(
            _("This link has expired: go back to Slack and press the sign-in button again.")
        )
    if purpose == SIGNIN and row.opened_at is not None:
        return _already_used(purpose)
    if consent:
        return StateProblem(
            _(
                "This sign-in did not start from its link: run `/mail-consent` in Slack for a "
                "new approval link."
            )
        )
    return StateProblem(
        _(
            "This sign-in did not start from its link: go back to Slack and press the sign-in "
            "button again."
        )
    )


def open_once(db: Database, state: str, *, provider: str, purpose: str) -> OAuthState:
    """Open a sign-in link exactly once: the first browser to open it gets the sign-in, a
    second opening (a forwarded or replayed link) is refused. The callback then needs a
    link that was opened and not used yet."""
    return _claim(db, state, provider, purpose, opened_at=utcnow())


def consume(db: Database, state: str, *, provider: str, purpose: str) -> OAuthState:
    """Use the state exactly once: of two concurrent callbacks, one wins and one is refused."""
    return _claim(db, state, provider, purpose, used_at=utcnow())


def _claim(db: Database, state: str, provider: str, purpose: str, **stamp: object) -> OAuthState:
    now = utcnow()
    conditions = [
        col(OAuthState.state) == state,
        col(OAuthState.provider) == provider,
        col(OAuthState.purpose) == purpose,
        col(OAuthState.used_at).is_(None),
        col(OAuthState.expires_at) > now,
    ]
    if purpose == SIGNIN:
        # A sign-in link is opened once (/start), then used once (the callback).
        opened = col(OAuthState.opened_at)
        conditions.append(opened.is_(None) if "opened_at" in stamp else opened.is_not(None))
    with db.session() as session:
        claimed = session.exec(update(OAuthState).where(*conditions).values(**stamp)).rowcount
    with db.session() as session:
        row = session.get(OAuthState, state) if state else None
    if not claimed or row is None:
        raise _problem(row, provider, purpose)
    return row


def update_fields(db: Database, state: str, **fields: object) -> OAuthState | None:
    with db.session() as session:
        row = session.get(OAuthState, state)
        if row is None or row.used_at is not None:
            return None
        for name, value in fields.items():
            setattr(row, name, value)
        session.add(row)
        return row


def purge_expired(db: Database) -> None:
    """Expired states are useless; keep the table small."""
    with db.session() as session:
        session.exec(delete(OAuthState).where(col(OAuthState.expires_at) < utcnow()))
