"""Campaign templates: a subject and a Slack-formatted body with merge fields.

``{first_name|there}`` is our syntax (a field and an optional default). It is translated to
Jinja2 without ever putting the person's text into template source: every literal piece is
passed in as data and only the generated skeleton (``{{ L[0] }}{{ F['first_name'] |
default(D[1], true) }}``) is compiled, in Jinja's sandbox. The HTML part autoescapes, so a
recipient's "first name" can never become markup; the literal pieces are the HTML that
``slack_to_html`` made from the body (already escaped).
"""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import css_inline
from jinja2 import Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlmodel import col, select

from bot.formatting.rich_text import map_texts, rich_text_to_html, rich_text_to_plain
from bot.formatting.slack_text import slack_to_html, slack_to_plain
from locales import _, format_number
from storage.models import CampaignTemplate, utcnow

if TYPE_CHECKING:
    from bot.core import Core

HREF_RE = re.compile(r'href="(https?://[^"]+)"')
FIELD_RE = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}\n]*))?\}")
BUILTIN_FIELDS = ("email", "first_name", "last_name", "name", "company")
MAX_SUBJECT = 200
MAX_BODY = 20_000
TEMPLATE_NAME_RE = re.compile(r"^[\w .-]{1,60}$")

_HTML_ENV = SandboxedEnvironment(autoescape=True)
_TEXT_ENV = SandboxedEnvironment(autoescape=False)
_INLINER = css_inline.CSSInliner(keep_style_tags=False, load_remote_stylesheets=False)
BASE_STYLE = (
    "body{font-family:Arial,Helvetica,sans-serif;font-size:15px;line-height:1.5;color:#222;}"
    "a{color:#1a73e8;} .unsubscribe{font-size:12px;color:#777;margin-top:24px;}"
)


def fields_used(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in FIELD_RE.finditer(text or "")))


def unknown_fields(subject: str, body: str, known: set[str]) -> list[str]:
    allowed = set(BUILTIN_FIELDS) | known
    return [f for f in fields_used(subject + "\n" + body) if f not in allowed]


@dataclass
class TemplateErrors(Exception):
    errors: dict[str, str]


def validate_template(name: str, subject: str, body: str, known: set[str]) -> None:
    errors: dict[str, str] = {}
    if not TEMPLATE_NAME_RE.match(name.strip()):
        errors["name"] = _("Use up to 60 letters, digits, spaces, dots, dashes or underscores.")
    if not subject.strip():
        errors["subject"] = _("Write a subject.")
    elif len(subject) > MAX_SUBJECT or "\n" in subject.strip():
        errors["subject"] = _("Keep the subject on one line, under {n} characters.").format(
            n=format_number(MAX_SUBJECT)
        )
    if not body.strip():
        errors["body"] = _("Write the message.")
    elif len(body) > MAX_BODY:
        errors["body"] = _("Keep the message under {n} characters.").format(
            n=format_number(MAX_BODY)
        )
    for block, text in (("subject", subject), ("body", body)):
        bad = unknown_fields(text, "", known)
        if bad and block not in errors:
            choices = ", ".join(f"{{{f}}}" for f in sorted(set(BUILTIN_FIELDS) | known))
            errors[block] = _(
                "Unknown field {fields}. Use one of {choices} (a default goes after a bar: "
                "{example}), or import an audience with that column first."
            ).format(
                fields=", ".join(f"{{{f}}}" for f in bad),
                choices=choices,
                example="{first_name|there}",
            )
    if errors:
        raise TemplateErrors(errors)


def rich_body(value: Any) -> tuple[str, str | None]:
    """(body text to validate and list, rich_text JSON to store) of the editor's value."""
    return rich_text_to_plain(value).strip(), json.dumps(value, separators=(",", ":"))


def rich_of(stored: str | None) -> dict[str, Any] | None:
    """A stored rich_text body, or None for a mrkdwn one."""
    if not stored:
        return None
    value = json.loads(stored)
    return value if isinstance(value, dict) else None


# --- Compiling and rendering ---------------------------------------------------------------


@dataclass
class Compiled:
    subject: Template
    text: Template
    html: Template
    subject_data: dict
    text_data: dict
    html_data: dict


def _skeleton(
    pieces: Sequence[tuple[str, str | None, str]],
) -> tuple[str, list[str], list[str]]:
    """Jinja source for (literal, field, default) pieces, with the data it refers to."""
    source: list[str] = []
    literals: list[str] = []
    defaults: list[str] = []
    for literal, name, default in pieces:
        if literal:
            source.append(f"{{{{ L[{len(literals)}] }}}}")
            literals.append(literal)
        if name is not None:
            # ``name`` matched [A-Za-z_][A-Za-z0-9_]*: safe inside a Jinja string literal.
            source.append(f"{{{{ F['{name}'] | default(D[{len(defaults)}], true) }}}}")
            defaults.append(default)
    return "".join(source), literals, defaults


def _split(text: str, marker: re.Pattern[str], tags: list[tuple[str, str]]) -> list:
    """Split converted text at the placeholders standing for ``tags`` (name, default)."""
    pieces: list[tuple[str, str | None, str]] = []
    last = 0
    for match in marker.finditer(text):
        name, default = tags[int(match.group(1))]
        pieces.append((text[last : match.start()], name, default))
        last = match.end()
    pieces.append((text[last:], None, ""))
    return pieces


UNSUBSCRIBE_URL = "__unsubscribe_url"
UNSUBSCRIBE_LABEL = "__unsubscribe_label"


CLICK_BASE = "__click_base"


def compile_template(
    subject: str,
    body: str,
    *,
    footer_text: str = "",
    footer_html: str = "",
    link_suffix: Callable[[str], str] | None = None,
    rich: dict[str, Any] | None = None,
) -> Compiled:
    """Compile once per campaign: the whole HTML document (footer and unsubscribe link
    included) is CSS-inlined here, so each recipient costs only the three Jinja renders.

    ``rich``: the body's ``rich_text`` block from the rich text editor; ``body`` is then its
    plain text (validated like a mrkdwn body) and the two parts are made from the block."""
    tags: list[tuple[str, str]] = []
    nonce = secrets.token_hex(4)

    def hold(match: re.Match[str]) -> str:
        return hold_tag(match.group(1), (match.group(2) or "").strip())

    def hold_tag(name: str, default: str) -> str:
        tags.append((name, default))
        return f"MRF{nonce}X{len(tags) - 1}X"

    marker = re.compile(rf"MRF{nonce}X(\d+)X")
    # Fields are swapped for plain placeholders before the mrkdwn conversion, so the
    # underscores in first_name are never read as italics; values are filled in after it.
    if rich is not None:
        held_rich = map_texts(rich, lambda text: FIELD_RE.sub(hold, text))
        body_html = rich_text_to_html(held_rich)
        body_text = rich_text_to_plain(held_rich)
    else:
        held = FIELD_RE.sub(hold, body)
        body_html = slack_to_html(held, _no_names)
        body_text = slack_to_plain(held, _no_names)
    url, label = hold_tag(UNSUBSCRIBE_URL, ""), hold_tag(UNSUBSCRIBE_LABEL, "Unsubscribe")
    document = (
        '<!DOCTYPE html>\n<html>\n<head><meta charset="utf-8">'
        f"<style>{BASE_STYLE}</style></head>\n<body>\n"
        f"<div>{body_html}</div>\n{footer_html}\n"
        f'<p class="unsubscribe"><a href="{url}">{label}</a></p>\n</body>\n</html>\n'
    )
    inlined = _INLINER.inline(document)
    if link_suffix is not None:
        # Click tracking: every http(s) link of the HTML part goes through the recipient's
        # signed redirect base (a per-recipient field) plus the link's signed suffix.
        base = hold_tag(CLICK_BASE, "")

        def track(match: re.Match[str]) -> str:
            target = html.unescape(match.group(1))
            return f'href="{base}/{link_suffix(target)}"'

        inlined = HREF_RE.sub(track, inlined)
    html_pieces = [
        (Markup(lit), name, html.unescape(default))
        for lit, name, default in _split(inlined, marker, tags)
    ]
    text = body_text.rstrip() + "\n\n-- \n"
    if footer_text.strip():
        text += footer_text.strip() + "\n\n"
    text += f"{label}: {url}\n"
    text_pieces = _split(text, marker, tags)
    subject_tags: list[tuple[str, str]] = []

    def hold_subject(match: re.Match[str]) -> str:
        subject_tags.append((match.group(1), (match.group(2) or "").strip()))
        return f"MRF{nonce}X{len(subject_tags) - 1}X"

    subject_pieces = _split(FIELD_RE.sub(hold_subject, subject), marker, subject_tags)
    s_src, s_lit, s_def = _skeleton(subject_pieces)
    t_src, t_lit, t_def = _skeleton(text_pieces)
    h_src, h_lit, h_def = _skeleton(html_pieces)
    return Compiled(
        subject=_TEXT_ENV.from_string(s_src),
        text=_TEXT_ENV.from_string(t_src),
        html=_HTML_ENV.from_string(h_src),
        subject_data={"L": s_lit, "D": s_def},
        text_data={"L": t_lit, "D": t_def},
        html_data={"L": h_lit, "D": h_def},
    )


def _no_names(_: str) -> str:
    return ""


@dataclass
class Rendered:
    subject: str
    text: str
    html: str


def render(
    compiled: Compiled,
    values: dict[str, str],
    *,
    unsubscribe_url: str,
    language: str = "",
    click_base: str = "",
) -> Rendered:
    fields = {
        **values,
        UNSUBSCRIBE_URL: unsubscribe_url,
        UNSUBSCRIBE_LABEL: unsubscribe_label(language),
        CLICK_BASE: click_base,
    }
    subject = compiled.subject.render(F=fields, **compiled.subject_data)
    return Rendered(
        subject=" ".join(subject.split()),
        text=compiled.text.render(F=fields, **compiled.text_data),
        html=compiled.html.render(F=fields, **compiled.html_data),
    )


def unsubscribe_label(language: str) -> str:
    return "Darse de baja" if language.lower().startswith("es") else "Unsubscribe"


# --- Storage -------------------------------------------------------------------------------


def save_template(
    ctx: Core,
    team_id: str,
    template_id: int | None,
    name: str,
    subject: str,
    body: str,
    user_id: str,
    body_rich: str | None = None,
) -> CampaignTemplate:
    with ctx.db.session() as session:
        clash = session.exec(
            select(CampaignTemplate).where(
                CampaignTemplate.team_id == team_id, CampaignTemplate.name == name.strip()
            )
        ).first()
        if clash is not None and clash.id != template_id:
            raise TemplateErrors(
                {"name": _("There is already a template called {name}.").format(name=name.strip())}
            )
        row = session.get(CampaignTemplate, template_id) if template_id else None
        if row is None or row.team_id != team_id:
            row = CampaignTemplate(team_id=team_id, name="", subject="", body="")
        row.name, row.subject, row.body = name.strip(), subject.strip(), body
        row.body_rich = body_rich
        row.updated_by, row.updated_at = user_id, utcnow()
        session.add(row)
        session.flush()
        return row


def get_template(ctx: Core, team_id: str, template_id: int) -> CampaignTemplate | None:
    with ctx.db.session() as session:
        row = session.get(CampaignTemplate, template_id)
    return row if row is not None and row.team_id == team_id else None


def find_template(ctx: Core, team_id: str, name: str) -> CampaignTemplate | None:
    with ctx.db.session() as session:
        return session.exec(
            select(CampaignTemplate).where(
                CampaignTemplate.team_id == team_id, CampaignTemplate.name == name.strip()
            )
        ).first()


def list_templates(ctx: Core, team_id: str) -> list[CampaignTemplate]:
    with ctx.db.session() as session:
        return list(
            session.exec(
                select(CampaignTemplate)
                .where(CampaignTemplate.team_id == team_id)
                .order_by(col(CampaignTemplate.name))
            )
        )
