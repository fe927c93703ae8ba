"""Who reads in which language: a person (their Slack locale), a channel (an admin's choice
for it, else the workspace language), a mailbox's own email (its setting, else the
workspace language)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from locales import LANGUAGES, _, language_of, workspace_language
from providers.errors import UserError
from storage.db import Database
from storage.models import ChannelLanguage, Mailbox, utcnow

log = logging.getLogger(__name__)


# A channel's choice is read again after this long (another process may have changed it).
CHANNEL_TTL_SECONDS = 30.0


class Languages:
    """Each Slack user's language (``users.info`` with ``include_locale``) and each channel's
    (``channel_languages``), cached."""

    def __init__(
        self, users_info: Callable[..., Any], db: Database, ttl_seconds: float = 3600.0
    ) -> None:
        self._users_info = users_info
        self._db = db
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._channels: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def of_channel(self, channel_id: str | None) -> str:
        """What a channel reads: an admin's choice for it, else the workspace language."""
        if not channel_id:
            return workspace_language()
        now = time.monotonic()
        with self._lock:
            cached = self._channels.get(channel_id)
        if cached is None or now - cached[0] >= CHANNEL_TTL_SECONDS:
            cached = (now, self.channel_choice(channel_id))
            with self._lock:
                self._channels[channel_id] = cached
        return cached[1] or workspace_language()

    def channel_choice(self, channel_id: str) -> str | None:
        """The language an admin chose for the channel; None when it follows the workspace."""
        with self._db.session() as session:
            row = session.get(ChannelLanguage, channel_id)
        return language_of(row.language) if row else None

    def for_recipient(self, recipient: str) -> str:
        """A DM's reader is one person (U…/W…); anything else is a channel."""
        if recipient[:1] in ("U", "W"):
            return self.of(recipient)
        return self.of_channel(recipient)

    def set_channel(self, team_id: str, channel_id: str, language: str | None, by: str) -> None:
        """An admin's choice for a channel; None goes back to the workspace language."""
        if language is not None and language not in LANGUAGES:
            raise UserError(_unknown_language(language))
        with self._db.session() as session:
            row = session.get(ChannelLanguage, channel_id)
            if language is None:
                if row is not None:
                    session.delete(row)
            else:
                row = row or ChannelLanguage(channel_id=channel_id, team_id=team_id, language="")
                row.language, row.updated_by, row.updated_at = language, by, utcnow()
                session.add(row)
        with self._lock:
            self._channels.pop(channel_id, None)

    def of_mailbox(self, mailbox: Mailbox) -> str:
        """The language of email Mailroom itself writes for a mailbox."""
        return language_of(mailbox.language) or workspace_language()

    def of(self, user_id: str | None) -> str:
        """The person's language; the workspace language when Slack does not say."""
        if not user_id:
            return workspace_language()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1] or workspace_language()
        language = self._ask(user_id)
        with self._lock:
            self._cache[user_id] = (now, language)
        return language or workspace_language()

    def forget(self, user_id: str) -> None:
        """Their profile changed (``user_change``): ask Slack again next time."""
        with self._lock:
            self._cache.pop(user_id, None)

    def _ask(self, user_id: str) -> str | None:
        try:
            answer = self._users_info(user=user_id, include_locale=True)
            user = answer.get("user") or {}
        except (SlackApiError, OSError) as exc:  # Slack down or refusing: fall back
            log.info("users.info (locale) for %s failed: %s", user_id, type(exc).__name__)
            return None
        return language_of(user.get("locale"))


def _unknown_language(language: str) -> str:
    return _("Mailroom does not speak {language}; choose one of {choices}.").format(
        language=language, choices=", ".join(LANGUAGES)
    )
