"""Slack ``rich_text`` blocks (what a ``rich_text_input`` submits) as email HTML and plain text.

Sections, bullet and ordered lists (with their indent), quotes and preformatted text;
bold, italic, strike and code styles; links (only http, https and mailto become ``<a>``);
emoji as Unicode where Slack gives it (or the name is a common one); user, channel and group
mentions and broadcasts as plain words. Every piece of text and every attribute is
HTML-escaped: nothing a person types becomes markup. Unknown element types are skipped or
shown by their text, so a future Slack element never makes a message fail.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, TypeGuard

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
# Common emoji by name, for the few elements that come without their "unicode" field.
_EMOJI = {
    "smile": "😄",
    "slightly_smiling_face": "🙂",
    "grinning": "😀",
    "wink": "😉",
    "heart": "❤️",
    "+1": "👍",
    "thumbsup": "👍",
    "tada": "🎉",
    "wave": "👋",
    "rocket": "🚀",
    "star": "⭐",
    "fire": "🔥",
    "white_check_mark": "✅",
    "warning": "⚠️",
    "point_right": "👉",
    "clap": "👏",
    "sparkles": "✨",
    "gift": "🎁",
    "calendar": "📅",
    "email": "📧",
}
_BROADCASTS = {"here", "channel", "everyone"}
MAX_DEPTH = 20

Resolver = Callable[[str], str]


def _resolve(resolver: Resolver | None, key: str) -> str:
    if resolver is None:
        return ""
    try:
        value = resolver(key)
    except Exception:  # a failed name lookup keeps the raw mention; it never stops the text
        return ""
    return value.strip() if isinstance(value, str) else ""


def _elements(node: Any) -> list[dict[str, Any]]:
    items = node.get("elements") if isinstance(node, dict) else None
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def emoji_text(element: dict[str, Any]) -> str:
    code = _str(element.get("unicode"))
    if code:
        try:
            return "".join(chr(int(part, 16)) for part in code.split("-"))
        except (ValueError, OverflowError):
            pass
    name = _str(element.get("name"))
    return _EMOJI.get(name, f":{name}:" if name else "")


def safe_url(url: str) -> bool:
    return url.strip().lower().startswith(_SAFE_SCHEMES)


def _link_label(element: dict[str, Any]) -> tuple[str, str]:
    url = _str(element.get("url")).strip()
    shown = url[len("mailto:") :] if url.lower().startswith("mailto:") else url
    return url, _str(element.get("text")) or shown


def _mention(
    element: dict[str, Any], resolve_user: Resolver | None, resolve_channel: Resolver | None
) -> str | None:
    """Plain text of a mention-like element; None for other kinds."""
    kind = element.get("type")
    if kind == "user":
        uid = _str(element.get("user_id"))
        return "@" + (_resolve(resolve_user, uid) or uid or "someone")
    if kind == "channel":
        cid = _str(element.get("channel_id"))
        return "#" + (_resolve(resolve_channel, cid) or cid or "channel")
    if kind == "usergroup":
        return "@" + (_str(element.get("usergroup_id")) or "group")
    if kind == "broadcast":
        scope = _str(element.get("range"))
        return "@" + (scope if scope in _BROADCASTS else "here")
    if kind == "date":
        return _str(element.get("fallback")) or _str(element.get("timestamp"))
    if kind == "color":
        return _str(element.get("value"))
    return None


# --- HTML ----------------------------------------------------------------------------------


def _styled_html(text: str, style: Any, *, code_allowed: bool = True) -> str:
    out = html.escape(text, quote=True).replace("\n", "<br>\n")
    style = style if isinstance(style, dict) else {}
    if style.get("code") and code_allowed:
        out = f"<code>{out}</code>"
    if style.get("strike"):
        out = f"<s>{out}</s>"
    if style.get("italic"):
        out = f"<em>{out}</em>"
    if style.get("bold"):
        out = f"<strong>{out}</strong>"
    return out


def _inline_html(
    elements: list[dict[str, Any]],
    resolve_user: Resolver | None,
    resolve_channel: Resolver | None,
    *,
    pre: bool = False,
) -> str:
    out: list[str] = []
    for element in elements:
        kind = element.get("type")
        if kind == "text":
            out.append(
                _styled_html(_str(element.get("text")), element.get("style"), code_allowed=not pre)
            )
        elif kind == "link":
            url, label = _link_label(element)
            inner = _styled_html(label, element.get("style"), code_allowed=not pre)
            if safe_url(url):
                out.append(f'<a href="{html.escape(url, quote=True)}">{inner}</a>')
            else:
                out.append(inner)  # never a clickable javascript: or data: link
        elif kind == "emoji":
            out.append(html.escape(emoji_text(element), quote=True))
        else:
            mention = _mention(element, resolve_user, resolve_channel)
            if mention:
                out.append(html.escape(mention, quote=True))
    return "".join(out)


def _strip_newline(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A section's last text usually ends with the line break before the next block."""
    if elements and elements[-1].get("type") == "text":
        text = _str(elements[-1].get("text"))
        if text.endswith("\n"):
            return [*elements[:-1], {**elements[-1], "text": text[:-1]}]
    return elements


def rich_text_to_html(
    block: Any, resolve_user: Resolver | None = None, resolve_channel: Resolver | None = None
) -> str:
    """An HTML fragment for a ``rich_text`` block."""
    parts: list[str] = []
    for node in _elements(block)[:1000]:
        kind = node.get("type")
        inline = _strip_newline(_elements(node))
        if kind == "rich_text_section":
            parts.append(f"<p>{_inline_html(inline, resolve_user, resolve_channel)}</p>")
        elif kind == "rich_text_quote":
            parts.append(
                f"<blockquote>{_inline_html(inline, resolve_user, resolve_channel)}</blockquote>"
            )
        elif kind == "rich_text_preformatted":
            parts.append(
                f"<pre>{_inline_html(inline, resolve_user, resolve_channel, pre=True)}</pre>"
            )
        elif kind == "rich_text_list":
            tag = "ol" if node.get("style") == "ordered" else "ul"
            indent = _indent(node)
            attrs = f' style="margin-left:{24 * indent}px"' if indent else ""
            offset = node.get("offset")
            if tag == "ol" and isinstance(offset, int) and 0 < offset < 1_000_000:
                attrs += f' start="{offset + 1}"'
            items = "".join(
                f"<li>{_inline_html(_strip_newline(_elements(item)), resolve_user, resolve_channel)}</li>"
                for item in _elements(node)
            )
            parts.append(f"<{tag}{attrs}>{items}</{tag}>")
    return "\n".join(parts)


def _indent(node: dict[str, Any]) -> int:
    indent = node.get("indent")
    return min(indent, MAX_DEPTH) if isinstance(indent, int) and indent > 0 else 0


# --- Plain text ----------------------------------------------------------------------------


def _inline_plain(
    elements: list[dict[str, Any]], resolve_user: Resolver | None, resolve_channel: Resolver | None
) -> str:
    out: list[str] = []
    for element in elements:
        kind = element.get("type")
        if kind == "text":
            out.append(_str(element.get("text")))
        elif kind == "link":
            url, label = _link_label(element)
            shown = url[len("mailto:") :] if url.lower().startswith("mailto:") else url
            if not safe_url(url) or label in (url, shown):
                out.append(label if not safe_url(url) else shown)
            else:
                out.append(f"{label} ({shown})")
        elif kind == "emoji":
            out.append(emoji_text(element))
        else:
            out.append(_mention(element, resolve_user, resolve_channel) or "")
    return "".join(out)


def rich_text_to_plain(
    block: Any, resolve_user: Resolver | None = None, resolve_channel: Resolver | None = None
) -> str:
    """Readable plain text for a ``rich_text`` block (merge fields stay as typed)."""
    lines: list[str] = []
    for node in _elements(block)[:1000]:
        kind = node.get("type")
        text = _inline_plain(_strip_newline(_elements(node)), resolve_user, resolve_channel)
        if kind == "rich_text_section":
            lines.append(text)
        elif kind == "rich_text_quote":
            lines.append("\n".join("> " + line for line in text.split("\n")))
        elif kind == "rich_text_preformatted":
            lines.append(text)
        elif kind == "rich_text_list":
            pad = "   " * _indent(node)
            offset = node.get("offset") if isinstance(node.get("offset"), int) else 0
            for n, item in enumerate(_elements(node), start=1 + max(offset or 0, 0)):
                mark = f"{n}." if node.get("style") == "ordered" else "•"
                item_text = _inline_plain(
                    _strip_newline(_elements(item)), resolve_user, resolve_channel
                )
                lines.append(f"{pad}{mark} {item_text}")
    return "\n".join(lines)


def map_texts(block: Any, change: Callable[[str], str]) -> Any:
    """A copy of ``block`` with ``change`` applied to every text a person typed (the text of
    text elements and link labels); used to hold merge fields before the conversion."""
    if isinstance(block, list):
        return [map_texts(item, change) for item in block]
    if not isinstance(block, dict):
        return block
    copy = {key: map_texts(value, change) for key, value in block.items()}
    if block.get("type") in ("text", "link") and isinstance(block.get("text"), str):
        copy["text"] = change(block["text"])
    return copy


def is_rich_text(value: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and value.get("type") == "rich_text"
