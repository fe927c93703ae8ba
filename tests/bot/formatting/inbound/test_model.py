"""bot.formatting.inbound.model: what a parsed mail offers its readers."""

from __future__ import annotations

from bot.formatting.inbound.model import InboundEmail
from tests.bot.formatting.inbound.messages import build, parse


def test_reply_addresses_prefer_reply_to() -> None:
    mail = parse(build(headers={"Reply-To": "Team <team@customer.example>, b@customer.example"}))
    assert mail.reply_to == ["team@customer.example", "b@customer.example"]
    assert mail.reply_addresses == ["team@customer.example", "b@customer.example"]
    assert parse(build()).reply_addresses == ["ana@customer.example"]


def test_reply_addresses_are_never_an_empty_address() -> None:
    mail = InboundEmail(
        message_id="<m@x>",
        synthetic_id=False,
        in_reply_to=None,
        references=[],
        subject="s",
        from_name="",
        from_address="",
    )
    assert mail.reply_addresses == []
    mail.reply_to = ["team@x.example"]
    listed = mail.reply_addresses
    listed.append("other@x.example")  # a copy: the mail itself is not changed
    assert mail.reply_to == ["team@x.example"]
