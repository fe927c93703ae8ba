"""The browser side: /oauth/<provider>/start, /oauth/<provider>/callback, admin consent.

Each route does its blocking work (database, provider HTTP calls) in a worker thread and
answers with a small self-contained HTML page; every word on it is escaped.
"""

from __future__ import annotations

import html
import logging
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

import locales
from bot.signin import config
from locales import _
from providers.errors import UNEXPECTED, MailroomError

if TYPE_CHECKING:
    from bot.context import AppContext
    from bot.signin.service import SignIn

log = logging.getLogger(__name__)

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer"><title>{head}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem;
color:#1d1c1d}}h1{{font-size:1.4rem}}.ok{{color:#007a5a}}.bad{{color:#c01343}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>
<p><a href="slack://open">{back}</a></p></body></html>
"""


def page(title: str, message: str, *, ok: bool, status: int | None = None) -> HTMLResponse:
    """A page in the current language (the middleware's choice): its words, and its lang."""
    body = _PAGE.format(
        lang=html.escape(locales.current_language()),
        head=html.escape(_("Mailroom: {title}").format(title=title)),
        title=html.escape(title),
        message=html.escape(message),
        back=html.escape(_("Go back to Slack")),
        css="ok" if ok else "bad",
    )
    # No caching, and the state in the URL never leaks to another site through Referer.
    return HTMLResponse(
        body, status_code=status or (200 if ok else 400), headers={"Cache-Control": "no-store"}
    )


def install_routes(api: FastAPI, ctx: AppContext) -> None:
    signin: SignIn = ctx.need_signin()

    @api.get("/oauth/microsoft/adminconsent")
    async def admin_consent(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            landing = await run_in_threadpool(signin.consent.landed, params)
        except Exception:
            log.exception("admin consent landing failed")
            return page(_("Something went wrong"), _(UNEXPECTED), ok=False, status=500)
        return page(landing.title, landing.message, ok=landing.ok)

    @api.get("/oauth/{provider}/start")
    async def start(provider: str, state: str = "") -> Response:
        if provider not in config.PROVIDERS:
            return page(_("Not found"), _("There is no such sign-in here."), ok=False, status=404)
        try:
            url = await run_in_threadpool(signin.start_url, provider, state)
        except MailroomError as exc:
            return page(_("Cannot start the sign-in"), exc.message, ok=False)
        except Exception:
            log.exception("sign-in start failed")
            return page(_("Something went wrong"), _(UNEXPECTED), ok=False, status=500)
        return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})

    # GET for Google (query); POST for Microsoft (response_mode=form_post, the code in the body).
    @api.api_route("/oauth/{provider}/callback", methods=["GET", "POST"])
    async def callback(provider: str, request: Request) -> Response:
        if provider not in config.PROVIDERS:
            return page(_("Not found"), _("There is no such sign-in here."), ok=False, status=404)
        params = dict(request.query_params)
        if request.method == "POST":
            body = (await request.body()).decode("utf-8", errors="replace")
            params |= {k: v[0] for k, v in parse_qs(body[:20000]).items()}
        try:
            outcome = await run_in_threadpool(signin.finish, provider, params)
        except MailroomError as exc:  # the state: unknown, used, expired
            return page(_("Not connected"), exc.message, ok=False)
        except Exception:
            log.exception("sign-in callback failed")
            return page(_("Something went wrong"), _(UNEXPECTED), ok=False, status=500)
        return page(outcome.title, outcome.message, ok=outcome.ok)
