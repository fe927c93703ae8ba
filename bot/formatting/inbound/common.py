"""Small helpers every part of the parser uses: one guarded step, text hygiene."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import Message
from typing import TypeVar

T = TypeVar("T")
D = TypeVar("D")


def _guard(step: Callable[[], T], default: D) -> T | D:
    """Run one parsing step; a bug or a pathological message loses that field, not the mail."""
    try:
        return step()
    except Exception:  # RecursionError included: it is a RuntimeError
        return default


def _payload_list(part: Message) -> list[object]:
    """A multipart's children (a list payload); raises on a damaged one, for ``_guard``."""
    return list(part.get_payload())


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


# Bidirectional overrides let "exe.pdf" display as "fdp.exe" (the Trojan Source trick);
# legitimate right-to-left text doesn't need them in a subject, name or file name.
# Invisible format characters (zero-width space/joiners, word joiner, BOM, soft hyphen...)
# let "Pay\u200bPal" pass for PayPal; a name or subject has no use for them either.
_BIDI_OVERRIDE_RE = re.compile(
    r"[\u202a-\u202e\u2066-\u2069"
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u2060-\u2065\u206a-\u206f\u3164\ufeff\uffa0]"
)


def _clean_text(text: str) -> str:
    """Normalise newlines and drop control characters and lone surrogates (which Slack's
    JSON API rejects), keeping tabs and newlines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_RE.sub("", text)


def _one_line(text: str) -> str:
    """Header-style text: one line, no bidirectional overrides."""
    return re.sub(r"\s+", " ", _BIDI_OVERRIDE_RE.sub("", text)).strip()


def _quote(value: str, limit: int = 40) -> str:
    value = _one_line(_clean_text(value))
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return f"'{value}'"
