"""Each Slack user's language, from their Slack locale."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from locales import language_of, workspace_language

log = logging.getLogger(__name__)


class PeopleLanguages:
    """Each Slack user's language (``users.info`` with ``include_locale``), cached."""

    def __init__(self, users_info: Callable[..., Any], ttl_seconds: float = 3600.0) -> None:
        self._users_info = users_info
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

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
