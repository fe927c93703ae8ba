"""Awkward real-world emails, built in code as raw bytes.

Each entry is (descriptive name, raw bytes). They reproduce the damage mail actually
arrives with: lying charsets, 8-bit headers, broken MIME, hostile text aimed at Slack.
Bytes are written by hand (not through the email package) so the damage is exactly what
a real server would hand us.
"""

from __future__ import annotations

import base64
import functools

FROM = b"From: Ana Customer <ana@customer.example>"
TO = b"To: Support <support@acme.example>"
DATE = b"Date: Tue, 02 Jan 2024 10:00:00 +0100"
MIME = b"MIME-Version: 1.0"
PLAIN_UTF8 = b'Content-Type: text/plain; charset="utf-8"'


def message(*headers: bytes, body: bytes = b"", eol: bytes = b"\n") -> bytes:
    """Raw message from header lines and a body, joined with ``eol``."""
    return eol.join(headers) + eol + eol + body


def basic(name: str, *extra: bytes, body: bytes = b"Hello.\n") -> bytes:
    return message(
        FROM,
        TO,
        DATE,
        b"Subject: " + name.encode(),
        f"Message-ID: <{name.replace(' ', '-')}@customer.example>".encode(),
        *extra,
        body=body,
    )


def _nested_multipart(depth: int) -> bytes:
    inner = PLAIN_UTF8 + b"\n\nDeep inside.\n"
    for level in range(depth, 0, -1):
        boundary = f"b{level}".encode()
        inner = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\n\n'
            b"--" + boundary + b"\n" + inner + b"\n--" + boundary + b"--\n"
        )
    return (
        message(FROM, TO, DATE, b"Subject: nested", b"Message-ID: <nested@customer.example>", MIME)[
            :-1
        ]
        + inner
    )


def _multipart(
    boundary: str, parts: list[bytes], ctype: str = "multipart/mixed", extra: str = ""
) -> tuple[bytes, bytes]:
    """(Content-Type header, body) of a multipart with the given raw parts."""
    b = boundary.encode()
    body = b"This is a multi-part message.\n"
    for part in parts:
        body += b"--" + b + b"\n" + part + b"\n"
    body += b"--" + b + b"--\n"
    header = f'Content-Type: {ctype}; boundary="{boundary}"{extra}'.encode()
    return header, body


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data)


@functools.cache
def awkward_messages() -> list[tuple[str, bytes]]:
    """At least 30 awkward raw messages, each with a descriptive name. Cached: the huge
    attachment takes a moment to build."""
    out: list[tuple[str, bytes]] = []

    def add(name: str, raw: bytes) -> None:
        out.append((name, raw))

    add(
        "unknown_charset_x_unknown",
        basic(
            "unknown charset",
            MIME,
            b"Content-Type: text/plain; charset=x-unknown",
            body="Café con leche, señor.\n".encode(),
        ),
    )
    add(
        "declared_us_ascii_but_utf8",
        basic(
            "ascii lie utf8",
            MIME,
            b"Content-Type: text/plain; charset=us-ascii",
            b"Content-Transfer-Encoding: 8bit",
            body="Mañana pagaré la factura.\n".encode(),
        ),
    )
    add(
        "declared_us_ascii_but_latin1",
        basic(
            "ascii lie latin1",
            MIME,
            b"Content-Type: text/plain; charset=us-ascii",
            b"Content-Transfer-Encoding: 8bit",
            body="Mañana pagaré la factura.\n".encode("latin-1"),
        ),
    )
    add(
        "declared_utf8_but_latin1",
        basic(
            "utf8 lie latin1",
            MIME,
            PLAIN_UTF8,
            b"Content-Transfer-Encoding: 8bit",
            body="Atención: reunión el lunes.\n".encode("latin-1"),
        ),
    )
    add(
        "missing_from",
        message(
            TO,
            DATE,
            b"Subject: no sender",
            b"Message-ID: <nofrom@customer.example>",
            body=b"Who am I?\n",
        ),
    )
    add(
        "missing_date",
        message(
            FROM, TO, b"Subject: no date", b"Message-ID: <nodate@customer.example>", body=b"When?\n"
        ),
    )
    add(
        "missing_message_id",
        message(FROM, TO, DATE, b"Subject: no id", body=b"I have no Message-ID.\n"),
    )
    add(
        "empty_message_id",
        message(FROM, TO, DATE, b"Subject: empty id", b"Message-ID:   ", body=b"Blank id.\n"),
    )
    add(
        "missing_subject",
        message(
            FROM, TO, DATE, b"Message-ID: <nosubject@customer.example>", body=b"No subject here.\n"
        ),
    )
    add(
        "eight_bit_utf8_headers",
        message(
            "From: José Müller <jose@customer.example>".encode(),
            TO,
            DATE,
            "Subject: Factura de diciembre — ¿pagada?".encode(),
            b"Message-ID: <8bit@customer.example>",
            body=b"See subject.\n",
        ),
    )
    add(
        "eight_bit_latin1_headers",
        message(
            "From: Françoise Dupré <fd@customer.example>".encode("latin-1"),
            TO,
            DATE,
            "Subject: Problème de réception".encode("latin-1"),
            b"Message-ID: <8bitlatin@customer.example>",
            body=b"See subject.\n",
        ),
    )
    add(
        "broken_rfc2047_encoded_words",
        message(
            b"From: =?utf-8?B?QW5hIFDDqXJleg?= <ana@customer.example>",
            TO,
            DATE,
            b"Subject: =?utf-8?Q?Caf=C3=A9_bad=ZZescape?= =?x-unknown?q?w=E9ird?= "
            b"=?utf-8?B?!!notbase64!!?= =?utf-8?Q?unterminated",
            b"Message-ID: <broken2047@customer.example>",
            body=b"Broken headers.\n",
        ),
    )
    add(
        "split_multibyte_encoded_words",
        message(
            FROM,
            TO,
            DATE,
            # "Niño" split in the middle of the two-byte ñ across two encoded-words.
            b"Subject: =?utf-8?B?TmnD?= =?utf-8?B?sW8=?=",
            b"Message-ID: <split2047@customer.example>",
            body=b"Split.\n",
        ),
    )
    add("very_long_single_line_200kb", basic("long line", body=b"x" * 200_000 + b"\n"))
    add(
        "very_long_subject",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: " + b" ".join([b"word"] * 3000),
            b"Message-ID: <longsubject@customer.example>",
            body=b"Long subject.\n",
        ),
    )
    add("deeply_nested_multipart_depth_30", _nested_multipart(30))
    add("deeply_nested_multipart_depth_300", _nested_multipart(300))
    add("empty_body", basic("empty body", body=b""))
    add(
        "headers_only_no_blank_line",
        b"From: ana@customer.example\nSubject: only headers\nMessage-ID: <onlyheaders@x>",
    )
    add("zero_bytes", b"")
    add("binary_garbage", bytes(range(256)) * 40)

    ctype, body = _multipart(
        "att",
        [
            b'Content-Type: application/pdf; name="factura.pdf"\n'
            b'Content-Disposition: attachment; filename="factura.pdf"\n'
            b"Content-Transfer-Encoding: base64\n\n" + _b64(b"%PDF-1.4 fake invoice"),
        ],
    )
    add("only_an_attachment", basic("only attachment", MIME, ctype, body=body))

    add(
        "html_only_scripts_styles_remote_images",
        basic(
            "html only",
            MIME,
            b'Content-Type: text/html; charset="utf-8"',
            body=(
                b"<html><head><title>Newsletter</title><style>p {color: red}</style>"
                b"<script>alert('head')</script></head><body>"
                b"<p>Hola <b>equipo</b>,</p><script type='text/javascript'>document.write('x')</script>"
                b'<img src="https://tracker.example/pixel.gif?id=1" width="1" height="1">'
                b'<p>Vea <a href="https://acme.example/factura">la factura</a>.</p>'
                b"<style>.x{display:none}</style></body></html>"
            ),
        ),
    )
    add(
        "html_with_slack_control_sequences",
        basic(
            "html slack",
            MIME,
            b'Content-Type: text/html; charset="utf-8"',
            body=b"<p>Ping &lt;!channel&gt; and &lt;@U123&gt; and &lt;#C1|general&gt;</p>"
            b"<p>Raw <!channel> <@U999> too.</p>",
        ),
    )
    add(
        "subject_with_here_and_mentions",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: <!here> urgent <@U123> <!channel>",
            b"Message-ID: <here@customer.example>",
            body=b"Body <!everyone>.\n",
        ),
    )
    add(
        "disguised_link_in_body",
        basic(
            "disguised",
            MIME,
            PLAIN_UTF8,
            body=b"Please log in: <https://evil.example/login|https://bank.example>\n",
        ),
    )
    add(
        "from_name_with_slack_markup",
        message(
            b'From: "<!channel> <@U1>" <attacker@evil.example>',
            TO,
            DATE,
            b"Subject: hi",
            b"Message-ID: <namemarkup@evil.example>",
            body=b"hi\n",
        ),
    )

    ctype, body = _multipart(
        "tnef",
        [
            PLAIN_UTF8 + b"\n\nSee the attached file.\n",
            b'Content-Type: application/ms-tnef; name="winmail.dat"\n'
            b'Content-Disposition: attachment; filename="winmail.dat"\n'
            b"Content-Transfer-Encoding: base64\n\n" + _b64(b"\x78\x9f\x3e\x22" + b"\x00" * 64),
        ],
    )
    add("tnef_winmail_dat", basic("tnef", MIME, ctype, body=body))

    ctype, body = _multipart(
        "huge",
        [
            PLAIN_UTF8 + b"\n\nBig file attached.\n",
            b'Content-Type: application/octet-stream; name="big.bin"\n'
            b'Content-Disposition: attachment; filename="big.bin"\n'
            b"Content-Transfer-Encoding: base64\n\n" + _b64(b"\xab" * (12 * 1024 * 1024)),
        ],
    )
    add("huge_attachment_12mb", basic("huge", MIME, ctype, body=body))

    forwarded = message(
        b"From: Bob <bob@other.example>",
        b"To: ana@customer.example",
        DATE,
        b"Subject: Original question",
        b"Message-ID: <orig@other.example>",
        PLAIN_UTF8,
        body=b"This is the forwarded original.\n",
    )
    ctype, body = _multipart(
        "fwd",
        [
            PLAIN_UTF8 + b"\n\nForwarding this, see below.\n",
            b"Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + forwarded,
        ],
    )
    add("forwarded_message_rfc822", basic("fwd", MIME, ctype, body=body))

    ctype, body = _multipart(
        "report",
        [
            PLAIN_UTF8 + b"\n\nYour message could not be delivered to nobody@acme.example.\n",
            b"Content-Type: message/delivery-status\n\n"
            b"Reporting-MTA: dns; mx.customer.example\n\n"
            b"Final-Recipient: rfc822; nobody@acme.example\nAction: failed\nStatus: 5.1.1\n",
            b"Content-Type: message/rfc822\n\n"
            + message(
                b"From: support@acme.example",
                b"To: nobody@acme.example",
                b"Subject: Re: order",
                b"Message-ID: <sent1@acme.example>",
                body=b"Hi\n",
            ),
        ],
        ctype="multipart/report",
        extra="; report-type=delivery-status",
    )
    add(
        "bounce_multipart_report_mailer_daemon",
        message(
            b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>",
            TO,
            DATE,
            b"Subject: Undelivered Mail Returned to Sender",
            b"Message-ID: <bounce1@mx.customer.example>",
            b"Auto-Submitted: auto-replied",
            MIME,
            ctype,
            body=body,
        ),
    )
    add(
        "out_of_office_auto_submitted",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: Automatic reply: your order",
            b"Message-ID: <ooo@customer.example>",
            b"Auto-Submitted: auto-replied",
            b"X-Auto-Response-Suppress: All",
            body=b"I am out of the office until Monday.\n",
        ),
    )
    add(
        "x_autoreply_header_no_subject_hint",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: Thanks for writing",
            b"Message-ID: <xauto@customer.example>",
            b"X-Autoreply: yes",
            body=b"We got your mail.\n",
        ),
    )
    add(
        "newsletter_precedence_bulk",
        message(
            b"From: News <news@shop.example>",
            TO,
            DATE,
            b"Subject: Our offers",
            b"Message-ID: <news@shop.example>",
            b"Precedence: bulk",
            body=b"Offers!\n",
        ),
    )
    add(
        "base64_with_garbage",
        basic(
            "b64 garbage",
            MIME,
            PLAIN_UTF8,
            b"Content-Transfer-Encoding: base64",
            body=base64.b64encode("Hola señor".encode()) + b"\n!!@@##$$ not base64 ***\n===\n",
        ),
    )
    add(
        "quoted_printable_bad_escapes",
        basic(
            "qp bad",
            MIME,
            PLAIN_UTF8,
            b"Content-Transfer-Encoding: quoted-printable",
            body=b"Caf=C3=A9 =ZZ broken =4 escape =\nsoft break and 100=25 done=\n",
        ),
    )
    add(
        "crlf_and_lf_mixed",
        b"From: ana@customer.example\r\nTo: support@acme.example\nSubject: mixed\r\n"
        b"Message-ID: <mixed@customer.example>\n\r\nLine one\r\nLine two\nLine three\r\n",
    )
    add(
        "nul_bytes",
        basic("nul", body=b"Hello\x00 world\x00\nSecond\x00line\n"),
    )
    add(
        "multipart_without_boundary",
        basic(
            "no boundary",
            MIME,
            b"Content-Type: multipart/mixed",
            body=b"--xyz\nContent-Type: text/plain\n\nBody text survives.\n--xyz--\n",
        ),
    )
    add(
        "malformed_content_type",
        basic(
            "bad ctype",
            MIME,
            b"Content-Type: text; charset",
            body=b"Content type has no subtype.\n",
        ),
    )
    add(
        "invalid_date",
        message(
            FROM,
            TO,
            b"Date: the day after tomorrow, maybe",
            b"Subject: bad date",
            b"Message-ID: <baddate@customer.example>",
            body=b"Date is junk.\n",
        ),
    )
    add(
        "date_out_of_range",
        message(
            FROM,
            TO,
            b"Date: Tue, 02 Jan 99999 10:00:00 +9900",
            b"Subject: far date",
            b"Message-ID: <fardate@customer.example>",
            body=b"Far future.\n",
        ),
    )
    add(
        "duplicated_headers",
        message(
            FROM,
            b"From: Second <second@customer.example>",
            TO,
            DATE,
            b"Subject: first subject",
            b"Subject: second subject",
            b"Message-ID: <dup1@customer.example>",
            b"Message-ID: <dup2@customer.example>",
            body=b"Duplicates.\n",
        ),
    )
    add(
        "reply_with_quoted_history",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: Re: pedido 42",
            b"Message-ID: <reply1@customer.example>",
            b"In-Reply-To: <sent42@acme.example>",
            b"References: <root@acme.example> <sent42@acme.example>",
            PLAIN_UTF8,
            body=(
                b"Yes, Thursday works for us.\n\n-- \nAna Customer\nCustomer Inc.\n\n"
                b"On Tue, Jan 2, 2024 at 9:00 AM Support <support@acme.example> wrote:\n"
                b"> Can we deliver on Thursday?\n> \n> Thanks\n"
            ),
        ),
    )
    add(
        "outlook_reply_original_message",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: RE: invoice",
            b"Message-ID: <outlook1@customer.example>",
            b"Thread-Index: AdQ1234==",
            PLAIN_UTF8,
            body=(
                b"Received, thank you.\r\n\r\n-----Original Message-----\r\n"
                b"From: Support <support@acme.example>\r\nSent: Monday, January 1, 2024 9:00 AM\r\n"
                b"To: Ana\r\nSubject: invoice\r\n\r\nPlease find the invoice attached.\r\n"
            ),
        ),
    )
    add(
        "spanish_reply_with_accents",
        message(
            b"From: =?utf-8?q?Ana_P=C3=A9rez?= <ana@cliente.example>",
            TO,
            DATE,
            b"Subject: =?utf-8?q?Re=3A_Cotizaci=C3=B3n_a=C3=B1o_2024?=",
            b"Message-ID: <es1@cliente.example>",
            MIME,
            PLAIN_UTF8,
            b"Content-Transfer-Encoding: quoted-printable",
            body=(
                b"Perfecto, la aprobamos ma=C3=B1ana.\n\nEnviado desde mi iPhone\n\n"
                b"El 2 ene 2024, a las 9:00, Soporte <support@acme.example> escribi=C3=B3:\n"
                b"> Adjuntamos la cotizaci=C3=B3n.\n"
            ),
        ),
    )
    add(
        "right_to_left_and_emoji",
        message(
            b"From: =?utf-8?b?"
            + base64.b64encode("שרה כהן".encode())
            + b"?= <sara@customer.example>",
            TO,
            DATE,
            b"Subject: =?utf-8?b?" + base64.b64encode("مرحبا 👋🏽 \u202eevil.exe".encode()) + b"?=",
            b"Message-ID: <rtl@customer.example>",
            MIME,
            PLAIN_UTF8,
            b"Content-Transfer-Encoding: 8bit",
            body="שלום! 👨‍👩‍👧‍👦 Thanks 🙏\n".encode(),
        ),
    )

    alternative_ctype, alternative_body = _multipart(
        "cal",
        [
            PLAIN_UTF8 + b"\n\nYou are invited: Kickoff, Monday 10:00.\n",
            b'Content-Type: text/html; charset="utf-8"\n\n<p>You are <b>invited</b>: Kickoff</p>\n',
            b'Content-Type: text/calendar; charset="utf-8"; method=REQUEST\n\n'
            b"BEGIN:VCALENDAR\nMETHOD:REQUEST\nBEGIN:VEVENT\nSUMMARY:Kickoff\nEND:VEVENT\nEND:VCALENDAR\n",
        ],
        ctype="multipart/alternative",
    )
    add("calendar_invite", basic("invite", MIME, alternative_ctype, body=alternative_body))

    related_ctype, related_body = _multipart(
        "rel",
        [
            b'Content-Type: text/html; charset="utf-8"\n\n<p>Our logo <img src="cid:logo1"> and photo.</p>\n',
            b"Content-Type: image/png\nContent-ID: <logo1>\nContent-Transfer-Encoding: base64\n\n"
            + _b64(b"\x89PNG logo"),
            b'Content-Type: image/jpeg; name="photo.jpg"\nContent-Disposition: inline; filename="photo.jpg"\n'
            b"Content-ID: <photo1>\nContent-Transfer-Encoding: base64\n\n" + _b64(b"\xff\xd8 jpeg"),
        ],
        ctype="multipart/related",
    )
    add("inline_images_related", basic("related", MIME, related_ctype, body=related_body))

    add(
        "junk_references_and_comments",
        message(
            FROM,
            TO,
            DATE,
            b"Subject: refs",
            b"Message-ID:  (a comment) < spaced@customer.example >  ",
            b"In-Reply-To: Your message of Monday (<not-this@x>) <parent@acme.example>",
            b"References: junk <root@acme.example> ,, <> garbage\n <mid@acme.example> bare@acme.example",
            body=b"refs\n",
        ),
    )
    ctype, body = _multipart(
        "fn",
        [
            PLAIN_UTF8 + b"\n\nfile\n",
            b"Content-Type: application/octet-stream\n"
            b'Content-Disposition: attachment; filename="=?utf-8?q?informe_=C3=B1.pdf?="\n'
            b"Content-Transfer-Encoding: base64\n\n" + _b64(b"data"),
            b"Content-Type: text/plain\n"
            b'Content-Disposition: attachment; filename="../../etc/passwd"\n\nroot:x\n',
        ],
    )
    add("encoded_and_path_attachment_filenames", basic("filenames", MIME, ctype, body=body))
    add(
        "windows_1252_smart_quotes_no_charset",
        basic(
            "smart quotes",
            MIME,
            b"Content-Type: text/plain",
            b"Content-Transfer-Encoding: 8bit",
            body=b"\x93Quoted\x94 and \x96 dash\n",
        ),
    )
    return out
