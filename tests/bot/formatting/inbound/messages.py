"""Mail built in memory for the bot.formatting.inbound tests."""

from __future__ import annotations

from email.message import EmailMessage

from bot.formatting.inbound import InboundEmail, parse_email


def build(
    *,
    text: str | None = "Hello.",
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Pérez <ana@customer.example>"
    msg["To"] = "Support <support@acme.example>"
    msg["Subject"] = "Pedido 42"
    msg["Date"] = "Tue, 02 Jan 2024 10:00:00 +0100"
    msg["Message-ID"] = "<m1@customer.example>"
    for name, value in (headers or {}).items():
        msg[name] = value
    if text is not None:
        msg.set_content(text)
    if html is not None:
        if text is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def parse(msg: EmailMessage) -> InboundEmail:
    return parse_email(msg.as_bytes())
