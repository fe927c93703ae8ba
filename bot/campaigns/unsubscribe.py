"""One-click unsubscribe (RFC 8058) and the workspace's suppression list.

Links carry ``<recipient row id>.<signature>``: an HMAC-SHA256 of the campaign, the row and
the address under a key derived from the app's secret key, so a link can be neither guessed
nor turned into someone else's. ``POST`` unsubscribes at once (what mail providers send for
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``); ``GET`` only shows a page with a
button, because link scanners fetch every URL in a mail.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from bot.formatting.inbound import InboundEmail
from bot.settings import key_file_keys
from locales import _, current_language, language_of
from storage.models import Campaign, CampaignRecipient, Mailbox, MailboxKind, Suppression

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

ROUTE = "/unsubscribe/{token}"
SECURITY_HEADERS = {
    # Nothing on these pages loads anything; the form posts back to this same server.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _key(ctx: Core) -> bytes:
    settings = ctx.settings
    return _derive_key(tuple(settings.secret_keys), str(settings.secret_key_path))


# Derived once per key source, not per link: a campaign signs one link per recipient, and
# without MAILROOM_SECRET_KEY the key is read from a file. Keyed by plain values, so no
# settings object is kept alive, and bounded.
@functools.lru_cache(maxsize=16)
def _derive_key(secret_keys: tuple[str, ...], key_file: str) -> bytes:
    secret = list(secret_keys) or key_file_keys(Path(key_file))
    return hashlib.sha256(b"mailroom-unsubscribe\0" + secret[0].encode()).digest()


def _signature(ctx: Core, campaign_id: int, row_id: int, address: str) -> str:
    message = f"{campaign_id}:{row_id}:{address.lower()}".encode()
    return hmac.new(_key(ctx), message, hashlib.sha256).hexdigest()[:32]


def make_token(ctx: Core, campaign_id: int, row_id: int, address: str) -> str:
    return f"{row_id}.{_signature(ctx, campaign_id, row_id, address)}"


def unsubscribe_url(ctx: Core, token: str, language: str = "") -> str:
    """The link for ``token``. ``language`` (the recipient's, from the audience's CSV) adds
    ``?lang=``: outside the signed token, read by the page only when the browser does not
    say (LanguageMiddleware). The List-Unsubscribe header carries the link without it."""
    url = f"{ctx.settings.public_url.rstrip('/')}/unsubscribe/{token}"
    code = language_of(language)
    return f"{url}?lang={code}" if code else url


def check_token(ctx: Core, token: str) -> tuple[CampaignRecipient, Campaign] | None:
    """The ledger row and campaign a link names, or None when it is not one of ours."""
    row_part, _sep, signature = token.partition(".")
    if not row_part.isdigit() or len(row_part) > 18 or len(signature) != 32:
        return None
    with ctx.db.session() as session:
        row = session.get(CampaignRecipient, int(row_part))
        campaign = session.get(Campaign, row.campaign_id) if row is not None else None
    if row is None or campaign is None:
        return None
    expected = _signature(ctx, row.campaign_id, row.id, row.address)  # type: ignore[arg-type]
    return (row, campaign) if hmac.compare_digest(expected, signature) else None


def suppress(
    ctx: Core,
    team_id: str,
    address: str,
    reason: str,
    campaign_id: int | None,
    detail: str = "",
) -> bool:
    """Add ``address`` to the workspace's suppression list; False when it was there already."""
    return ctx.db.insert_once(
        Suppression(
            team_id=team_id,
            address=address.lower(),
            reason=reason,
            campaign_id=campaign_id,
            detail=detail,
        )
    )


def unsubscribe(ctx: Core, token: str) -> tuple[str, str] | None:
    """Suppress the link's address; (address, sender) or None for a bad link."""
    found = check_token(ctx, token)
    if found is None:
        return None
    row, campaign = found
    if suppress(ctx, campaign.team_id, row.address, "unsubscribed", campaign.id):
        log.info("campaign %s: a recipient unsubscribed", campaign.id)
    return row.address, _sender(ctx, campaign)


def _sender(ctx: Core, campaign: Campaign) -> str:
    with ctx.db.session() as session:
        mailbox = session.get(Mailbox, campaign.mailbox_id)
    # Empty when the mailbox is gone: the page says "this sender" in its own language.
    return (mailbox.sender_name or mailbox.address) if mailbox else ""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A page in the language LanguageMiddleware chose (``Accept-Language``, else ``lang``)."""
    document = (
        f'<!DOCTYPE html><html lang="{html.escape(current_language(), quote=True)}">'
        '<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:Arial,Helvetica,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}"
        "</style></head><body>"
        f"{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=SECURITY_HEADERS)


def install_routes(api: FastAPI, ctx: Core) -> None:
    @api.get(ROUTE)
    async def confirm_page(token: str) -> Response:
        found = await run_in_threadpool(check_token, ctx, token)
        if found is None:
            return _bad_link()
        row, campaign = found
        sender = await run_in_threadpool(_sender, ctx, campaign)
        ask = _("Stop receiving emails from {sender} at {address}?").format(
            sender=html.escape(sender or _("this sender")), address=html.escape(row.address)
        )
        form = (
            f"<h1>{html.escape(_('Unsubscribe'))}</h1><p>{ask}</p>"
            # The answer page keeps this page's language (``lang`` is outside the token).
            f'<form method="post" action="/unsubscribe/{html.escape(token, quote=True)}'
            f'?lang={html.escape(current_language(), quote=True)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit">{html.escape(_("Unsubscribe"))}</button></form>'
        )
        return _page(_("Unsubscribe"), form)

    @api.post(ROUTE)
    async def one_click(token: str) -> Response:
        # RFC 8058: the body is "List-Unsubscribe=One-Click"; we act on the signed link
        # alone (the body is never read, so its size costs nothing), and a provider that
        # posts another body still unsubscribes the person.
        found = await run_in_threadpool(check_token, ctx, token)
        if found is None:
            return _bad_link()
        done = await run_in_threadpool(unsubscribe, ctx, token)
        assert done is not None
        address, sender = done
        message = _(
            "{address} is unsubscribed. You will not receive these emails from {sender} again."
        ).format(address=html.escape(address), sender=html.escape(sender or _("this sender")))
        return _page(_("Unsubscribe"), f"<p>{message}</p>")


def _bad_link() -> HTMLResponse:
    text = _("This unsubscribe link is not valid. Use the link from the most recent email.")
    return _page(_("Unsubscribe"), f"<p>{html.escape(text)}</p>", 404)


MAILTO_SUBJECT_RE = re.compile(r"\bunsubscribe\s+(\d{1,18}\.[0-9a-f]{32})\b", re.IGNORECASE)


def mailto_hook(ctx: Core):
    """``ctx.sync.ingest_hooks`` entry: the ``mailto:`` of List-Unsubscribe sends a mail with
    the subject ``unsubscribe <token>`` to the marketing mailbox; the signed token decides."""

    def hook(mailbox: Mailbox, row: object, parsed: InboundEmail) -> None:
        if mailbox.kind != MailboxKind.MARKETING or parsed.auto_kind:
            return
        match = MAILTO_SUBJECT_RE.search(parsed.subject or "")
        if match is None:
            return
        found = check_token(ctx, match.group(1).lower())
        if found is None or found[1].mailbox_id != mailbox.id:
            return
        unsubscribe(ctx, match.group(1).lower())

    return hook


def list_suppressions(ctx: Core, team_id: str, limit: int = 50) -> list[Suppression]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(Suppression)
                .where(Suppression.team_id == team_id)
                .order_by(Suppression.created_at.desc())  # type: ignore[attr-defined]
                .limit(limit)
            )
        )


def remove_suppression(ctx: Core, team_id: str, address: str) -> bool:
    with ctx.db.session() as session:
        row = session.exec(
            select(Suppression).where(
                Suppression.team_id == team_id, Suppression.address == address.lower()
            )
        ).first()
        if row is None:
            return False
        session.delete(row)
        return True
