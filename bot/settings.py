"""Settings from the environment and a `.env` file, validated once at start.

Every problem is reported on its own line with how to fix it (``SettingsError.problems``),
so an operator sees all of them at once instead of fixing one per restart.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from cryptography.fernet import Fernet
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from providers.dns import parse_nameserver
from providers.errors import UserError
from storage.files import make_private_dir

SLACK_API_DEFAULT = "https://slack.com/api/"

# Where each required Slack setting comes from, so the start-up message can say so.
_HOW_TO_GET = {
    "SLACK_BOT_TOKEN": "the Bot User OAuth Token (xoxb-...) on your Slack app's "
    "'OAuth & Permissions' page after installing it to the workspace",
    "SLACK_SIGNING_SECRET": "the Signing Secret on your Slack app's 'Basic Information' page",
}


def _split_list(value: object) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list | tuple | set):
        return [str(v).strip() for v in value]
    raise ValueError(f"expected a comma-separated list, got {type(value).__name__}")


CsvList = Annotated[list[str], NoDecode]


class SettingsError(Exception):
    """Raised when the configuration cannot start Mailroom; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- Slack -------------------------------------------------------------------------
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""  # optional: xapp-... turns on Socket Mode as well
    slack_api_url: str = SLACK_API_DEFAULT

    # --- Storage -----------------------------------------------------------------------
    mailroom_data_dir: Path = Path("data")
    database_url: str = ""  # default: sqlite file in the data dir
    mailroom_secret_key: str = ""  # Fernet key(s), comma separated: newest first (rotation)
    # Where the key is read from (or generated into) when MAILROOM_SECRET_KEY is unset:
    # default <data dir>/secret.key; better on another disk or a secrets mount.
    mailroom_secret_key_file: Path | None = None

    # --- People and places -------------------------------------------------------------
    mailroom_admins: CsvList = Field(default_factory=list)
    mailroom_admin_channel: str = ""

    # --- Sync --------------------------------------------------------------------------
    sync_interval_seconds: int = 60
    sync_failure_threshold: int = 3  # consecutive failures before anyone is notified
    attachment_max_bytes: int = 10 * 1024 * 1024  # larger attachments are listed, not uploaded
    attachment_max_count: int = 10  # files uploaded per mail; the rest are listed by name
    body_max_chars: int = 300_000  # text kept per mail (post, "Show full email", database)
    mail_max_failures: int = 3  # failed tries before one mail is set aside (with Retry)
    imap_timeout_seconds: float = 20.0
    smtp_timeout_seconds: float = 20.0
    # Push (IMAP IDLE): a persistent connection per mailbox whose server supports it.
    sync_push: bool = True
    sync_push_reidle_seconds: int = Field(
        default=540, ge=10
    )  # re-issue IDLE before NAT boxes forget the flow
    sync_push_backstop_seconds: int = Field(
        default=300, ge=10
    )  # STATUS check of INBOX in case a push was missed
    sync_push_workers: int = Field(
        default=8, ge=2, le=256
    )  # fetch/parse/post threads shared by every live mailbox
    sync_push_backoff_cap_seconds: float = Field(
        default=300.0, ge=1
    )  # longest wait between reconnect attempts
    # A thread reply waits this long with an Undo button before it leaves (0: at once).
    reply_undo_seconds: int = Field(default=10, ge=0, le=600)
    # How often unanswered customer mail is checked against each mailbox's reminder.
    inbox_reminder_check_seconds: int = Field(default=300, ge=1)

    # --- Serving -----------------------------------------------------------------------
    host: str = "0.0.0.0"
    port: int = 3000
    public_url: str = ""  # https://mailroom.example.com: OAuth redirects land here
    log_level: str = "INFO"
    # The workspace language: channel posts, and people whose Slack locale Mailroom does not
    # speak (bot/i18n.py LANGUAGES: en, es).
    mailroom_language: Literal["en", "es"] = "en"
    mailroom_scheduler: Literal["on", "off"] = "on"
    # Scale-out (several processes on one PostgreSQL): all = web + worker in one process
    # (the default); web = Slack and HTTP only, holds no mailbox; worker = sync and send only.
    mailroom_role: Literal["all", "web", "worker"] = "all"
    # Mailbox leases: a worker that stops renewing (killed, frozen) loses its mailboxes
    # after this long; renewed (with the worker's heartbeat) every MAILROOM_HEARTBEAT_SECONDS.
    # A dead worker's mailboxes must be live elsewhere within 30 s of its death: the lease
    # that runs out plus the reconnects (seconds for hundreds of mailboxes) must fit in that.
    mailroom_lease_seconds: float = Field(default=20.0, ge=2)
    mailroom_heartbeat_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL: a killed worker is noticed by its session's advisory lock going away (about
    # a second) instead of its leases expiring. Off behind a transaction-mode pooler.
    mailroom_fast_failover: bool = True
    # Request bodies above these sizes are refused with 413 before they are read: Slack's
    # requests (events, commands, interactivity) and everything else (OAuth callbacks).
    mailroom_max_slack_body_bytes: int = 1024 * 1024
    mailroom_max_body_bytes: int = 64 * 1024

    # --- Security ----------------------------------------------------------------------
    mailroom_allowed_private_hosts: CsvList = Field(default_factory=list)
    # DNS servers (host[:port]) that resolve manually entered IMAP/SMTP hosts; empty: the
    # system resolver. Either way a host is resolved once and connected to by address.
    mail_dns_nameservers: CsvList = Field(default_factory=list)

    # --- AWS SES (issue: /mail-verify) -------------------------------------------------
    mailroom_ses_enabled: bool = False
    aws_region: str = "us-east-1"
    aws_endpoint_url: str = ""
    dns_nameservers: CsvList = Field(default_factory=list)
    dns_timeout_seconds: float = 3.0

    # --- Sign-in providers --------------------------------------------------------------
    google_client_id: str = ""
    google_client_secret: str = ""
    google_auth_uri: str = "https://accounts.google.com/o/oauth2/auth"
    google_token_uri: str = "https://oauth2.googleapis.com/token"
    google_userinfo_uri: str = "https://openidconnect.googleapis.com/v1/userinfo"
    google_imap_host: str = "imap.gmail.com"
    google_imap_port: int = 993
    google_imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    google_smtp_host: str = "smtp.gmail.com"
    google_smtp_port: int = 465
    google_smtp_security: Literal["ssl", "starttls", "none"] = "ssl"
    microsoft_client_id: str = ""
    microsoft_client_secret: str = ""
    microsoft_tenant: str = "organizations"
    microsoft_authority_host: str = "https://login.microsoftonline.com"
    # Where MSAL's HTTP calls really go (tests point it at a local fake; sovereign clouds
    # use microsoft_authority_host instead).
    microsoft_http_override: str = ""
    microsoft_imap_host: str = "outlook.office365.com"
    microsoft_imap_port: int = 993
    microsoft_imap_security: Literal["ssl", "starttls", "none"] = "ssl"
    microsoft_smtp_host: str = "smtp.office365.com"
    microsoft_smtp_port: int = 587
    microsoft_smtp_security: Literal["ssl", "starttls", "none"] = "starttls"
    # How often tenants still waiting for Microsoft admin approval are checked again.
    microsoft_consent_recheck_seconds: int = 900
    oauth_timeout_seconds: float = 15.0  # each call to a Google/Microsoft identity endpoint

    @field_validator(
        "mailroom_admins",
        "mailroom_allowed_private_hosts",
        "dns_nameservers",
        "mail_dns_nameservers",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: object) -> list[str]:
        return _split_list(value)

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        # slack_sdk appends method names to base_url verbatim.
        return value if value.endswith("/") else value + "/"

    # --- Derived -----------------------------------------------------------------------
    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.mailroom_data_dir / 'mailroom.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def google_configured(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret and self.public_url)

    @property
    def microsoft_configured(self) -> bool:
        return bool(self.microsoft_client_id and self.microsoft_client_secret and self.public_url)

    @property
    def secret_key_path(self) -> Path:
        return self.mailroom_secret_key_file or self.mailroom_data_dir / "secret.key"

    @cached_property
    def secret_keys(self) -> list[str]:
        return _split_list(self.mailroom_secret_key)

    def validation_problems(self) -> list[str]:
        problems: list[str] = []
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
            if not getattr(self, name.lower()):
                problems.append(f"{name} is not set: use {_HOW_TO_GET[name]}.")
        if self.slack_bot_token and not self.slack_bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN must be a bot token starting with xoxb-.")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            problems.append(
                "SLACK_APP_TOKEN must be an app-level token starting with xapp- "
                "(Basic Information > App-Level Tokens, scope connections:write), or unset."
            )
        for key in self.secret_keys:
            try:
                Fernet(key.encode())
            except (ValueError, TypeError):
                problems.append(
                    "MAILROOM_SECRET_KEY is not a valid Fernet key: generate one with "
                    "`python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`."
                )
                break
        if not self.secret_keys and not self.is_sqlite and not self.mailroom_secret_key_file:
            problems.append(
                "MAILROOM_SECRET_KEY is required with an external DATABASE_URL (or a shared "
                "MAILROOM_SECRET_KEY_FILE): every app process must share the same key (see "
                "README, 'Settings')."
            )
        if self.mailroom_role != "all" and self.is_sqlite:
            problems.append(
                f"MAILROOM_ROLE={self.mailroom_role} needs PostgreSQL: SQLite is for one process "
                "running everything. Set DATABASE_URL to a PostgreSQL database, or unset "
                "MAILROOM_ROLE."
            )
        if self.mailroom_heartbeat_seconds * 2 > self.mailroom_lease_seconds:
            problems.append(
                "MAILROOM_HEARTBEAT_SECONDS must be at most half of MAILROOM_LEASE_SECONDS, so a "
                "lease is renewed at least twice before it expires."
            )
        if self.sync_interval_seconds < 1:
            problems.append("SYNC_INTERVAL_SECONDS must be at least 1.")
        for name in ("mailroom_max_slack_body_bytes", "mailroom_max_body_bytes"):
            if getattr(self, name) < 1024:
                problems.append(f"{name.upper()} must be at least 1024 (bytes).")
        if not 0 < self.port < 65536:
            problems.append("PORT must be between 1 and 65535.")
        for entry in self.mailroom_allowed_private_hosts:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    problems.append(
                        f"MAILROOM_ALLOWED_PRIVATE_HOSTS entry {entry!r} is not a network."
                    )
        for entry in self.mail_dns_nameservers:
            try:
                parse_nameserver(entry)
            except UserError as exc:
                problems.append(f"MAIL_DNS_NAMESERVERS: {exc.message}")
        if self.public_url and not self.public_url.startswith(("https://", "http://")):
            problems.append("PUBLIC_URL must start with https:// (or http:// for local testing).")
        return problems


def ensure_secret_key(settings: Settings) -> list[str]:
    """Return the encryption keys, creating one for the embedded default when none is set.

    Without MAILROOM_SECRET_KEY the key is read from MAILROOM_SECRET_KEY_FILE (default
    ``<data dir>/secret.key``), generated there on first start with 0600 permissions in a
    0700 directory. Keeping it elsewhere than the database means a copy of the database
    alone does not reveal any mailbox password.
    """
    if settings.secret_keys:
        return settings.secret_keys
    return key_file_keys(settings.secret_key_path)


def key_file_keys(key_file: Path) -> list[str]:
    """The keys in ``key_file``, which is created with a new key when missing."""
    if key_file.exists():
        return _split_list(key_file.read_text().replace("\n", ","))
    make_private_dir(key_file.parent)
    key = Fernet.generate_key().decode()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return [key]


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise SettingsError listing every problem."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(
            [
                f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                for err in exc.errors()
            ]
        ) from None
    problems = settings.validation_problems()
    if problems:
        raise SettingsError(problems)
    return settings
