"""What an admin types after /mail-verify and /dkim-check, turned into clean values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain_checks import normalise_domain
from locales import N_, _
from providers.errors import UserError
from providers.ses import normalise_address

# Slack may send typed addresses and domains as links: <mailto:a@b.com|a@b.com>,
# <http://example.com|example.com>. The visible label (or the bare target) is what was typed.
SLACK_LINK_RE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
SELECTOR_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$")
MAX_SELECTORS = 10

DKIM_USAGE = N_(
    "Give the domain to check, for example `/dkim-check example.com`, optionally followed by "
    "the DKIM selectors your mail provider uses (`/dkim-check example.com google selector1`)."
)


def unlink(text: str) -> str:
    """Undo Slack's auto-linking: ``<mailto:a@b.com|a@b.com>`` becomes ``a@b.com``."""

    def label(match: re.Match[str]) -> str:
        target, shown = match.group(1), match.group(2)
        if shown:
            return shown
        for prefix in ("mailto:", "http://", "https://"):
            if target.lower().startswith(prefix):
                return target[len(prefix) :].rstrip("/")
        return target

    return SLACK_LINK_RE.sub(label, text)


@dataclass
class VerifyRequest:
    address: str
    sender_name: str = ""


def parse_verify_text(text: str) -> VerifyRequest | None:
    """``address [sender name]``; None when empty (the modal opens instead)."""
    words = unlink(text).split()
    if not words:
        return None
    return VerifyRequest(normalise_address(words[0]), " ".join(words[1:])[:100])


@dataclass
class DkimRequest:
    domain: str
    selectors: list[str] = field(default_factory=list)


def parse_selectors(words: list[str]) -> list[str]:
    selectors: list[str] = []
    for word in words:
        selector = word.strip().strip(",").lower().rstrip(".")
        if not selector:
            continue
        if not SELECTOR_RE.match(selector):
            raise UserError(
                _(
                    "{word} is not a DKIM selector (letters, digits, '-' and '_' only, like "
                    "google or selector1). Check the selector in your mail provider's DKIM "
                    "settings."
                ).format(word=repr(word))
            )
        if selector not in selectors:
            selectors.append(selector)
    if len(selectors) > MAX_SELECTORS:
        raise UserError(_("Give at most {limit} selectors at a time.").format(limit=MAX_SELECTORS))
    return selectors


def parse_dkim_text(text: str) -> DkimRequest:
    words = unlink(text).split()
    if not words:
        raise UserError(_(DKIM_USAGE))
    return DkimRequest(normalise_domain(words[0]), parse_selectors(words[1:]))
