"""Build the whole application from settings: storage, Slack, services, listeners, routes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from fastapi import FastAPI
from slack_bolt import App

from bot import features, push
from bot.context import AppContext
from bot.jobs import Jobs, JobWorker
from bot.languages import Languages
from bot.lifecycle import MailboxLifecycle
from bot.mailboxes import Mailboxes
from bot.metrics import SYNC_STATES, Metrics, RateLimitCounter
from bot.notify import Notifier
from bot.ownership import Ownership
from bot.replies import ReplyService
from bot.roles import Roles
from bot.scheduler import Scheduler
from bot.settings import Settings, ensure_secret_key
from bot.slack_client import Slack, make_web_client
from bot.sync import SyncService
from bot.web import create_web_app
from locales import ContextExecutor, read_by, set_workspace_language
from storage.crypto import SecretBox
from storage.db import Database

log = logging.getLogger(__name__)


@dataclass
class Mailroom:
    ctx: AppContext
    bolt: App
    web: FastAPI

    def start_background(self) -> None:
        """Worker side (roles all and worker): claim this process's share of the mailboxes
        (bot.ownership), sync and watch those, recover unfinished work, start follow-ups.
        A web-role process starts none of it: it holds no mailbox."""
        ctx = self.ctx
        if ctx.settings.mailroom_scheduler == "off" or ctx.settings.mailroom_role == "web":
            return
        if ctx.settings.is_sqlite:
            # Embedded mode: this process alone owns the SQLite file, so a lease left by a
            # killed predecessor is void; without this a restart would wait the lease out.
            ctx.sync.clear_stale_leases()
        ctx.scheduler.start()
        engine = push.engine_of(ctx)
        if engine is not None:
            engine.mine = ctx.ownership.holds
        # Push first (it watches only what we hold, nothing yet); each claim then starts
        # the mailbox's watch and poll, each loss stops them.
        push.start(ctx)
        ctx.ownership.on_gain.append(lambda mailbox_id: start_mailbox(ctx, mailbox_id))
        ctx.ownership.on_loss.append(lambda mailbox_id: stop_mailbox(ctx, mailbox_id))
        published: dict[int, str] = {}  # sync states this worker last stored
        ctx.ownership.on_loss.append(lambda mailbox_id: _forget(published, mailbox_id))
        ctx.ownership.on_tick.append(
            lambda: push.publish_sync_states(ctx, ctx.ownership.owned(), published)
        )
        ctx.ownership.start()
        if ctx.jobs.coordinating:
            ctx.job_worker.start()  # picks up waiting replies now, then at wake-ups and heartbeats
        else:
            ctx.scheduler.once("recover", ctx.replies.recover)
        ctx.events.started.emit()

    def stop(self) -> None:
        self.ctx.job_worker.stop()
        self.ctx.scheduler.shutdown()
        # DONE + LOGOUT on every push connection, within 5 seconds in all; only then are
        # the leases handed over, so two processes never hold one mailbox's connection.
        push.stop(self.ctx)
        self.ctx.ownership.stop()


def start_mailbox(ctx: AppContext, mailbox_id: int) -> None:
    engine = push.engine_of(ctx)
    if engine is not None and engine.running:
        engine.watch(mailbox_id)
    # A claim made from inside a run (a new mailbox's first sync) finds its poll already
    # scheduled: rescheduling would start a second "first" sync right behind this one.
    if not (ctx.sync.claiming_in_run(mailbox_id) and ctx.scheduler.has(f"sync:{mailbox_id}")):
        ctx.scheduler.schedule_sync(mailbox_id, ctx.sync.run)


def stop_mailbox(ctx: AppContext, mailbox_id: int) -> None:
    ctx.scheduler.unschedule_sync(mailbox_id)
    engine = push.engine_of(ctx)
    if engine is not None:
        engine.unwatch(mailbox_id)


def build_context(settings: Settings) -> AppContext:
    db = Database(settings.resolved_database_url)
    db.migrate()
    box = SecretBox(ensure_secret_key(settings))
    client = make_web_client(settings.slack_bot_token, settings.slack_api_url)
    slack = Slack(client)
    mailboxes = Mailboxes(
        db,
        box,
        imap_timeout=settings.imap_timeout_seconds,
        smtp_timeout=settings.smtp_timeout_seconds,
        allowed_private_hosts=settings.mailroom_allowed_private_hosts,
        dns_nameservers=settings.mail_dns_nameservers,
    )
    ctx = AppContext(
        settings=settings,
        db=db,
        slack=slack,
        mailboxes=mailboxes,
        roles=Roles(db, slack, settings.mailroom_admins),
        notifier=Notifier(db, slack),
        scheduler=Scheduler(settings.sync_interval_seconds),
        languages=Languages(slack.client.users_info, db),
    )
    set_workspace_language(settings.mailroom_language)
    install_metrics(ctx)
    ctx.ownership = Ownership(ctx)
    ctx.jobs = Jobs(ctx, ctx.ownership)
    ctx.sync = SyncService(ctx, ctx.ownership, ctx.jobs)
    ctx.replies = ReplyService(ctx, ctx.jobs)
    ctx.job_worker = JobWorker(ctx, ctx.jobs, ctx.sync, ctx.replies)
    ctx.lifecycle = MailboxLifecycle(
        mailboxes,
        ctx.roles,
        ctx.scheduler,
        ctx.sync.run,
        ctx.activation_guards,
        ctx.events.mailbox_changed,
    )
    return ctx


def install_metrics(ctx: AppContext) -> Metrics:
    """GET /metrics: counters updated where things happen, gauges read at scrape time."""
    metrics = Metrics()
    ctx.metrics = metrics
    # First in line: every 429 is seen before a retry handler takes it.
    ctx.slack.client.retry_handlers.insert(0, RateLimitCounter(metrics.slack_rate_limited))
    metrics.read_at_scrape(partial(sync_states, ctx), partial(owned_count, ctx), ctx.db)
    return metrics


def owned_count(ctx: AppContext) -> int:
    return len(ctx.ownership.owned()) if ctx.ownership.running else 0


def sync_states(ctx: AppContext) -> dict[str, int]:
    """live / polling / reconnecting from the push engine; failing = owned mailboxes whose
    last syncs failed; mailboxes this process polls without push count as polling."""
    counts = dict.fromkeys(SYNC_STATES, 0)
    ownership = ctx.ownership
    if not ownership.running:
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


def create_mailroom(
    settings: Settings, register_listeners: Callable[[App, AppContext], None]
) -> Mailroom:
    """The whole app; ``register_listeners`` (``handlers.register_listeners``, passed in by
    the composition root, app.py) adds the Slack listeners, so bot/ never imports handlers/."""
    ctx = build_context(settings)
    bolt = App(
        token=settings.slack_bot_token,
        signing_secret=settings.slack_signing_secret,
        client=ctx.slack.client,
        # We do not call auth.test at start: the app must come up (and /healthz answer)
        # even while Slack is unreachable.
        token_verification_enabled=False,
        # Bolt's default self-filter needs auth.test; our events listener filters bot
        # messages itself.
        ignoring_self_events_enabled=False,
        # Listeners run in a copy of the request's context: the language chosen below.
        listener_executor=ContextExecutor(max_workers=10),
    )
    bolt.middleware(speak_the_readers_language(ctx))
    features.install(ctx)
    push.install(ctx)
    register_listeners(bolt, ctx)
    web = create_web_app(bolt, ctx)
    mailroom = Mailroom(ctx=ctx, bolt=bolt, web=web)
    # uvicorn re-raises SIGTERM once its own shutdown is done, so app.py's ``finally`` never
    # runs then: stop (scheduler, push connections' DONE + LOGOUT) as the web app shuts down.
    web.router.add_event_handler("shutdown", mailroom.stop)
    return mailroom


def _forget(published: dict[int, str], mailbox_id: int) -> None:
    published.pop(mailbox_id, None)


def speak_the_readers_language(ctx: AppContext) -> Callable[..., Any]:
    """Bolt middleware: whatever a listener says is in the language of the person who acted
    (their Slack locale; Slack is asked only if something is said); the workspace language
    when no one person did."""

    def middleware(context: dict[str, Any], next: Callable[[], Any]) -> Any:
        read_by(partial(ctx.languages.of, context.get("user_id")))
        return next()

    return middleware
