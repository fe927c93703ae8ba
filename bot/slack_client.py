"""Slack Web API access: retries honouring Retry-After, and per-channel pacing.

Slack allows about one chat.postMessage per second per channel (short bursts tolerated);
pacing ourselves keeps a mailbox that receives a burst of mail from tripping 429 storms, and
the retry handlers absorb the 429s and 5xx answers that still happen.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

log = logging.getLogger(__name__)
# Pages of 200 read when looking for an earlier post after a crash (find_post).
FIND_POST_PAGES = 20


def make_web_client(token: str, base_url: str, *, max_retries: int = 6) -> WebClient:
    client = WebClient(token=token, base_url=base_url, timeout=30)
    client.retry_handlers.extend(
        [
            RateLimitErrorRetryHandler(max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=3),
        ]
    )
    # WebClient already carries a ConnectionErrorRetryHandler(max 1); allow a little more.
    client.retry_handlers[:] = [
        h for h in client.retry_handlers if not isinstance(h, ConnectionErrorRetryHandler)
    ] + [ConnectionErrorRetryHandler(max_retry_count=3)]
    return client


class ChannelPacer:
    """At most ``burst`` posts at once per channel, refilled at ``rate`` per second."""

    def __init__(
        self, rate: float = 1.0, burst: int = 4, clock: Callable[[], float] = time.monotonic
    ):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock_for(self, channel: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(channel, threading.Lock())

    def wait(self, channel: str) -> float:
        """Block until ``channel`` may take another post; return the seconds waited."""
        with self._lock_for(channel):
            now = self._clock()
            tokens, last = self._buckets.get(channel, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            waited = 0.0
            if tokens < 1.0:
                waited = (1.0 - tokens) / self.rate
                time.sleep(waited)
                tokens = 1.0
                now = self._clock()
            self._buckets[channel] = (tokens - 1.0, now)
            return waited


class Slack:
    """The few Web API calls Mailroom makes, with pacing on channel posts."""

    def __init__(self, client: WebClient, pacer: ChannelPacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or ChannelPacer()

    def post(
        self,
        channel: str,
        text: str,
        *,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        self.pacer.wait(channel)
        kwargs: dict[str, Any] = {
            "channel": channel,
            "text": text,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        if metadata:
            kwargs["metadata"] = metadata
        return self.client.chat_postMessage(**kwargs)["ts"]

    def find_post(
        self,
        channel: str,
        oldest: float,
        event_type: str,
        payload: dict[str, Any],
        *,
        thread_ts: str | None = None,
    ) -> str | None:
        """Our own post in ``channel`` (or in its thread ``thread_ts``) since ``oldest``
        whose metadata is ``event_type`` with ``payload``'s items: after a crash between
        Slack accepting a post and us recording it, the post is found instead of doubled.
        None when there is none, or when Slack cannot be asked now (logged)."""
        cursor: str | None = None
        # Bounded: a channel's posts since ``oldest`` (minutes before ours) fit in a few
        # pages; a runaway channel must not turn recovery into an endless crawl.
        for _page in range(FIND_POST_PAGES):
            try:
                if thread_ts:
                    answer = self.client.conversations_replies(
                        channel=channel,
                        ts=thread_ts,
                        oldest=f"{oldest:.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
                else:
                    answer = self.client.conversations_history(
                        channel=channel,
                        oldest=f"{oldest:.6f}",
                        include_all_metadata=True,
                        limit=200,
                        cursor=cursor,
                    )
            except SlackApiError as exc:
                log.warning(
                    "could not check Slack for an earlier post: %s", exc.response.get("error")
                )
                return None
            messages: list[dict[str, Any]] = answer.get("messages", [])
            for message in messages:
                meta = message.get("metadata") or {}
                found = meta.get("event_payload") or {}
                if meta.get("event_type") == event_type and all(
                    found.get(key) == value for key, value in payload.items()
                ):
                    return str(message["ts"])
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not answer.get("has_more") or not cursor:
                return None
        log.warning(
            "stopped looking for an earlier post in %s after %d pages", channel, FIND_POST_PAGES
        )
        return None

    def ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> None:
        try:
            self.client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts, blocks=blocks
            )
        except SlackApiError as exc:
            # Ephemerals fail where the bot is not a member: fall back to a DM so the person
            # still gets the explanation.
            log.info(
                "ephemeral to %s in %s failed (%s); sending a DM",
                user,
                channel,
                exc.response.get("error"),
            )
            self.dm(user, text, blocks=blocks)

    def dm(self, user: str, text: str, *, blocks: list[dict[str, Any]] | None = None) -> str:
        return self.post(user, text, blocks=blocks)

    def react(self, channel: str, ts: str, name: str) -> None:
        try:
            self.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_reacted":
                raise
