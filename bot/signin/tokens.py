"""Access tokens for signed-in mailboxes: refreshed ahead of expiry and before every send.

Tokens live encrypted in ``Mailbox.secrets`` (refresh and access token) with the expiry in
``Mailbox.token_expires_at``. A per-mailbox lock keeps two threads of this process from
refreshing at once, so a rotated refresh token is never overwritten by an older one. On
PostgreSQL, where several Mailroom processes may share the database, a transaction-scoped
advisory lock per mailbox does the same across processes: the second one waits, re-reads,
and uses the token the first one just saved instead of spending the old refresh token.
(SQLite is the single-process setup: the in-process lock is all it needs.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot.signin import config
from locales import _
from providers import google, microsoft
from providers.errors import ServiceError
from providers.signin_errors import FailureKind, SignInFailure
from storage.models import Mailbox, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core

# Refresh this long before the provider's expiry, so an IMAP login or an SMTP send that
# starts with a token never ends with an expired one.
EXPIRY_MARGIN = timedelta(minutes=5)
# First key of the PostgreSQL advisory lock (the second is the mailbox id): "MR".
ADVISORY_LOCK_SPACE = 0x4D52
# A refresh is two provider calls of at most OAUTH_TIMEOUT_SECONDS each: wait longer than that.
CROSS_PROCESS_WAIT = "60s"


class ProviderTokens:
    """``ctx.mailboxes.tokens``: implements bot.mailboxes.AccessTokens."""

    def __init__(
        self, ctx: Core, on_config_fault: Callable[[Mailbox, SignInFailure], None]
    ) -> None:
        self.ctx = ctx
        self.on_config_fault = on_config_fault
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, mailbox_id: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(mailbox_id, threading.Lock())

    @contextmanager
    def _across_processes(self, mailbox_id: int) -> Iterator[None]:
        """Hold the mailbox's refresh lock in the database (PostgreSQL) until the block ends.

        The lock lives on its own connection and transaction; the token writes inside the
        block commit on other connections before it is released, so the next holder reads
        them."""
        engine = self.ctx.db.engine
        if engine.dialect.name != "postgresql":
            yield
            return
        with engine.connect() as conn:
            try:
                conn.execute(text(f"SET LOCAL lock_timeout = '{CROSS_PROCESS_WAIT}'"))
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(CAST(:space AS int), CAST(:id AS int))"),
                    {"space": ADVISORY_LOCK_SPACE, "id": mailbox_id},
                )
            except OperationalError:
                raise ServiceError(
                    _(
                        "Another Mailroom process is still renewing this mailbox's sign-in; "
                        "Mailroom tries again shortly."
                    )
                ) from None
            try:
                yield
            finally:
                conn.rollback()  # ends the transaction, which releases the lock

    def access_token(self, mailbox: Mailbox, *, force_refresh: bool = False) -> str:
        settings = self.ctx.settings
        if mailbox.provider not in config.PROVIDERS or not config.is_configured(
            settings, mailbox.provider
        ):
            raise ServiceError(
                _(
                    "{address} signs in with {provider}, but that provider is not configured on "
                    "this Mailroom server. Ask the operator to set its client id and secret."
                ).format(address=mailbox.address, provider=mailbox.provider)
            )
        with self._lock(mailbox.id), self._across_processes(mailbox.id):  # type: ignore[arg-type]
            # Re-read: another thread may have refreshed (and rotated) while we waited.
            current = self.ctx.mailboxes.get(mailbox.id) or mailbox  # type: ignore[arg-type]
            saved = self.ctx.mailboxes.secrets(current)
            expires = current.token_expires_at
            # After a failed sync the saved token is suspect (revoked grants kill access tokens
            # before their expiry, and IMAP only says "authentication failed"): refresh, so the
            # provider tells exactly what is wrong.
            force_refresh = force_refresh or current.consecutive_failures > 0
            if (
                not force_refresh
                and saved.get("access_token")
                and expires is not None
                and expires - EXPIRY_MARGIN > utcnow()
            ):
                return str(saved["access_token"])
            refresh_token = saved.get("refresh_token")
            if not refresh_token:
                raise SignInFailure(
                    current.provider,
                    FailureKind.RECONNECT,
                    address=current.address,
                    tenant=current.ms_tenant,
                )
            try:
                access, rotated, expires_at = self._refresh(current, str(refresh_token))
            except SignInFailure as failure:
                worded = failure.for_mailbox(current.address, current.ms_tenant)
                if worded.kind == FailureKind.CONFIG:
                    self.on_config_fault(current, worded)
                raise worded from None
            self.ctx.mailboxes.update_secrets(
                saved_id(current),
                access_token=access,
                refresh_token=rotated or refresh_token,
            )
            self.ctx.mailboxes.set_fields(current.id, token_expires_at=expires_at)  # type: ignore[arg-type]
            return access

    def _refresh(self, mailbox: Mailbox, refresh_token: str) -> tuple[str, str | None, object]:
        settings = self.ctx.settings
        if mailbox.provider == config.GOOGLE:
            tokens = google.refresh(config.google_config(settings), refresh_token)
            return tokens.access_token, tokens.refresh_token, tokens.expires_at
        ms = config.microsoft_config(settings)
        grant = microsoft.refresh(
            ms, tenant=microsoft.sign_in_tenant(ms, mailbox.ms_tenant), refresh_token=refresh_token
        )
        return grant.access_token, grant.refresh_token, grant.expires_at
