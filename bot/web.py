"""HTTP routes: Slack's single request URL, health, and (later) OAuth callbacks.

Bolt's own Starlette adapter calls the blocking ``App.dispatch`` inside the event loop; we
run it in a worker thread instead so that one slow listener never stalls other requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import App, BoltRequest
from starlette.concurrency import run_in_threadpool

from bot.metrics import CONTENT_TYPE
from bot.webguard import BodyLimitMiddleware, SecurityHeadersMiddleware
from locales import LanguageMiddleware

if TYPE_CHECKING:
    from bot.context import AppContext

# Bolt context key: the monotonic time the HTTP request reached us (absent over Socket Mode).
RECEIVED_AT = "mailroom_received_at"


def create_web_app(bolt: App, ctx: AppContext) -> FastAPI:
    api = FastAPI(title="Mailroom", docs_url=None, redoc_url=None, openapi_url=None)
    settings = ctx.settings

    def body_limit(path: str) -> int:
        if path.startswith("/slack/"):
            return settings.mailroom_max_slack_body_bytes
        return settings.mailroom_max_body_bytes

    # Added last = runs first: the size check happens before any route reads the body.
    api.add_middleware(LanguageMiddleware)
    api.add_middleware(SecurityHeadersMiddleware)
    api.add_middleware(BodyLimitMiddleware, limit_for=body_limit)

    async def slack_events(request: Request) -> Response:
        # When the request arrived: Slack's 3 seconds count from here, not from when a
        # (possibly busy) worker thread started its listener.
        received = time.monotonic()
        # Malformed requests get a plain 400 here instead of a traceback from Bolt's
        # int(timestamp) or a UTF-8 decode error (a 500).
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if timestamp and not timestamp.isdigit():
            return bad_request("X-Slack-Request-Timestamp must be a number of seconds.")
        try:
            body = (await request.body()).decode("utf-8")
        except UnicodeDecodeError:
            return bad_request("The request body is not valid UTF-8.")
        try:
            # Bolt parses the body (JSON, or a form's JSON payload) before it checks the
            # signature; a body that does not parse is the sender's mistake, not ours.
            bolt_request = BoltRequest(
                body=body,
                query=request.url.query,
                headers={k: [v] for k, v in request.headers.items()},
                context={RECEIVED_AT: received},
            )
        except (ValueError, TypeError, AttributeError, KeyError):
            # JSON that is not an object ("[]") fails further in, building Bolt's context.
            return bad_request("The request body is not a JSON object or form data.")
        # Bolt checks the signature (401 when bad or older than 5 minutes).
        bolt_response = await run_in_threadpool(bolt.dispatch, bolt_request)
        return Response(
            status_code=bolt_response.status,
            content=bolt_response.body,
            headers={k: v[0] for k, v in bolt_response.headers.items() if v},
        )

    # A worker-role process takes no requests from Slack: only health and metrics.
    if settings.mailroom_role != "worker":
        api.post("/slack/events")(slack_events)

    @api.get("/healthz")
    async def healthz() -> Response:
        database = await run_in_threadpool(ctx.db.ping)
        counts = await run_in_threadpool(ctx.mailboxes.counts_by_health) if database else {}
        web_only = settings.mailroom_role == "web"
        scheduler = ctx.scheduler.running or settings.mailroom_scheduler == "off" or web_only
        ok = database and scheduler
        body = {
            "ok": ok,
            "role": settings.mailroom_role,
            "database": database,
            "scheduler": ctx.scheduler.running,
            "mailboxes": counts,
        }
        if ctx.ownership.running:
            # Whether this worker holds its fair share of the mailboxes (and how many).
            body["ownership"] = ctx.ownership.status()
        # Features add sections (e.g. push: live / polling / reconnecting counts).
        for section in ctx.health if database else []:
            body.update(await run_in_threadpool(section))
        return JSONResponse(body, status_code=200 if ok else 503)

    @api.get("/metrics")
    async def metrics() -> Response:
        registry = ctx.metrics
        if registry is None:
            return Response(status_code=404)
        content = await run_in_threadpool(registry.render)
        return Response(content=content, media_type=CONTENT_TYPE)

    for install in ctx.routes:
        install(api)
    return api


def bad_request(detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=400)
