"""One-click unsubscribe (RFC 8058) and the workspace's suppression list.

Links carry ``<recipient row id>.<signature>``: an HMAC-SHA256 of the campaign, the row and
the address under a key derived from the app's secret key, so a link can be neither guessed
nor turned into someone else's. ``POST`` unsubscribes at once (what mail providers send for
``List-Unsubscribe-Post: List-Unsubscribe=One-Click``); ``GET`` only shows a page with a
button, because link scanners fetch every URL in a mail.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from fastapi.responses import HTMLResponse
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from bot.formatting.inbound import InboundEmail
from bot.settings import ensure_secret_key
from storage.models import Campaign, CampaignRecipient, Mailbox, MailboxKind, Suppression

if TYPE_CHECKING:
    from bot.context import AppContext

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


def _key(ctx: AppContext) -> bytes:
    # Derived once per process (a campaign signs one link per recipient).
    key = ctx.unsubscribe_key
    if key is None:
        secret = ensure_secret_key(ctx.settings)[0]
        key = ctx.unsubscribe_key = hashlib.sha256(
            b"mailroom-unsubscribe\0" + secret.encode()
        ).digest()
    return key


def _signature(ctx: AppContext, campaign_id: int, row_id: int, address: str) -> str:
    message = f"{campaign_id}:{row_id}:{address.lower()}".encode()
    return hmac.new(_key(ctx), message, hashlib.sha256).hexdigest()[:32]


def make_token(ctx: AppContext, campaign_id: int, row_id: int, address: str) -> str:
    return f"{row_id}.{_signature(ctx, campaign_id, row_id, address)}"


def unsubscribe_url(ctx: AppContext, token: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/unsubscribe/{token}"


def check_token(ctx: AppContext, token: str) -> tuple[CampaignRecipient, Campaign] | None:
    """The ledger row and campaign a link names, or None when it is not one of ours."""
    row_part, _, signature = token.partition(".")
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
    ctx: AppContext,
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


def unsubscribe(ctx: AppContext, token: str) -> tuple[str, str] | None:
    """Suppress the link's address; (address, sender) or None for a bad link."""
    found = check_token(ctx, token)
    if found is None:
        return None
    row, campaign = found
    if suppress(ctx, campaign.team_id, row.address, "unsubscribed", campaign.id):
        log.info("campaign %s: a recipient unsubscribed", campaign.id)
    return row.address, _sender(ctx, campaign)


def _sender(ctx: AppContext, campaign: Campaign) -> str:
    with ctx.db.session() as session:
        mailbox = session.get(Mailbox, campaign.mailbox_id)
    return (mailbox.sender_name or mailbox.address) if mailbox else "this sender"


def _language(row: CampaignRecipient) -> str:
    fields = json.loads(row.fields_json or "{}")
    return str(fields.get("language") or fields.get("lang") or "")


TEXTS = {
    "en": {
        "title": "Unsubscribe",
        "ask": "Stop receiving emails from {sender} at {address}?",
        "button": "Unsubscribe",
        "done": "{address} is unsubscribed. You will not receive these emails from {sender} again.",
        "bad": "This unsubscribe link is not valid. Use the link from the most recent email.",
    },
    "es": {
        "title": "Darse de baja",
        "ask": "¿Dejar de recibir correos de {sender} en {address}?",
        "button": "Darse de baja",
        "done": "{address} se ha dado de baja. No volverá a recibir estos correos de {sender}.",
        "bad": "Este enlace para darse de baja no es válido. Use el del correo más reciente.",
    },
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:Arial,Helvetica,sans-serif;max-width:32rem;margin:3rem auto;"
        "padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}"
        "</style></head><body>"
        f"{body}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=SECURITY_HEADERS)


def install_routes(api: FastAPI, ctx: AppContext) -> None:
    @api.get(ROUTE)
    async def confirm_page(token: str) -> Response:
        found = await run_in_threadpool(check_token, ctx, token)
        if found is None:
            return _page(TEXTS["en"]["title"], f"<p>{TEXTS['en']['bad']}</p>", 404)
        row, campaign = found
        texts = TEXTS["es" if _language(row).lower().startswith("es") else "en"]
        sender = await run_in_threadpool(_sender, ctx, campaign)
        ask = texts["ask"].format(sender=html.escape(sender), address=html.escape(row.address))
        form = (
            f"<h1>{texts['title']}</h1><p>{ask}</p>"
            f'<form method="post" action="/unsubscribe/{html.escape(token, quote=True)}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f'<button type="submit">{texts["button"]}</button></form>'
        )
        return _page(texts["title"], form)

    @api.post(ROUTE)
    async def one_click(token: str) -> Response:
        # RFC 8058: the body is "List-Unsubscribe=One-Click"; we act on the signed link
        # alone (the body is never read, so its size costs nothing), and a provider that
        # posts another body still unsubscribes the person.
        found = await run_in_threadpool(check_token, ctx, token)
        if found is None:
            return _page(TEXTS["en"]["title"], f"<p>{TEXTS['en']['bad']}</p>", 404)
        row, _ = found
        done = await run_in_threadpool(unsubscribe, ctx, token)
        assert done is not None
        address, sender = done
        texts = TEXTS["es" if _language(row).lower().startswith("es") else "en"]
        message = texts["done"].format(address=html.escape(address), sender=html.escape(sender))
        return _page(texts["title"], f"<p>{message}</p>")


MAILTO_SUBJECT_RE = re.compile(r"\bunsubscribe\s+(\d{1,18}\.[0-9a-f]{32})\b", re.IGNORECASE)


def mailto_hook(ctx: AppContext):
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


def list_suppressions(ctx: AppContext, team_id: str, limit: int = 50) -> list[Suppression]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(Suppression)
                .where(Suppression.team_id == team_id)
                .order_by(Suppression.created_at.desc())  # type: ignore[attr-defined]
                .limit(limit)
            )
        )


def remove_suppression(ctx: AppContext, team_id: str, address: str) -> bool:
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
