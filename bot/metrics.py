"""GET /metrics in Prometheus text format (prometheus-client), one registry per app.

Counters and histograms are updated where things happen (a post, a reply, a 429); the
gauges (mailboxes by sync state, owned mailboxes, job queue depth) are read at scrape time,
so they are never stale. Every series is per process: Prometheus adds the instance label.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import func
from sqlmodel import col, select

from storage.models import Message, MessageState, ReplyInbox

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from the date a mail carries to its post in Slack.
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 900, 3600)
SYNC_STATES = ("live", "polling", "reconnecting", "connecting", "failing")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.post_latency = Histogram(
            "mailroom_post_latency_seconds",
            "From the date the mail carries (its Date header) to its post in Slack.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sync_duration = Histogram(
            "mailroom_sync_duration_seconds",
            "How long one sync run of one mailbox took.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.replies = Counter(
            "mailroom_replies",
            "Replies from Slack handed to the mail server, by outcome (sent, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.slack_rate_limited = Counter(
            "mailroom_slack_rate_limited",
            "Answers of 429 (rate limited) from the Slack Web API.",
            registry=self.registry,
        )

    def read_at_scrape(
        self, sync_states: Callable[[], dict[str, int]], owned: Callable[[], int], db: Database
    ) -> None:
        """Add the gauges computed when Prometheus scrapes (given by the composition)."""
        self.registry.register(_StateCollector(sync_states, owned, db))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def observe_post(metrics: Metrics | None, row: Message) -> None:
    """A mail was posted: seconds since the date it carries."""
    arrived = row.sent_at
    if metrics is None or arrived is None:
        return
    if arrived.tzinfo is None:
        arrived = arrived.replace(tzinfo=UTC)
    metrics.post_latency.observe(max(0.0, (datetime.now(UTC) - arrived).total_seconds()))


def observe_sync(metrics: Metrics | None, seconds: float) -> None:
    if metrics is not None:
        metrics.sync_duration.observe(seconds)


def count_reply(metrics: Metrics | None, outcome: str) -> None:
    if metrics is not None:
        metrics.replies.labels(outcome=outcome).inc()


class _StateCollector(Collector):
    """Gauges computed when Prometheus scrapes."""

    def __init__(
        self, sync_states: Callable[[], dict[str, int]], owned: Callable[[], int], db: Database
    ) -> None:
        self.sync_states = sync_states
        self.owned = owned
        self.db = db

    def describe(self) -> list[Any]:
        return []  # computed at collect time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily(
            "mailroom_mailboxes",
            "Mailboxes this process syncs, by sync state.",
            labels=["state"],
        )
        for state, count in self.sync_states().items():
            states.add_metric([state], count)
        yield states
        yield GaugeMetricFamily(
            "mailroom_owned_mailboxes", "Mailbox leases this process holds.", value=self.owned()
        )
        try:
            inbox, sends = _queue_depth(self.db)
        except Exception:
            log.warning("could not count the job queue for /metrics")
            return
        queue = GaugeMetricFamily(
            "mailroom_job_queue_depth",
            "Work waiting for a worker: thread messages not yet handled, replies not yet sent.",
            labels=["queue"],
        )
        queue.add_metric(["thread_messages"], inbox)
        queue.add_metric(["replies"], sends)
        yield queue


def _queue_depth(db: Database) -> tuple[int, int]:
    with db.session() as session:
        inbox = session.exec(
            select(func.count()).select_from(ReplyInbox).where(col(ReplyInbox.done).is_(False))
        ).one()
        sends = session.exec(
            select(func.count())
            .select_from(Message)
            .where(col(Message.state).in_([MessageState.PENDING_SEND, MessageState.SENDING]))
        ).one()
    return int(inbox), int(sends)


class RateLimitCounter(RetryHandler):
    """Counts Slack's 429 answers; never asks for a retry itself (the real handlers after
    it do, honouring Retry-After)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(max_retry_count=2**31)
        self.counter = counter

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            self.counter.inc()
        return False
