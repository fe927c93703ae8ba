"""The reply email: threading, structure, footers, names, attachments."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bot.formatting.inbound import parse_email
from bot.formatting.outbound import (
    OutgoingAttachment,
    compose_email,
    make_message_id,
    references_chain,
    reply_subject,
)


def compose(**overrides: object) -> EmailMessage:
    args: dict[str, object] = {
        "sender_name": "Ana Pérez",
        "sender_address": "ana@acme.example",
        "to": ["customer@client.example"],
        "subject": "Re: Pedido 42",
        "in_reply_to": "<parent@client.example>",
        "references": ["<root@client.example>", "<parent@client.example>"],
        "text": "Hola, ya está enviado.",
        "html": "<strong>Hola</strong>, ya está enviado.",
        "message_id": "<reply1@acme.example>",
        "date": datetime(2024, 1, 2, 10, 0, tzinfo=UTC),
    }
    args.update(overrides)
    return compose_email(**args)  # type: ignore[arg-type]


def reparse(msg: EmailMessage) -> EmailMessage:
    """What the recipient's mail client sees: the bytes on the wire, parsed again."""
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(msg: EmailMessage, kind: str) -> str:
    """One alternative's text, with the wire's CRLF line ends read as a client shows them."""
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


# --- subject ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Pedido 42", "Re: Pedido 42"),
        ("Re: Pedido 42", "Re: Pedido 42"),
        ("RE: Pedido 42", "RE: Pedido 42"),
        ("re:Pedido", "re:Pedido"),
        ("Aw: Bestellung", "Aw: Bestellung"),
        ("SV: Ordre", "SV: Ordre"),
        ("Re[2]: Pedido", "Re[2]: Pedido"),
        ("Fwd: Pedido", "Re: Fwd: Pedido"),
        ("Reunión mañana", "Re: Reunión mañana"),
        ("Regarding: x", "Re: Regarding: x"),
        ("  spaced\n subject ", "Re: spaced subject"),
        ("", "Re:"),
    ],
)
def test_reply_subject(subject: str, expected: str) -> None:
    assert reply_subject(subject) == expected


def test_reply_subject_does_not_stack() -> None:
    assert reply_subject(reply_subject(reply_subject("x"))) == "Re: x"


# --- references ------------------------------------------------------------------------------


def test_references_chain_appends_parent_and_dedupes() -> None:
    assert references_chain(["<a@x>", "<b@x>", "<a@x>"], "<c@x>") == ["<a@x>", "<b@x>", "<c@x>"]
    assert references_chain([], "<c@x>") == ["<c@x>"]
    assert references_chain(["<a@x>"], None) == ["<a@x>"]
    # The parent is always last, even when it already appeared earlier.
    assert references_chain(["<c@x>", "<a@x>"], "<c@x>") == ["<a@x>", "<c@x>"]


def test_references_chain_trims_keeping_root_and_newest() -> None:
    refs = [f"<{i}@x>" for i in range(30)]
    chain = references_chain(refs, "<parent@x>", limit=20)
    assert len(chain) == 20
    assert chain[0] == "<0@x>"
    assert chain[-1] == "<parent@x>"
    assert chain[1:] == [*refs[-18:], "<parent@x>"]
    assert references_chain(refs, "<parent@x>", limit=1) == ["<parent@x>"]
    assert references_chain(refs, "<parent@x>", limit=0) == []


# --- message ids -----------------------------------------------------------------------------


def test_make_message_id_uses_sender_domain() -> None:
    first, second = make_message_id("ana@Acme.Example"), make_message_id("ana@acme.example")
    assert first.startswith("<") and first.endswith("@acme.example>")
    assert first != second
    assert make_message_id("ana@bücher.example").endswith("@xn--bcher-kva.example>")
    assert make_message_id("broken").endswith("@mailroom.invalid>")


# --- structure -------------------------------------------------------------------------------


def test_alternative_structure_and_headers() -> None:
    msg = reparse(compose(cc=["boss@client.example"]))
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert msg["Message-ID"] == "<reply1@acme.example>"
    assert msg["In-Reply-To"] == "<parent@client.example>"
    assert msg["References"] == "<root@client.example> <parent@client.example>"
    assert msg["Subject"] == "Re: Pedido 42"
    assert msg["To"] == "customer@client.example"
    assert msg["Cc"] == "boss@client.example"
    assert msg["Date"] == "Tue, 02 Jan 2024 10:00:00 +0000"
    assert msg["MIME-Version"] == "1.0"
    # A person wrote this: no automatic markers, no vendor headers.
    assert msg["Auto-Submitted"] is None
    assert not [k for k in msg if k.lower().startswith("x-")]


def test_wire_format_uses_crlf() -> None:
    raw = compose().as_bytes()
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_text_and_html_bodies_with_footer_in_both() -> None:
    msg = reparse(
        compose(footer_text="Acme Inc.\nwww.acme.example", footer_html="<b>Acme Inc.</b>")
    )
    text = body(msg, "plain")
    html = body(msg, "html")
    assert text == "Hola, ya está enviado.\n\n-- \nAcme Inc.\nwww.acme.example\n"
    assert html.startswith("<!DOCTYPE html>")
    assert "<strong>Hola</strong>, ya está enviado." in html
    assert html.index("ya está enviado") < html.index("<b>Acme Inc.</b>")
    assert html.rstrip().endswith("</html>")


def test_footer_given_once_appears_in_both_parts() -> None:
    msg = reparse(compose(footer_text="Acme <Inc> & co"))
    html = body(msg, "html")
    assert "Acme &lt;Inc&gt; &amp; co" in html
    msg = reparse(compose(footer_html="<p>Acme <b>Inc</b></p>"))
    text = body(msg, "plain")
    assert "\n-- \n" in text and "Acme **Inc**" in text


def test_no_footer_no_separator() -> None:
    text = body(reparse(compose()), "plain")
    assert "-- " not in text


def test_non_ascii_sender_name_is_encoded() -> None:
    raw = compose(sender_name='Ana Pérez, "Ventas"').as_bytes()
    header = raw.split(b"\r\n\r\n")[0]
    assert header.isascii()  # RFC 2047 on the wire
    msg = reparse(compose(sender_name='Ana Pérez, "Ventas"'))
    [sender] = msg["From"].addresses
    assert sender.display_name == 'Ana Pérez, "Ventas"'
    assert sender.addr_spec == "ana@acme.example"


def test_long_message_ids_are_never_encoded() -> None:
    long_id = "<" + "x" * 120 + "@client.example>"
    refs = [f"<{i:02d}-{'r' * 50}@client.example>" for i in range(20)]
    raw = compose(in_reply_to=long_id, references=[*refs, long_id]).as_bytes()
    headers = raw.split(b"\r\n\r\n")[0].decode("ascii")
    threading = headers[headers.index("In-Reply-To:") : headers.index("MIME-Version:")]
    assert "References:" in threading
    assert "=?" not in threading
    mail = parse_email(raw)
    assert mail.in_reply_to == long_id
    assert mail.references == [*refs, long_id]


def test_header_injection_is_flattened() -> None:
    msg = reparse(compose(subject="Hi\r\nBcc: victim@x.example"))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Hi Bcc: victim@x.example"


def test_invalid_address_is_rejected() -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        compose(to=["not-an-address"])


def test_attachments_make_it_mixed() -> None:
    files = [
        OutgoingAttachment("informe ñ.pdf", "application/pdf", b"%PDF-1.4"),
        OutgoingAttachment("notes.txt", "text/plain", "ñandú".encode()),
        OutgoingAttachment("fwd.eml", "message/rfc822", b"Subject: x\r\n\r\nbody"),
        OutgoingAttachment("odd.bin", "not a type", b"\x00\x01"),
    ]
    msg = reparse(compose(attachments=files))
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    got = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in parts[1:]]
    assert got[0] == ("informe ñ.pdf", "application/pdf", b"%PDF-1.4")
    assert got[1][:2] == ("notes.txt", "text/plain")
    assert got[2] == ("fwd.eml", "application/octet-stream", b"Subject: x\r\n\r\nbody")
    assert got[3] == ("odd.bin", "application/octet-stream", b"\x00\x01")
    # The whole thing round-trips through our own parser.
    mail = parse_email(compose(attachments=files).as_bytes())
    assert [a.filename for a in mail.attachments] == [
        "informe ñ.pdf",
        "notes.txt",
        "fwd.eml",
        "odd.bin",
    ]
    assert mail.attachments[1].payload == "ñandú".encode()
    assert mail.text == "Hola, ya está enviado."


def test_to_keeps_the_customers_display_name_safely() -> None:
    msg = reparse(
        compose(
            to=["carla@client.example", "billing@client.example"],
            to_names={"CARLA@client.example": 'Cliente, "Carla"\r\nBcc: x@evil.test'},
        )
    )
    assert email.utils.getaddresses([msg["To"]]) == [
        ('Cliente, "Carla" Bcc: x@evil.test', "carla@client.example"),
        ("", "billing@client.example"),
    ]
    assert msg["Bcc"] is None


def test_foreign_reply_to_compares_organisations() -> None:
    from bot.formatting.outbound import foreign_reply_to

    sender = "carla@customer.test"
    assert foreign_reply_to(["billing@customer.test"], sender) == []
    assert foreign_reply_to(["help@support.customer.test"], sender) == []
    assert foreign_reply_to(["x@evilcustomer.test", "y@evil.test"], sender) == [
        "x@evilcustomer.test",
        "y@evil.test",
    ]
