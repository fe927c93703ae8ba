"""Opt-in click tracking: links in a campaign go through Mailroom's signed redirect.

A tracked link is ``PUBLIC_URL/c/<row>.<row signature>/<base64url(target)>.<link signature>``.
The row signature names the recipient (so a follow-up step can ask "who clicked"); the link
signature binds the target URL to the campaign, so the route redirects only to URLs Mailroom
itself put in that campaign's mail: it cannot be used as an open redirect. Opens are not
tracked (pixel counts are unreliable).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
from typing import TYPE_CHECKING

from fastapi import FastAPI, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool

from bot.campaigns.unsubscribe import SECURITY_HEADERS, _key, _page
from locales import _
from storage.models import CampaignRecipient, utcnow

if TYPE_CHECKING:
    from bot.core import Core


def _mac(ctx: Core, message: str) -> str:
    return hmac.new(_key(ctx), message.encode(), hashlib.sha256).hexdigest()[:32]


def row_token(ctx: Core, campaign_id: int, row_id: int, address: str) -> str:
    return f"{row_id}.{_mac(ctx, f'click:{campaign_id}:{row_id}:{address.lower()}')}"


def link_suffix(ctx: Core, campaign_id: int, url: str) -> str:
    encoded = base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    return f"{encoded}.{_mac(ctx, f'link:{campaign_id}:{url}')}"


def click_base(ctx: Core, campaign_id: int, row_id: int, address: str) -> str:
    token = row_token(ctx, campaign_id, row_id, address)
    return f"{ctx.settings.public_url.rstrip('/')}/c/{token}"


def resolve(ctx: Core, token: str, link: str) -> str | None:
    """The target of a tracked link (recording the recipient's first click), or None."""
    row_part, _sep, row_sig = token.partition(".")
    encoded, _sep, link_sig = link.partition(".")
    if not row_part.isdigit() or len(row_part) > 18 or len(row_sig) != 32 or len(link_sig) != 32:
        return None
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    with ctx.db.session() as session:
        row = session.get(CampaignRecipient, int(row_part))
    if row is None:
        return None
    expected_row = _mac(ctx, f"click:{row.campaign_id}:{row.id}:{row.address.lower()}")
    expected_link = _mac(ctx, f"link:{row.campaign_id}:{url}")
    if not (
        hmac.compare_digest(expected_row, row_sig) and hmac.compare_digest(expected_link, link_sig)
    ):
        return None
    if not url.startswith(("https://", "http://")):
        return None
    table = CampaignRecipient.__table__  # type: ignore[attr-defined]
    with ctx.db.engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == row.id, table.c.clicked_at.is_(None))
            .values(clicked_at=utcnow())
        )
    return url


def install_routes(api: FastAPI, ctx: Core) -> None:
    @api.get("/c/{token}/{link}")
    async def click(token: str, link: str) -> Response:
        target = await run_in_threadpool(resolve, ctx, token, link)
        if target is None:
            text = _("This link is not valid. Use the link from the most recent email.")
            return _page(_("Link"), f"<p>{html.escape(text)}</p>", 404)
        headers = {k: v for k, v in SECURITY_HEADERS.items() if k != "Content-Security-Policy"}
        return RedirectResponse(target, status_code=302, headers=headers)
