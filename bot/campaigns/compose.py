"""One campaign message per recipient, written out as the bytes to send."""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.campaigns import ledger, templates
from bot.campaigns.unsubscribe import make_token, unsubscribe_url
from storage.models import Campaign, Mailbox

if TYPE_CHECKING:
    from bot.core import Core


@dataclass
class Sender:
    """What every message of one campaign shares, computed once."""

    address: str
    from_header: str
    list_id: str
    # The mailbox's language (its own email's), for the unsubscribe page of recipients whose
    # audience row says none; "" leaves it to the browser, then the workspace language.
    language: str = ""


def sender_of(mailbox: Mailbox, campaign: Campaign) -> Sender:
    domain = mailbox.address.rpartition("@")[2].lower()
    name = " ".join((mailbox.sender_name or "").split())
    return Sender(
        address=mailbox.address,
        from_header=formataddr((name, mailbox.address), charset="utf-8"),
        list_id=f"<audience-{campaign.audience_id}.{domain}>",
        language=mailbox.language or "",
    )


def compiled_for(
    campaign: Campaign, footer: tuple[str, str], ctx: Core | None = None
) -> templates.Compiled:
    suffix = None
    if campaign.track_clicks and ctx is not None:
        from bot.campaigns.tracking import link_suffix

        def suffix(url: str) -> str:
            return link_suffix(ctx, campaign.id, url)  # type: ignore[arg-type]

    return templates.compile_template(
        campaign.subject,
        campaign.body,
        footer_text=footer[0],
        footer_html=footer[1],
        link_suffix=suffix,
        rich=templates.rich_of(campaign.body_rich),
    )


def compose(
    ctx: Core,
    campaign: Campaign,
    sender: Sender,
    row: Any,
    compiled: templates.Compiled,
) -> bytes:
    """The message for one recipient, as the bytes to send (CRLF, 7-bit clean).

    Written out directly rather than through ``email.message``: the stdlib's header folding
    is most of the cost of a bulk send, and it RFC 2047-encodes a long List-Unsubscribe,
    which mail providers then cannot read. Every value here is ours or validated: the
    address passed email-validator, the subject is one line, ids and URLs are built here.
    """
    token = make_token(ctx, campaign.id, row.id, row.address)  # type: ignore[arg-type]
    link = unsubscribe_url(ctx, token)
    values = ledger.fields_of(row)
    language = values.get("language") or values.get("lang") or sender.language
    click = ""
    if campaign.track_clicks:
        from bot.campaigns.tracking import click_base

        click = click_base(ctx, campaign.id, row.id, row.address)  # type: ignore[arg-type]
    rendered = templates.render(
        compiled,
        values,
        # The link in the text says the recipient's language (``?lang=``, outside the signed
        # token) for a browser that does not; List-Unsubscribe keeps the bare link.
        unsubscribe_url=unsubscribe_url(ctx, token, language),
        language=language,
        click_base=click,
    )
    mailto = f"mailto:{sender.address}?subject={quote('unsubscribe ' + token)}"
    boundary = f"=_mr_{secrets.token_hex(12)}"
    headers = [
        f"From: {sender.from_header}",
        f"To: {row.address}",
        f"Subject: {_header_text(rendered.subject)}",
        f"Date: {format_datetime(datetime.now(UTC))}",
        f"Message-ID: {row.message_id}",
        f"List-Unsubscribe: <{link}>,\r\n <{mailto}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f"List-Id: {sender.list_id}",
        "Precedence: bulk",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    parts = [
        _part("text/plain", rendered.text, boundary),
        _part("text/html", rendered.html, boundary),
    ]
    text = "\r\n".join(headers) + "\r\n\r\n" + "".join(parts) + f"--{boundary}--\r\n"
    return text.encode("utf-8")


def _header_text(value: str) -> str:
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _part(content_type: str, body: str, boundary: str) -> str:
    encoded = binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii")
    encoded = encoded.replace("\r\n", "\n").replace("\n", "\r\n")
    return (
        f"--{boundary}\r\nContent-Type: {content_type}; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: quoted-printable\r\n\r\n{encoded}\r\n"
    )


def campaign_footer(ctx: Core, mailbox: Mailbox, author_id: str) -> tuple[str, str]:
    from bot.preferences.footers import FooterForm, effective_footer, render_footer, tag_values

    row = effective_footer(ctx, mailbox)
    if row is None:
        return "", ""
    rendered = render_footer(FooterForm.from_row(row), tag_values(ctx, mailbox, author_id))
    return rendered.text, rendered.html
