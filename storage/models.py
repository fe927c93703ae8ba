"""The database schema (SQLModel). Changes go through alembic (storage/migrations).

Uniqueness constraints carry the exactly-once guarantees: a mail is known once per
(mailbox, folder, uidvalidity, uid) - its place on the server, not its Message-ID, which
broken mailers reuse; a thread message from Slack once per (channel, ts) in the reply inbox,
and an outgoing reply once per Slack message (channel, ts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    NONE = "none"
    SALES = "sales"
    ADMIN = "admin"
    MARKETING = "marketing"  # runs campaigns from visible marketing mailboxes


class MailboxKind(StrEnum):
    PERSONAL = "personal"
    SHARED = "shared"
    MARKETING = "marketing"


class Provider(StrEnum):
    IMAP = "imap"
    GOOGLE = "google"
    MICROSOFT = "microsoft"


class Health(StrEnum):
    OK = "ok"
    NEW = "new"  # connected, not synced yet
    NEEDS_ATTENTION = "needs_attention"
    RECONNECT_NEEDED = "reconnect_needed"
    ADMIN_APPROVAL_NEEDED = "admin_approval_needed"


class MessageState(StrEnum):
    PENDING_POST = "pending_post"  # inbound: recorded, Slack post not confirmed
    POSTED = "posted"
    SKIPPED = "skipped"  # inbound: not posted on purpose (partial sync, our own sent copy)
    PENDING_SEND = "pending_send"  # outbound: recorded, SMTP not started
    SENDING = "sending"  # outbound: SMTP started, outcome unknown until recorded
    SENT = "sent"
    FAILED = "failed"  # outbound: the reply could not be sent
    # inbound: recording this mail failed; retried by its folder + UID on the next syncs
    RECORD_RETRY = "record_retry"
    # inbound: could not be shown after several tries; the channel has a notice with Retry
    INGEST_FAILED = "ingest_failed"
    CANCELLED = "cancelled"  # outbound: undone by its author before it left


class ThreadStatus(StrEnum):
    OPEN = "open"  # the customer wrote last
    WAITING = "waiting"  # we answered; waiting for the customer
    DONE = "done"
    SNOOZED = "snoozed"  # reopens at snoozed_until, or when the customer writes


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: str = Field(primary_key=True)  # Slack user id
    team_id: str = Field(default="", index=True)
    name: str = ""
    email: str | None = None
    role: str = Field(default=Role.NONE)  # granted with /mail-role
    is_workspace_admin: bool = False  # Slack admin/owner, refreshed from users.info
    refreshed_at: datetime | None = None


# How a mailbox syncs: every mail, or only mail exchanged with its known contacts.
SYNC_MODES = ("full", "partial")


class Mailbox(SQLModel, table=True):
    __tablename__ = "mailboxes"
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    kind: str = Field(index=True)
    owner_id: str = Field(index=True)  # personal: the owner; shared/marketing: who connected
    address: str
    sender_name: str = ""
    provider: str = Field(default=Provider.IMAP)
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "ssl"
    imap_username: str = ""
    smtp_host: str = ""
    smtp_port: int = 465
    smtp_security: str = "ssl"
    smtp_username: str = ""
    secrets: str | None = Field(default=None, sa_column=Column(Text))  # Fernet token
    token_expires_at: datetime | None = None
    ms_tenant: str | None = None
    # Microsoft: the account's immutable object id (``oid``) in ``ms_tenant`` (``tid``); a
    # reconnect must come from the same account, whatever its (mutable) email says.
    ms_object_id: str | None = None
    channel_id: str | None = None
    active: bool = True
    visible: bool = True
    health: str = Field(default=Health.NEW)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    consecutive_failures: int = 0
    last_sync_at: datetime | None = None
    last_success_at: datetime | None = None
    messages_synced: int = 0
    backfill_days: int = 0
    sync_mode: str = "full"  # SYNC_MODES: full | partial (only known contacts)
    send_via: str = "smtp"  # smtp | ses
    # The language of the email Mailroom itself writes for this mailbox (footer words, test
    # mails, campaign unsubscribe pages); None: the workspace language.
    language: str | None = None
    # The address an admin allowed to send through SES on its domain's verification alone;
    # any other address (a changed one too) needs its own SES verification.
    ses_pinned_address: str | None = None
    # Ownership lease (bot.ownership): which worker process syncs this mailbox, until when,
    # and the epoch bumped at every claim that fences a previous owner's late writes.
    sync_lease_until: datetime | None = None
    lease_owner: str | None = Field(default=None, index=True)
    lease_epoch: int = 0
    # live / polling / reconnecting / connecting, as the worker holding the mailbox last
    # saw it (for /mail-status in the other processes).
    sync_state: str | None = None
    # Removed from Mailroom (bot.lifecycle.remove): kept as a row so its threads' history
    # stays linked, but listed, synced and sent from nowhere, its secrets wiped.
    removed_at: datetime | None = Field(default=None, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class FolderState(SQLModel, table=True):
    __tablename__ = "folder_states"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    folder: str
    role: str = "inbox"  # inbox | sent
    uidvalidity: int | None = None
    last_uid: int = 0
    highestmodseq: int | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel_id", "thread_ts"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    channel_id: str
    thread_ts: str | None = None  # None until the root post is confirmed
    subject: str = ""
    customer_address: str = ""
    customer_name: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    last_message_at: datetime = Field(default_factory=utcnow)
    # Team inbox: who handles the thread and where it stands (see bot.inbox).
    assignee_id: str | None = Field(default=None, index=True)
    status: str = Field(default=ThreadStatus.OPEN, index=True)
    snoozed_until: datetime | None = None


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
        # Not unique: a Message-ID is for threading and for spotting the same mail in two
        # folders (with content_hash), never a mail's identity.
        Index("ix_messages_mailbox_id_message_id", "mailbox_id", "message_id"),
        UniqueConstraint("source_channel", "source_ts"),
    )
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversations.id", index=True)
    message_id: str  # normalised header value, <...>; synthetic when the mail had none
    direction: str  # in | out
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    in_reply_to: str | None = None
    references: str | None = Field(default=None, sa_column=Column(Text))  # space separated
    subject: str = ""
    from_address: str = ""
    from_name: str = ""
    to_addresses: str = ""  # comma separated
    cc_addresses: str = ""  # comma separated; inbound: the mail's Cc; outbound: `all:` copies
    reply_to: str = ""  # comma separated; where answers to this mail go (Reply-To)
    sent_at: datetime | None = None
    slack_ts: str | None = None
    source_channel: str | None = None  # outbound: the Slack message that asked for it
    source_ts: str | None = None
    author_id: str | None = None  # outbound: Slack user
    state: str = Field(index=True)
    attempts: int = 0
    failures: int = 0  # inbound: failed tries since the last success or Retry
    error: str | None = Field(default=None, sa_column=Column(Text))
    body_text: str | None = Field(
        default=None, sa_column=Column(Text)
    )  # full text, for "Show full"
    files_json: str | None = Field(default=None, sa_column=Column(Text))  # outbound Slack files
    content_hash: str | None = None  # inbound: see bot.formatting.inbound.content_hash
    # Outbound: not sent before this time (undo window, "Send later"); None: at once.
    send_after: datetime | None = None
    notice_ts: str | None = None  # outbound: the thread notice with Undo / Send later
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ChannelLanguage(SQLModel, table=True):
    """An admin's choice of language for one channel's posts (else the workspace's)."""

    __tablename__ = "channel_languages"
    channel_id: str = Field(primary_key=True)
    team_id: str = Field(default="", index=True)
    language: str
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class InboxSetting(SQLModel, table=True):
    """Per mailbox: remind when a customer mail is unanswered after N working hours."""

    __tablename__ = "inbox_settings"
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", unique=True)
    reminder_hours: float = 0.0  # 0: no reminder
    timezone: str = "UTC"
    working_days: str = "0,1,2,3,4"  # Monday = 0
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class ReplyTemplate(SQLModel, table=True):
    """A saved reply: for one mailbox, or for the whole workspace (mailbox_id None)."""

    __tablename__ = "reply_templates"
    __table_args__ = (UniqueConstraint("team_id", "mailbox_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    mailbox_id: int | None = Field(default=None, foreign_key="mailboxes.id")
    name: str
    body: str = Field(default="", sa_column=Column(Text))
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"
    event_id: str = Field(primary_key=True)
    received_at: datetime = Field(default_factory=utcnow)


class ReplyInbox(SQLModel, table=True):
    """A person's message in a Mailroom thread, stored before Slack's event is acknowledged.

    Written at ack time (one row per Slack message: channel + ts, whatever event id carried
    it) and marked done in the same transaction that records the outgoing reply, so a crash
    at any moment leaves either this row to re-process at start or the reply to send.
    """

    __tablename__ = "reply_inbox"
    __table_args__ = (UniqueConstraint("channel_id", "message_ts"),)
    id: int | None = Field(default=None, primary_key=True)
    channel_id: str
    message_ts: str
    event_id: str | None = Field(default=None, unique=True, index=True)
    event_json: str = Field(sa_column=Column(Text, nullable=False))
    done: bool = Field(default=False, index=True)
    received_at: datetime = Field(default_factory=utcnow)
    done_at: datetime | None = None


class Notification(SQLModel, table=True):
    """One row per thing someone was told, so it is told once (key is unique)."""

    __tablename__ = "notifications"
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    recipient: str
    text: str = Field(default="", sa_column=Column(Text))
    sent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


# --- Footers, contacts, activity (mailbox settings) ----------------------------------------


# Footer colours when none were chosen (the footer editor starts from these too).
FOOTER_TEXT_COLOR = "#333333"
FOOTER_LINK_COLOR = "#1a73e8"
FOOTER_BACKGROUND_COLOR = "#ffffff"


class Footer(SQLModel, table=True):
    __tablename__ = "footers"
    __table_args__ = (UniqueConstraint("team_id", "mailbox_id"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    mailbox_id: int | None = Field(default=None, foreign_key="mailboxes.id")  # None = default
    text: str = Field(default="", sa_column=Column(Text))
    format: str = "plain"  # plain | rich
    text_color: str = FOOTER_TEXT_COLOR
    link_color: str = FOOTER_LINK_COLOR
    background_color: str = FOOTER_BACKGROUND_COLOR
    facebook: str = ""
    x: str = ""
    instagram: str = ""
    linkedin: str = ""
    company: str = ""
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("mailbox_id", "pattern"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    pattern: str  # an address (a@b.com) or a domain (@b.com)
    added_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Activity(SQLModel, table=True):
    __tablename__ = "activities"
    __table_args__ = (UniqueConstraint("message_row_id", "contact_address"),)
    id: int | None = Field(default=None, primary_key=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    message_row_id: int = Field(foreign_key="messages.id")
    contact_address: str = Field(index=True)
    direction: str  # in | out
    subject: str = ""
    answered_by: str | None = None  # Slack user id of the replier (out)
    channel_id: str | None = None
    thread_ts: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)


# --- SES sender verification and DNS reports -------------------------------------------------


class SenderVerification(SQLModel, table=True):
    __tablename__ = "sender_verifications"
    __table_args__ = (UniqueConstraint("team_id", "identity"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    identity: str  # address (or domain for "Set up DKIM with SES")
    sender_name: str = ""
    requested_by: str = ""
    status: str = "PENDING"  # PENDING | SUCCESS | FAILED | EXPIRED | ...
    started_at: datetime = Field(default_factory=utcnow)
    checked_at: datetime | None = None
    next_check_at: datetime | None = None
    notified_status: str | None = None


class DomainReportRow(SQLModel, table=True):
    __tablename__ = "domain_reports"
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    domain: str = Field(index=True)
    verdict: str
    report_json: str = Field(sa_column=Column(Text))
    requested_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class DomainWatch(SQLModel, table=True):
    __tablename__ = "domain_watches"
    __table_args__ = (UniqueConstraint("team_id", "domain"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    domain: str
    selectors: str = ""
    requested_by: str = ""
    last_verdict: str | None = None
    next_check_at: datetime | None = None


# --- OAuth sign-in and Microsoft consent ----------------------------------------------------


class OAuthState(SQLModel, table=True):
    __tablename__ = "oauth_states"
    state: str = Field(primary_key=True)
    provider: str
    purpose: str = "signin"  # signin | adminconsent
    team_id: str
    user_id: str
    kind: str = MailboxKind.PERSONAL
    mailbox_id: int | None = None  # reconnecting an existing mailbox
    code_verifier: str | None = None  # PKCE; never leaves the server
    tenant: str | None = None
    channel_id: str | None = None
    backfill_days: int = 0  # chosen in the connect modal when the sign-in button was pressed
    # Microsoft: MSAL's auth-code flow (PKCE verifier, nonce) between /start and the callback.
    flow_json: str | None = Field(default=None, sa_column=Column(Text))
    expires_at: datetime
    opened_at: datetime | None = None  # the sign-in link was opened (it opens once)
    used_at: datetime | None = None


class ConsentTenant(SQLModel, table=True):
    __tablename__ = "consent_tenants"
    __table_args__ = (UniqueConstraint("team_id", "tenant"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str
    tenant: str  # GUID or domain from the failed sign-in; "organizations" when unknown
    status: str = "needed"  # granted | needed | declined | unknown
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    waiting_users: str = ""  # comma separated Slack user ids
    checked_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


# --- Marketing campaigns (issue 14) ----------------------------------------------------------


class Audience(SQLModel, table=True):
    """A named list of recipients, one per workspace and name."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("team_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    name: str
    created_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class AudienceMember(SQLModel, table=True):
    __tablename__ = "audience_members"
    __table_args__ = (UniqueConstraint("audience_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    audience_id: int = Field(foreign_key="audiences.id", index=True)
    address: str  # normalised (lower-case domain) by email-validator
    fields_json: str = Field(default="{}", sa_column=Column(Text))  # merge fields
    added_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class Suppression(SQLModel, table=True):
    """Addresses no campaign of the workspace may ever mail again."""

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("team_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    address: str  # lower-case
    reason: str  # unsubscribed | hard_bounce | complaint | manual
    campaign_id: int | None = None
    detail: str = Field(default="", sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)


class CampaignTemplate(SQLModel, table=True):
    __tablename__ = "campaign_templates"
    __table_args__ = (UniqueConstraint("team_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    name: str
    subject: str = ""
    body: str = Field(default="", sa_column=Column(Text))  # Slack mrkdwn with {field|default}
    # A body written in the rich text editor: its rich_text block (JSON), which the mail is
    # made from and the editor re-opens; ``body`` is then its plain text.
    body_rich: str | None = Field(default=None, sa_column=Column(Text))
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class CampaignState(StrEnum):
    DRAFT = "draft"  # confirmation shown, not started
    SCHEDULED = "scheduled"  # starts at scheduled_at
    SENDING = "sending"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"
    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(index=True)
    mailbox_id: int = Field(foreign_key="mailboxes.id", index=True)
    audience_id: int = Field(foreign_key="audiences.id")
    template_id: int = Field(foreign_key="campaign_templates.id")
    name: str = ""
    created_by: str = ""
    state: str = Field(default=CampaignState.DRAFT, index=True)
    # The template as it was when the campaign started: later edits never change a send.
    subject: str = ""
    body: str = Field(default="", sa_column=Column(Text))
    body_rich: str | None = Field(default=None, sa_column=Column(Text))  # the template's
    channel_id: str | None = None
    progress_ts: str | None = None
    total: int = 0
    domain: str = ""
    domain_verdict: str = ""  # pass | warn | fail | unknown (SPF, DKIM, DMARC lines)
    domain_confirmed_by: str | None = None  # the admin who accepted a failing domain
    note: str = Field(default="", sa_column=Column(Text))  # why it waits (daily cap...)
    track_clicks: bool = False  # opt-in: links go through Mailroom's signed redirect
    parent_id: int | None = None  # a follow-up step's campaign: the campaign it follows
    created_at: datetime = Field(default_factory=utcnow)
    scheduled_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RecipientState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed; the server's answer is not recorded yet
    SENT = "sent"  # the server accepted it
    FAILED = "failed"  # the server refused it (recorded with its words)
    UNCERTAIN = "uncertain"  # a crash between sending and recording: never resent
    CANCELLED = "cancelled"


class CampaignRecipient(SQLModel, table=True):
    """The ledger: one row per (campaign, recipient); it alone decides who gets a mail."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (UniqueConstraint("campaign_id", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    address: str
    fields_json: str = Field(default="{}", sa_column=Column(Text))
    state: str = Field(default=RecipientState.QUEUED, index=True)
    message_id: str = ""  # chosen before sending, so an uncertain row still names its mail
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None
    bounce: str = ""  # "" | soft | hard (from a delivery status notification)
    clicked_at: datetime | None = None  # first click on a tracked link
    retry_at: datetime | None = None  # queued again after a temporary refusal: not before


class CampaignLimit(SQLModel, table=True):
    """A marketing mailbox's sending limits (defaults come from its provider)."""

    __tablename__ = "campaign_limits"
    mailbox_id: int = Field(foreign_key="mailboxes.id", primary_key=True)
    per_second: float = 0.0  # 0 = no limit
    per_minute: int = 0
    per_day: int = 0
    updated_by: str = ""
    updated_at: datetime = Field(default_factory=utcnow)


class CampaignThrottle(SQLModel, table=True):
    """The send slots one mailbox's campaigns were given, shared by every worker process.

    Each worker takes slots under this row's lock (``bot/campaigns/limits.py``), so a
    mailbox's per-second and per-minute limits hold for all of them together."""

    __tablename__ = "campaign_throttles"
    mailbox_id: int = Field(foreign_key="mailboxes.id", primary_key=True)
    # Per-second limit: the earliest time of the next slot (Unix seconds; GCRA's
    # "theoretical arrival time").
    next_at: float = 0.0
    # Slot times given in the last minute (a JSON list, ascending): the per-minute window,
    # and the slots not claimed yet that the daily cap counts.
    granted: str = Field(default="[]", sa_column=Column(Text))


class CampaignStep(SQLModel, table=True):
    """A follow-up: N days after its campaign finished, send a template to some recipients."""

    __tablename__ = "campaign_steps"
    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaigns.id", index=True)
    delay_days: float
    template_id: int = Field(foreign_key="campaign_templates.id")
    condition: str  # all | no_reply | no_click | clicked
    created_by: str = ""
    child_campaign_id: int | None = None  # set once, when the step is launched
    created_at: datetime = Field(default_factory=utcnow)


class Worker(SQLModel, table=True):
    """A live worker process (role worker or all): its heartbeat says it still holds leases."""

    __tablename__ = "workers"
    id: str = Field(primary_key=True)  # host:pid:random, new at every start
    role: str = "all"
    host: str = ""
    pid: int = 0
    started_at: datetime = Field(default_factory=utcnow)
    heartbeat_at: datetime = Field(default_factory=utcnow, index=True)


class _Row(Protocol):
    @property
    def id(self) -> int | None: ...


def saved_id(row: _Row) -> int:
    """The id of a row read from (or flushed to) the database, which always has one."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} is not saved yet")
    return row.id
