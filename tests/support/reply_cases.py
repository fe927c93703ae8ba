"""Replies as mail clients write them, each with the text a reader should see in Slack.

Shared by the trimming tests (tests/bot/formatting/inbound/test_quotes.py) and the library
comparison (bench/quotes/compare.py), so both judge on the same mails. ``mail`` is either the
body text as the parser hands it to the trimmer, or a whole message (its body is extracted
first, HTML turned into text, as for real mail). ``visible`` is what the summary must be:
the new text, without quoted history or signature; a mail with nothing new shows whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class ReplyCase:
    name: str
    mail: str | EmailMessage
    visible: str
    # False for replies with nothing to trim: they check that trimming removes no real text.
    has_history: bool = True


def html_mail(html: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ana Pérez <ana@customer.example>"
    msg["To"] = "Support <support@acme.example>"
    msg["Subject"] = "Re: Pedido 42"
    msg["Message-ID"] = "<reply@customer.example>"
    msg.set_content(html, subtype="html")
    return msg


GMAIL_ONLY_QUOTE = (
    "On Mon, Jan 1, 2024 at 9:00 AM Support <support@acme.example> wrote:\n> Are you there?\n"
)

REPLY_CASES: list[ReplyCase] = [
    # --- English: Gmail, Apple Mail, Outlook ---------------------------------------------
    ReplyCase(
        "gmail_attribution_wrapped_over_two_lines",
        "Sounds good.\n\nOn Tue, Jan 2, 2024 at 9:00 AM Support <s@acme.example>\nwrote:\n"
        "> Earlier text\n> more\n",
        "Sounds good.",
    ),
    ReplyCase(
        "gmail_nested_quotes",
        "Done.\n\nOn Mon, Jan 1, 2024 at 9:00 AM Support <s@acme.example> wrote:\n"
        "> Please sign.\n>\n> On Sun, Dec 31, 2023 at 8:00 PM Ana <ana@customer.example> wrote:\n"
        "> > Send the contract.\n",
        "Done.",
    ),
    ReplyCase(
        "gmail_html_quote",
        html_mail(
            '<div dir="ltr">Works for me.</div><br><div class="gmail_quote">'
            '<div dir="ltr" class="gmail_attr">On Tue, Jan 2, 2024 at 9:00 AM Support &lt;'
            '<a href="mailto:support@acme.example">support@acme.example</a>&gt; wrote:<br></div>'
            '<blockquote class="gmail_quote" style="margin:0 0 0 .8ex">'
            '<div dir="ltr">Can you confirm the date?</div></blockquote></div>'
        ),
        "Works for me.",
    ),
    ReplyCase(
        "gmail_answers_between_quotes",
        "On Mon, Ana wrote:\n> Question one?\nAnswer one.\n> Question two?\nAnswer two.\n",
        "Answer one.\n> Question two?\nAnswer two.",
    ),
    ReplyCase(
        "apple_mail_english",
        "Sure, see you then.\n\nOn 2 Jan 2024, at 09:00, Support <support@acme.example> wrote:\n"
        "\n> Shall we meet on Friday?\n> \n> Regards\n",
        "Sure, see you then.",
    ),
    ReplyCase(
        "outlook_original_message_separator",
        "Thanks!\n\n-----Original Message-----\nFrom: S\nSent: Monday\n\nOld",
        "Thanks!",
    ),
    ReplyCase(
        "outlook_header_block",
        "Thanks!\n\nFrom: Support <s@acme.example>\nSent: Monday\nTo: Ana\n\nOld",
        "Thanks!",
    ),
    ReplyCase(
        "outlook_html_header_block",
        html_mail(
            "<p>Approved.</p>"
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p>'
            "<b>From:</b> Support &lt;support@acme.example&gt;<br>"
            "<b>Sent:</b> Monday, January 1, 2024 9:00 AM<br><b>To:</b> Ana<br>"
            "<b>Subject:</b> Budget</p></div><p>Please approve the budget.</p>"
        ),
        "Approved.",
    ),
    ReplyCase(
        "outlook_web_underscore_separator",
        "Done.\n\n________________________________\nFrom: Support <support@acme.example>\n"
        "Sent: Monday, January 1, 2024 9:00 AM\nTo: Ana <ana@customer.example>\n"
        "Subject: Contract\n\nPlease sign.",
        "Done.",
    ),
    ReplyCase(
        "thunderbird_english",
        "Fine by me.\n\nOn 1/2/24 09:00, Support wrote:\n> Is Tuesday fine?\n",
        "Fine by me.",
    ),
    ReplyCase(
        "yahoo_mobile_english",
        "Got it, thanks.\n\nSent from Yahoo Mail on Android\n\n"
        "  On Mon, Jan 1, 2024 at 9:00, Support<support@acme.example> wrote:\n"
        "> Please confirm the order.\n",
        "Got it, thanks.",
    ),
    # --- Spanish --------------------------------------------------------------------------
    ReplyCase(
        "gmail_spanish",
        "Gracias.\n\nEl lun, 1 ene 2024 a las 9:00, Soporte (<s@acme.example>) escribió:\n> Hola",
        "Gracias.",
    ),
    ReplyCase(
        "gmail_spanish_abbreviated_date",
        "Confirmado.\n\nEl lun., 1 ene. 2024 9:00, Soporte (<s@acme.example>) escribió:\n"
        "\n> ¿Confirmas el pedido?\n",
        "Confirmado.",
    ),
    ReplyCase(
        "gmail_spanish_with_greeting_and_sign_off",
        "Hola Luis,\n\nSí, el jueves nos va bien.\n\nUn saludo,\nAna\n\n"
        "El mar, 2 ene 2024 a las 9:00, Luis <luis@acme.example> escribió:\n"
        "> ¿Os va bien el jueves?\n",
        "Hola Luis,\n\nSí, el jueves nos va bien.\n\nUn saludo,\nAna",
    ),
    ReplyCase(
        "apple_mail_spanish",
        "Sí, nos vemos.\n\nEl 2 ene 2024, a las 9:00, Soporte <support@acme.example> escribió:\n"
        "\n> ¿Nos vemos el viernes?\n",
        "Sí, nos vemos.",
    ),
    ReplyCase(
        "apple_mail_spanish_html_from_iphone",
        html_mail(
            "<div>Perfecto, gracias.</div><div><br></div><div>Enviado desde mi iPhone</div>"
            '<div><br><blockquote type="cite">El 2 ene 2024, a las 9:00, Soporte '
            "&lt;support@acme.example&gt; escribió:<br><br></blockquote></div>"
            '<blockquote type="cite"><div>Adjuntamos la cotización.</div></blockquote>'
        ),
        "Perfecto, gracias.",
    ),
    ReplyCase(
        "outlook_spanish_header_block",
        "Listo.\n\nDe: Soporte\nEnviado el: lunes\nPara: Ana\n\nViejo",
        "Listo.",
    ),
    ReplyCase(
        "outlook_spanish_underscore_separator",
        "Recibido.\n\n________________________________\nDe: Soporte <s@acme.example>\n"
        "Enviado: lunes, 1 de enero de 2024 9:00\nPara: Ana\nAsunto: Factura\n\n"
        "Adjuntamos la factura.",
        "Recibido.",
    ),
    ReplyCase(
        "outlook_spanish_html_header_block",
        html_mail(
            "<p>Aprobado.</p>"
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p>'
            "<b>De:</b> Soporte &lt;support@acme.example&gt;<br>"
            "<b>Enviado:</b> lunes, 1 de enero de 2024 9:00<br><b>Para:</b> Ana<br>"
            "<b>Asunto:</b> Presupuesto</p></div><p>Por favor, aprobad el presupuesto.</p>"
        ),
        "Aprobado.",
    ),
    # --- Signatures -----------------------------------------------------------------------
    ReplyCase("dash_dash_signature", "Hi\n\n-- \nAna\nCEO", "Hi"),
    ReplyCase(
        "dash_dash_signature_spanish",
        "Hola Ana,\n\nTe envío el contrato firmado.\n\n-- \nLuis García\nDirector comercial\n"
        "Tel. 600 000 000\n",
        "Hola Ana,\n\nTe envío el contrato firmado.",
    ),
    ReplyCase(
        "signature_then_gmail_quote",
        "Yes.\n\n-- \nAna\n\nOn Mon, S wrote:\n> old\n",
        "Yes.",
    ),
    ReplyCase("sent_from_my_iphone", "Hi\n\nSent from my iPhone", "Hi"),
    ReplyCase("enviado_desde_mi_iphone", "Hola\n\nEnviado desde mi iPhone", "Hola"),
    ReplyCase(
        "obtener_outlook_para_android_then_outlook_quote",
        "Ok, lo reviso.\n\nObtener Outlook para Android\n\n________________________________\n"
        "De: Soporte <s@acme.example>\nEnviado: lunes, 1 de enero de 2024 9:00\nPara: Ana\n\n"
        "¿Lo revisas?",
        "Ok, lo reviso.",
    ),
    # --- Nothing to trim ------------------------------------------------------------------
    ReplyCase(
        "dashes_inside_a_line",
        "a -- b\nc",
        "a -- b\nc",
        has_history=False,
    ),
    ReplyCase(
        "english_mentions_wrote",
        "On Monday I wrote: the report is late.\nPlease check.",
        "On Monday I wrote: the report is late.\nPlease check.",
        has_history=False,
    ),
    ReplyCase(
        "spanish_mentions_escribio_on_its_own_line",
        "El cliente nos escribió:\nquiere el pedido el lunes.",
        "El cliente nos escribió:\nquiere el pedido el lunes.",
        has_history=False,
    ),
    ReplyCase(
        "reply_quoting_nothing_with_sign_off",
        "Hi team,\n\nThe shipment left this morning.\n\nThanks,\nAna",
        "Hi team,\n\nThe shipment left this morning.\n\nThanks,\nAna",
        has_history=False,
    ),
    ReplyCase(
        "spanish_reply_quoting_nothing",
        "Buenos días:\n\nEl pedido llegó ayer. Gracias.\n\nSaludos,\nLuis",
        "Buenos días:\n\nEl pedido llegó ayer. Gracias.\n\nSaludos,\nLuis",
        has_history=False,
    ),
    ReplyCase(
        # A forward's header block looks like Outlook history, but it is what is shared.
        "forwarded_message_is_content",
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: Bob <bob@x.example>\nDate: Mon, 1 Jan 2024\nSubject: Order\n\nThe order is late.",
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: Bob <bob@x.example>\nDate: Mon, 1 Jan 2024\nSubject: Order\n\nThe order is late.",
        has_history=False,
    ),
    # --- Only a quote: nothing new, so the whole mail shows rather than nothing -----------
    ReplyCase("only_a_quote", GMAIL_ONLY_QUOTE, GMAIL_ONLY_QUOTE.strip()),
]
