"""GET /metrics in Prometheus text format (prometheus-client), one registry per app.

Counters and histograms are updated where things happen (a post, a reply, a 429); the
gauges (mailboxes by sync state, owned mailboxes, job queue depth) are read at scrape time,
so they are never stale. Every series is per process: Prometheus adds the instance label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
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
    from bot.context import AppContext

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds from the date a mail carries to its post in Slack.
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 120, 300, 900, 3600)
SYNC_STATES = ("live", "polling", "reconnecting", "connecting", "failing")


class Metrics:
    def __init__(self, ctx: AppContext) -> None:
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
        self.registry.register(_StateCollector(ctx))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def of(ctx: AppContext) -> Metrics | None:
    return ctx.metrics


def observe_post(ctx: AppContext, row: Message) -> None:
    """A mail was posted: seconds since the date it carries."""
    metrics = of(ctx)
    arrived = row.sent_at
    if metrics is None or arrived is None:
        return
    if arrived.tzinfo is None:
        arrived = arrived.replace(tzinfo=UTC)
    metrics.post_latency.observe(max(0.0, (datetime.now(UTC) - arrived).total_seconds()))


def observe_sync(ctx: AppContext, seconds: float) -> None:
    metrics = of(ctx)
    if metrics is not None:
        metrics.sync_duration.observe(seconds)


def count_reply(ctx: AppContext, outcome: str) -> None:
    metrics = of(ctx)
    if metrics is not None:
        metrics.replies.labels(outcome=outcome).inc()


class _StateCollector(Collector):
    """Gauges computed when Prometheus scrapes."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def describe(self) -> list[Any]:
        return []  # computed at collect time; nothing to check at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx = self.ctx
        states = GaugeMetricFamily(
            "mailroom_mailboxes",
            "Mailboxes this process syncs, by sync state.",
            labels=["state"],
        )
        for state, count in _sync_states(ctx).items():
            states.add_metric([state], count)
        yield states
        ownership = getattr(ctx, "ownership", None)
        owned = len(ownership.owned()) if ownership is not None and ownership.running else 0
        yield GaugeMetricFamily(
            "mailroom_owned_mailboxes", "Mailbox leases this process holds.", value=owned
        )
        try:
            inbox, sends = _queue_depth(ctx)
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


def _sync_states(ctx: AppContext) -> dict[str, int]:
    """live / polling / reconnecting from the push engine; failing = owned mailboxes whose
    last syncs failed; mailboxes this process polls without push count as polling."""
    counts = dict.fromkeys(SYNC_STATES, 0)
    ownership = getattr(ctx, "ownership", None)
    if ownership is None or not ownership.running:
        return counts
    owned = set(ownership.owned())
    engine = ctx.push
    watched: set[int] = set()
    if engine is not None:
        for mailbox_id in owned:
            found = engine.state_of(mailbox_id)
            if found is None:
                continue
            watched.add(mailbox_id)
            state = found[0].value
            if state in counts:
                counts[state] += 1
    counts["polling"] += len(owned - watched)
    failing = [m for m in ctx.mailboxes.all() if m.id in owned and m.consecutive_failures]
    counts["failing"] = len(failing)
    return counts


def _queue_depth(ctx: AppContext) -> tuple[int, int]:
    with ctx.db.session() as session:
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


def install(ctx: AppContext) -> Metrics:
    metrics = Metrics(ctx)
    ctx.metrics = metrics
    # First in line: every 429 is seen before a retry handler takes it.
    ctx.slack.client.retry_handlers.insert(0, RateLimitCounter(metrics.slack_rate_limited))
    return metrics
