"""Mailbox records: their secrets, their connection settings, their health.

Secrets (passwords, OAuth tokens) only ever exist decrypted in memory, inside the
ImapSettings/SmtpSettings handed to a provider for one connection.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from sqlalchemy import ColumnElement
from sqlmodel import col, func, select

from locales import N_, _
from providers.errors import MailroomError, ServiceError
from providers.imap import ImapSettings
from providers.netguard import check_host_allowed
from providers.signin_errors import FailureKind, SignInFailure
from providers.smtp import SmtpSettings
from storage.crypto import SecretBox
from storage.db import Database
from storage.models import Health, Mailbox, MailboxKind, Provider, utcnow

# What is said of a removed mailbox wherever it is still met: an old button, an old thread.
MAILBOX_REMOVED = N_(
    "{address} was removed from Mailroom, so nothing more can be done with it here. "
    "To use it again, connect it with `/mail-connect`."
)
REPLY_TO_REMOVED = N_(
    "{address} was removed from Mailroom, so this reply was not sent (nothing was queued). "
    "Its old threads stay for reading only: once the mailbox is connected again, answer in "
    "its new threads."
)


class AccessTokens(Protocol):
    """Hands out a fresh OAuth access token for a Google/Microsoft mailbox."""

    def access_token(self, mailbox: Mailbox, *, force_refresh: bool = False) -> str: ...


class _NoAccessTokens:
    def access_token(self, mailbox: Mailbox, *, force_refresh: bool = False) -> str:
        raise ServiceError(
            _(
                "{address} signs in with {provider}, but that provider is not configured on this "
                "Mailroom server. Ask the operator to set its client id and secret."
            ).format(address=mailbox.address, provider=mailbox.provider)
        )


class Mailboxes:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        *,
        imap_timeout: float = 20.0,
        smtp_timeout: float = 20.0,
        allowed_private_hosts: Collection[str] = (),
        dns_nameservers: Sequence[str] = (),
    ) -> None:
        self.db = db
        self.box = box
        self.tokens: AccessTokens = _NoAccessTokens()
        self.imap_timeout = imap_timeout
        self.smtp_timeout = smtp_timeout
        self.allowed_private_hosts = tuple(allowed_private_hosts)
        # Who resolves manually entered mail hosts (MAIL_DNS_NAMESERVERS); empty: the system.
        self.dns_nameservers = tuple(dns_nameservers)

    # --- Lookup ---------------------------------------------------------------------------

    # A removed mailbox (``removed_at`` set) is found by none of these but ``get_even_removed``:
    # to everything that lists, syncs, sends or manages mailboxes it no longer exists.

    def get(self, mailbox_id: int) -> Mailbox | None:
        mailbox = self.get_even_removed(mailbox_id)
        return mailbox if mailbox is not None and mailbox.removed_at is None else None

    def get_even_removed(self, mailbox_id: int) -> Mailbox | None:
        """Also a removed mailbox: to say so in its old threads instead of "not found"."""
        with self.db.session() as session:
            return session.get(Mailbox, mailbox_id)

    def all(self, team_id: str | None = None) -> list[Mailbox]:
        with self.db.session() as session:
            query = select(Mailbox).where(not_removed()).order_by(col(Mailbox.id))
            if team_id:
                query = query.where(Mailbox.team_id == team_id)
            return list(session.exec(query))

    def active_ids(self) -> list[int]:
        with self.db.session() as session:
            query = select(Mailbox.id).where(col(Mailbox.active).is_(True), not_removed())
            return [row_id for row_id in session.exec(query) if row_id is not None]

    def by_channel(self, channel_id: str) -> list[Mailbox]:
        with self.db.session() as session:
            query = select(Mailbox).where(Mailbox.channel_id == channel_id, not_removed())
            return list(session.exec(query))

    def find_existing(self, team_id: str, kind: str, owner_id: str) -> Mailbox | None:
        """The mailbox that a new one of this kind would duplicate (personal: per user;
        shared: per workspace). Marketing mailboxes are not limited.

        A removed mailbox is no duplicate: connecting its address again makes a new row
        rather than reviving the old one, so nothing of the removed connection (settings,
        sync positions, SES pin) carries over, and the old threads stay with the old row."""
        with self.db.session() as session:
            query = select(Mailbox).where(
                Mailbox.team_id == team_id, Mailbox.kind == kind, not_removed()
            )
            if kind == MailboxKind.PERSONAL:
                query = query.where(Mailbox.owner_id == owner_id)
            elif kind != MailboxKind.SHARED:
                return None
            return session.exec(query).first()

    # --- Secrets --------------------------------------------------------------------------

    def secrets(self, mailbox: Mailbox) -> dict[str, Any]:
        return self.box.open(mailbox.secrets)

    def seal(self, secrets: dict[str, Any]) -> str:
        return self.box.seal(secrets)

    def update_secrets(self, mailbox_id: int, **changes: Any) -> None:
        with self.db.session() as session:
            mailbox = session.get(Mailbox, mailbox_id)
            # Removed meanwhile (a token refresh racing the removal): its secrets stay wiped.
            if mailbox is None or mailbox.removed_at is not None:
                return
            data = self.box.open(mailbox.secrets)
            data.update(changes)
            mailbox.secrets = self.box.seal(data)
            session.add(mailbox)

    # --- Connection settings --------------------------------------------------------------

    def _guard(self, host: str, port: int, field: str) -> tuple[str, ...]:
        """Check a manually entered host again before each connection; the addresses to
        connect to.

        The modal checked it when the mailbox was saved, but a DNS name can later be
        pointed at an internal address (DNS rebinding). The name is resolved once here and
        the connection goes to exactly the addresses checked, never to a second answer.
        """
        checked = check_host_allowed(
            host,
            port,
            self.allowed_private_hosts,
            field=field,
            nameservers=self.dns_nameservers,
            timeout=min(self.imap_timeout, self.smtp_timeout),
        )
        return checked.addresses

    def imap_settings(self, mailbox: Mailbox) -> ImapSettings:
        if mailbox.provider == Provider.IMAP:
            addresses = self._guard(mailbox.imap_host, mailbox.imap_port, "imap_host")
            return ImapSettings(
                host=mailbox.imap_host,
                port=mailbox.imap_port,
                security=mailbox.imap_security,  # type: ignore[arg-type]
                username=mailbox.imap_username or mailbox.address,
                password=self.secrets(mailbox).get("imap_password"),
                timeout=self.imap_timeout,
                addresses=addresses,
            )
        return ImapSettings(
            host=mailbox.imap_host,
            port=mailbox.imap_port,
            security=mailbox.imap_security,  # type: ignore[arg-type]
            username=mailbox.imap_username or mailbox.address,
            access_token=self.tokens.access_token(mailbox),
            timeout=self.imap_timeout,
        )

    def smtp_settings(self, mailbox: Mailbox) -> SmtpSettings:
        if mailbox.provider == Provider.IMAP:
            addresses = self._guard(mailbox.smtp_host, mailbox.smtp_port, "smtp_host")
            data = self.secrets(mailbox)
            return SmtpSettings(
                host=mailbox.smtp_host,
                port=mailbox.smtp_port,
                security=mailbox.smtp_security,  # type: ignore[arg-type]
                username=mailbox.smtp_username or mailbox.imap_username or mailbox.address,
                password=data.get("smtp_password") or data.get("imap_password"),
                timeout=self.smtp_timeout,
                addresses=addresses,
            )
        # Refresh before every send: a token that expires mid-conversation must not bounce.
        return SmtpSettings(
            host=mailbox.smtp_host,
            port=mailbox.smtp_port,
            security=mailbox.smtp_security,  # type: ignore[arg-type]
            username=mailbox.smtp_username or mailbox.address,
            access_token=self.tokens.access_token(mailbox, force_refresh=True),
            timeout=self.smtp_timeout,
        )

    # --- Health ---------------------------------------------------------------------------

    def record_success(self, mailbox_id: int, new_messages: int) -> tuple[Mailbox, bool]:
        """Mark a sync as good; returns (mailbox, whether it had been failing)."""
        # Not durable: every sync rewrites it, and a connect storm (a failover bringing
        # a thousand mailboxes live) must not wait on a disk flush for each.
        with self.db.session(durable=False) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            assert mailbox is not None
            was_failing = mailbox.consecutive_failures > 0 and mailbox.health != Health.OK
            mailbox.health = Health.OK
            mailbox.last_error = None
            mailbox.consecutive_failures = 0
            mailbox.last_sync_at = mailbox.last_success_at = utcnow()
            mailbox.messages_synced += new_messages
            session.add(mailbox)
            return mailbox, was_failing

    def record_failure(
        self, mailbox_id: int, reason: str, health: str = Health.NEEDS_ATTENTION
    ) -> Mailbox:
        with self.db.session() as session:
            mailbox = session.get(Mailbox, mailbox_id)
            assert mailbox is not None
            mailbox.health = health
            mailbox.last_error = reason
            mailbox.consecutive_failures += 1
            mailbox.last_sync_at = utcnow()
            session.add(mailbox)
            return mailbox

    def set_fields(self, mailbox_id: int, **fields: Any) -> Mailbox | None:
        with self.db.session() as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                return None
            for name, value in fields.items():
                setattr(mailbox, name, value)
            mailbox.updated_at = utcnow()
            session.add(mailbox)
            return mailbox

    def mark_removed(self, mailbox_id: int) -> Mailbox | None:
        """Soft-delete: inactive, secrets (passwords, OAuth tokens) wiped, ``removed_at`` set."""
        return self.set_fields(
            mailbox_id,
            active=False,
            secrets=None,
            token_expires_at=None,
            removed_at=utcnow(),
            sync_state=None,
        )

    def counts_by_health(self) -> dict[str, int]:
        """For /healthz: counted by the database, not by loading every mailbox."""
        with self.db.session() as session:
            rows = session.exec(
                select(Mailbox.health, func.count()).where(not_removed()).group_by(Mailbox.health)
            )
            return {health: count for health, count in rows}


def not_removed() -> ColumnElement[bool]:
    """The condition of a mailbox still in Mailroom (not removed), for queries of its table."""
    return col(Mailbox.removed_at).is_(None)


def health_after(error: MailroomError) -> str:
    """The health a failed sync leaves a mailbox in: a sign-in failure says who must act."""
    if isinstance(error, SignInFailure):
        if error.kind == FailureKind.RECONNECT:
            return Health.RECONNECT_NEEDED
        if error.kind == FailureKind.CONSENT:
            return Health.ADMIN_APPROVAL_NEEDED
    return Health.NEEDS_ATTENTION
