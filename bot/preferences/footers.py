"""Email footers: one per mailbox, plus a workspace default, appended to every reply.

A footer is edited in a modal (``bot.blocks.footer``) and only stored on Save. Its text may
use tags (``{sender_name}``...) that are filled in when a reply is sent; an unknown tag is a
field error rather than a silent blank. It renders to two versions: HTML with inline styles
(mail clients such as Gmail and Outlook drop ``<style>`` sheets but keep ``style=``
attributes) and a plain-text alternative.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlmodel import col, select

from bot.formatting.outbound import compose_email, make_message_id
from bot.formatting.slack_text import slack_to_html, slack_to_plain
from bot.replies import Footer as RenderedFooter
from bot.replies import FooterSource
from locales import N_, _, ngettext, speaking
from providers import smtp
from providers.errors import UserError
from storage.models import (
    FOOTER_BACKGROUND_COLOR,
    FOOTER_LINK_COLOR,
    FOOTER_TEXT_COLOR,
    Footer,
    Mailbox,
    utcnow,
)

if TYPE_CHECKING:
    from bot.core import Core

FORMATS = ("plain", "rich")
MAX_TEXT = 2000

# Tag → what it becomes (documented in the README and shown in the modal's hint).
# The descriptions are marked for translation (N_): translate them with _() where shown.
TAGS: dict[str, str] = {
    "sender_name": N_("name of the person who wrote the reply (their Slack name)"),
    "sender_email": N_("email of the person who wrote the reply (their Slack profile)"),
    "mailbox_name": N_("the mailbox's sender name (or its address when it has none)"),
    "mailbox_email": N_("the mailbox's address"),
    "company": N_("the company name saved with the footer"),
    "date": N_("the day the reply is sent (YYYY-MM-DD, UTC)"),
    "year": N_("the year the reply is sent"),
}
_TAG_RE = re.compile(r"\{([^{}\s]*)\}")
_COLOR_RE = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")

# Social link fields: (field, label shown in the mail, domains the link must point to).
SOCIAL: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("facebook", "Facebook", ("facebook.com", "fb.com", "fb.me")),
    ("x", "X", ("x.com", "twitter.com")),
    ("instagram", "Instagram", ("instagram.com",)),
    ("linkedin", "LinkedIn", ("linkedin.com",)),
)
COLORS = (("text_color", "Text"), ("link_color", "Link"), ("background_color", "Background"))
# A colour field's error, one whole sentence per field.
COLOR_ERRORS = {
    "text_color": N_("Text colour must be a hex colour like #1a73e8 or #fff (got {value})."),
    "link_color": N_("Link colour must be a hex colour like #1a73e8 or #fff (got {value})."),
    "background_color": N_(
        "Background colour must be a hex colour like #1a73e8 or #fff (got {value})."
    ),
}


@dataclass
class FooterForm:
    """The editable part of a footer, as typed in the modal (validated)."""

    text: str = ""
    format: str = "plain"
    text_color: str = FOOTER_TEXT_COLOR
    link_color: str = FOOTER_LINK_COLOR
    background_color: str = FOOTER_BACKGROUND_COLOR
    facebook: str = ""
    x: str = ""
    instagram: str = ""
    linkedin: str = ""
    company: str = ""

    @classmethod
    def from_row(cls, row: Footer | None) -> FooterForm:
        if row is None:
            return cls()
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})


@dataclass
class FooterErrors(Exception):
    """Field errors keyed by the modal's block ids."""

    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class TagValues:
    sender_name: str = ""
    sender_email: str = ""
    mailbox_name: str = ""
    mailbox_email: str = ""
    company: str = ""
    when: datetime = field(default_factory=lambda: datetime.now(UTC))

    def as_dict(self) -> dict[str, str]:
        return {
            "sender_name": self.sender_name,
            "sender_email": self.sender_email,
            "mailbox_name": self.mailbox_name,
            "mailbox_email": self.mailbox_email,
            "company": self.company,
            "date": f"{self.when:%Y-%m-%d}",
            "year": f"{self.when:%Y}",
        }


# --- Validation ---------------------------------------------------------------------------------


def unknown_tags(text: str) -> list[str]:
    return [name for name in _TAG_RE.findall(text) if name not in TAGS]


def parse_footer_form(values: dict[str, str]) -> FooterForm:
    """Validate the modal's values (block id → string); raise FooterErrors listing every problem."""
    errors: dict[str, str] = {}
    form = FooterForm(
        text=(values.get("text") or "").strip("\n"),
        format=values.get("format") or "plain",
        company=(values.get("company") or "").strip(),
    )
    if len(form.text) > MAX_TEXT:
        errors["text"] = _("Keep the footer under {limit} characters (it has {length}).").format(
            limit=MAX_TEXT, length=len(form.text)
        )
    bad = unknown_tags(form.text)
    if bad:
        known = ", ".join(f"{{{t}}}" for t in TAGS)
        # English says "tag" for any number; other languages may not.
        errors["text"] = ngettext(
            "Unknown tag {tags}. Use one of {known}, or remove the braces.",
            "Unknown tag {tags}. Use one of {known}, or remove the braces.",
            len(bad),
        ).format(tags=", ".join(f"{{{t}}}" for t in bad), known=known)
    if form.format not in FORMATS:
        errors["format"] = _("Choose Plain or Rich.")
    for name, _label in COLORS:
        value = (values.get(name) or "").strip() or getattr(FooterForm, name)
        if not _COLOR_RE.fullmatch(value):
            errors[name] = _(COLOR_ERRORS[name]).format(value=repr(value[:30]))
        setattr(form, name, value.lower())
    for name, label, domains in SOCIAL:
        value = (values.get(name) or "").strip()
        if value:
            problem = _social_problem(value, label, domains)
            if problem:
                errors[name] = problem
        setattr(form, name, value)
    if errors:
        raise FooterErrors(errors)
    return form


def _social_problem(url: str, label: str, domains: tuple[str, ...]) -> str | None:
    example = f"https://{domains[0]}/yourcompany"
    try:
        parts = urlsplit(url)
    except ValueError:
        return _(
            "That is not a valid link. Paste your {label} page's address, like {example}."
        ).format(label=label, example=example)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host or any(c.isspace() for c in url):
        return _("Paste the full {label} address starting with https://, like {example}.").format(
            label=label, example=example
        )
    if not any(host == d or host.endswith("." + d) for d in domains):
        return _(
            "That link does not point to {label} ({domains}). Use a link like {example}."
        ).format(label=label, domains=_either(domains), example=example)
    return None


def _either(choices: tuple[str, ...]) -> str:
    """``a or b or c`` in the current language."""
    text = choices[0]
    for choice in choices[1:]:
        text = _("{first} or {second}").format(first=text, second=choice)
    return text


# --- Rendering ----------------------------------------------------------------------------------


def render_footer(form: FooterForm, tags: TagValues) -> RenderedFooter:
    """The footer as (plain text, HTML with inline styles); empty when there is nothing to show."""
    values = {**tags.as_dict(), "company": form.company or tags.company}
    links = [
        (label, getattr(form, name)) for name, label, _domains in SOCIAL if getattr(form, name)
    ]
    if not form.text.strip() and not links:
        return RenderedFooter()

    def fill(text: str, escape_value: bool) -> str:
        def value(match: re.Match[str]) -> str:
            raw = values.get(match.group(1), match.group(0))
            return html.escape(raw, quote=False) if escape_value else raw

        return _TAG_RE.sub(value, text)

    # Tags are filled in after the markup is converted, so a value (a person's name) can
    # never turn into formatting, a link or HTML.
    if form.format == "rich":
        body_html = slack_to_html(form.text, _no_mentions)
        body_html = body_html.replace("<a href=", f'<a style="color:{form.link_color};" href=')
        body_text = slack_to_plain(form.text, _no_mentions)
    else:
        body_html = html.escape(form.text, quote=False).replace("\n", "<br>\n")
        body_text = form.text
    body_html, body_text = fill(body_html, True), fill(body_text, False)

    link_html = " &middot; ".join(
        f'<a href="{html.escape(url, quote=True)}" style="color:{form.link_color};'
        f'text-decoration:none;">{label}</a>'
        for label, url in links
    )
    link_text = "\n".join(f"{label}: {url}" for label, url in links)
    cell = (
        f"color:{form.text_color};font-family:Arial,Helvetica,sans-serif;font-size:13px;"
        f"line-height:1.5;padding:12px 16px;"
    )
    parts = [f"<div>{body_html}</div>"] if body_html.strip() else []
    if link_html:
        parts.append(f'<div style="padding-top:6px;">{link_html}</div>')
    footer_html = (
        f'<table role="presentation" cellpadding="0" cellspacing="0" border="0" '
        f'style="border-collapse:collapse;background-color:{form.background_color};'
        f'margin-top:16px;"><tr><td style="{cell}">' + "".join(parts) + "</td></tr></table>"
    )
    text = "\n\n".join(p for p in (body_text.strip(), link_text) if p)
    return RenderedFooter(text=text, html=footer_html)


def _no_mentions(_: str) -> str:
    return ""


# --- Storage ------------------------------------------------------------------------------------


def load_footer(ctx: Core, team_id: str, mailbox_id: int | None) -> Footer | None:
    """The footer stored for a mailbox (or the workspace default when ``mailbox_id`` is None)."""
    with ctx.db.session() as session:
        query = select(Footer).where(Footer.team_id == team_id)
        query = (
            query.where(Footer.mailbox_id == mailbox_id)
            if mailbox_id is not None
            else query.where(col(Footer.mailbox_id).is_(None))
        )
        return session.exec(query).first()


def effective_footer(ctx: Core, mailbox: Mailbox) -> Footer | None:
    """The mailbox's own footer, else the workspace default."""
    return load_footer(ctx, mailbox.team_id, mailbox.id) or load_footer(ctx, mailbox.team_id, None)


def save_footer(
    ctx: Core, team_id: str, mailbox_id: int | None, form: FooterForm, user_id: str
) -> Footer:
    # Upsert by hand: the unique constraint does not cover the default (NULL mailbox_id).
    with ctx.db.session() as session:
        query = select(Footer).where(Footer.team_id == team_id)
        query = (
            query.where(Footer.mailbox_id == mailbox_id)
            if mailbox_id is not None
            else query.where(col(Footer.mailbox_id).is_(None))
        )
        row = session.exec(query).first() or Footer(team_id=team_id, mailbox_id=mailbox_id)
        for name in FooterForm.__dataclass_fields__:
            setattr(row, name, getattr(form, name))
        row.updated_by, row.updated_at = user_id, utcnow()
        session.add(row)
        return row


# --- Tags for a real reply, and the hook ---------------------------------------------------------


def tag_values(ctx: Core, mailbox: Mailbox, author_id: str) -> TagValues:
    author = ctx.roles.user(author_id, mailbox.team_id) if author_id else None
    return TagValues(
        sender_name=(author.name if author else "") or mailbox.sender_name or mailbox.address,
        sender_email=(author.email if author else "") or mailbox.address,
        mailbox_name=mailbox.sender_name or mailbox.address,
        mailbox_email=mailbox.address,
    )


def footer_source(ctx: Core) -> FooterSource:
    """The ``ctx.replies.footer`` hook: the effective footer, rendered for this reply."""

    def footer(mailbox: Mailbox, author_id: str) -> RenderedFooter:
        row = effective_footer(ctx, mailbox)
        if row is None:
            return RenderedFooter()
        return render_footer(FooterForm.from_row(row), tag_values(ctx, mailbox, author_id))

    return footer


def send_test(ctx: Core, mailbox: Mailbox, form: FooterForm, user_id: str) -> str:
    """Mail the footer (as it is in the modal, unsaved) to the person editing; returns the address."""
    person = ctx.roles.user(user_id, mailbox.team_id)
    if not person.email:
        raise UserError(
            _(
                "Your Slack profile has no email address, so Mailroom cannot send you a "
                "test. Add one to your profile (or ask an admin to), then try again."
            )
        )
    if not mailbox.active:
        raise UserError(
            _(
                "{address} is inactive, so it sends nothing, tests included. "
                "Activate it from App Home or `/mail-status`, then send the test again."
            ).format(address=mailbox.address)
        )
    rendered = render_footer(form, tag_values(ctx, mailbox, user_id))
    # Mailroom's own words in an email: the mailbox's language, like every mail it writes.
    with speaking(ctx.languages.of_mailbox(mailbox)):
        subject = _("Mailroom footer test")
        words = _("This is how your footer looks at the end of a reply.")
    email = compose_email(
        sender_name=mailbox.sender_name or mailbox.address,
        sender_address=mailbox.address,
        to=[person.email],
        subject=subject,
        in_reply_to=None,
        references=[],
        text=words,
        html=html.escape(words),
        message_id=make_message_id(mailbox.address),
        footer_text=rendered.text,
        footer_html=rendered.html,
    )
    smtp.send_message(
        ctx.mailboxes.smtp_settings(mailbox),
        email,
        sender=mailbox.address,
        recipients=[person.email],
    )
    return person.email


# --- Who edits which footer ---------------------------------------------------------------------

DEFAULT_TARGET = "default"


def footer_targets(ctx: Core, user_id: str, team_id: str) -> list[tuple[str, str]]:
    """(label, value) of every footer this person may edit: admins the workspace default and
    every mailbox, owners their personal mailbox."""
    from bot.roles import mailboxes_for

    targets = [
        (f"{m.address} ({m.kind})", str(m.id))
        for m in mailboxes_for(ctx.roles, ctx.mailboxes, user_id, team_id, manage=True)
    ]
    if ctx.roles.is_admin(user_id):
        targets.insert(0, (_("Workspace default (mailboxes without their own)"), DEFAULT_TARGET))
    return targets


def target_mailbox(ctx: Core, user_id: str, target: str) -> Mailbox | None:
    """The mailbox of a target value (None = the workspace default), permission checked."""
    if target == DEFAULT_TARGET:
        ctx.roles.require_admin(user_id, "edit the workspace's default footer")
        return None
    mailbox = ctx.mailboxes.get(int(target)) if target.isdigit() else None
    if mailbox is None:
        raise UserError(_("That mailbox no longer exists. Run `/mail-footer` again."))
    if not ctx.roles.can_manage(user_id, mailbox):
        raise UserError(
            _(
                "Only admins edit the footer of {address} (owners edit the "
                "footer of their personal mailbox)."
            ).format(address=mailbox.address)
        )
    return mailbox


def form_values(form: FooterForm) -> dict[str, str]:
    return {name: str(getattr(form, name)) for name in FooterForm.__dataclass_fields__}


def test_sender(ctx: Core, user_id: str, team_id: str, mailbox: Mailbox | None) -> Mailbox:
    """Which mailbox mails the test: the one being edited, or for the default footer the
    person's own mailbox, else any active one they manage."""
    from bot.roles import mailboxes_for

    if mailbox is not None:
        return mailbox
    options = mailboxes_for(ctx.roles, ctx.mailboxes, user_id, team_id, manage=True)
    options.sort(key=lambda m: (not m.active, m.owner_id != user_id, m.kind != "personal"))
    if not options:
        raise UserError(
            _("Connect a mailbox first: the test is mailed from one of your mailboxes.")
        )
    return options[0]


def sample_tags(ctx: Core, user_id: str, team_id: str, mailbox: Mailbox | None) -> TagValues:
    """Tag values for a preview: the person editing, and the mailbox (or a stand-in)."""
    if mailbox is not None:
        return tag_values(ctx, mailbox, user_id)
    person = ctx.roles.user(user_id, team_id)
    return TagValues(
        sender_name=person.name or user_id,
        sender_email=person.email or "",
        mailbox_name=_("Your mailbox"),
        mailbox_email="mailbox@yourcompany.com",
    )
