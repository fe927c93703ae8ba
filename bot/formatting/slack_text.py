"""Text that crosses the Slack boundary, in both directions.

This is the one escaping utility of the project. Anything that came from outside Slack (an
email subject, a sender name, a body, a file name, a problem sentence) goes through
:func:`escape` before it is put in a Slack message, and through :func:`truncate` *after*
escaping when it must fit a limit. Escaping first matters: escaping can only make text longer,
so a text cut to size and then escaped can overflow the limit again, and a cut made after
escaping must not split an entity like ``&amp;`` (which :func:`truncate` guarantees).

The other direction, a person's Slack message that becomes an email, is :func:`slack_to_plain`
(the text/plain part) and :func:`slack_to_html` (the text/html part).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import partial

__all__ = [
    "code_span",
    "escape",
    "quote_block",
    "slack_to_html",
    "slack_to_plain",
    "split_escaped",
    "truncate",
    "unescape",
]

# Slack escapes exactly these three characters in message text, and nothing else.
_SLACK_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_SLACK_ENTITY_RE = re.compile(r"&(?:amp|lt|gt);")

# A Slack "control sequence": <@U1>, <#C1|general>, <!here>, <https://x|label>. Slack escapes
# literal < and > inside messages, so a raw angle bracket always opens one of these.
_TOKEN_RE = re.compile(r"<([^<>\n]*)>")

# Schemes we turn into real links in email HTML; anything else (javascript:, data:, vbscript:,
# file:) is shown as text so a Slack message can never smuggle an active link into a mail.
_SAFE_SCHEMES = ("http://", "https://", "mailto:")

_SPECIAL_MENTIONS = {"here", "channel", "everyone"}

# Private-use characters that mark where pre-rendered HTML goes back in slack_to_html.
_PH_OPEN = "\ue000"
_PH_CLOSE = "\ue001"
_PLACEHOLDER_RE = re.compile(_PH_OPEN + r"(\d+)" + _PH_CLOSE)

_ZERO_WIDTH_JOINER = "\u200d"


def escape(text: str) -> str:
    """Make untrusted text inert in Slack: ``&`` first, then ``<`` and ``>``.

    ``&`` must go first, or the ``&`` of a freshly made ``&lt;`` would be escaped again.
    After this, ``<!channel>``, ``<@U1>`` and ``<https://evil|https://bank>`` show as the
    literal characters the sender typed instead of pinging people or hiding a link.
    Text that already contains ``&lt;`` is escaped again on purpose (``&amp;lt;``): the
    sender typed those characters and Slack must show them as typed.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo Slack's escaping in one pass, so ``&amp;lt;`` becomes ``&lt;`` and not ``<``."""
    return _SLACK_ENTITY_RE.sub(lambda m: _SLACK_ENTITIES[m.group(0)], text)


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Cut already-escaped ``text`` to at most ``limit`` characters, ending with ``marker``.

    Call :func:`escape` first, then this. The cut never splits an entity such as ``&amp;``
    (a half entity shows as garbage), never leaves half of a UTF-16 surrogate pair, and never
    ends on a zero-width joiner (which would turn a family emoji into a stray person).
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if len(marker) >= limit:
        marker = ""
    cut = _safe_cut(text, limit - len(marker))
    return text[:cut].rstrip() + marker


def split_escaped(text: str, size: int) -> list[str]:
    """Split already-escaped ``text`` into pieces of at most ``size`` characters (for Slack's
    3,000-character section limit) without splitting an entity or a surrogate pair."""
    if size < 6:
        raise ValueError("size must leave room for an entity such as &amp;")
    pieces: list[str] = []
    while len(text) > size:
        cut = _safe_cut(text, size) or size
        pieces.append(text[:cut])
        text = text[cut:]
    if text or not pieces:
        pieces.append(text)
    return pieces


def _safe_cut(text: str, cut: int) -> int:
    """Move ``cut`` left until ``text[:cut]`` ends on a whole character and a whole entity."""
    # An entity is at most 5 characters (&amp;), so only the last few can be a partial one.
    amp = text.rfind("&", max(0, cut - 4), cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    while cut > 0 and (
        "\ud800" <= text[cut - 1] <= "\udbff" or text[cut - 1] == _ZERO_WIDTH_JOINER
    ):
        cut -= 1
    return cut


def quote_block(text: str) -> str:
    """Prefix every line with Slack's ``>`` quote marker; pass text that is already escaped."""
    return "\n".join(f">{line}" for line in text.split("\n"))


def code_span(text: str) -> str:
    """Show ``text`` (already escaped) as inline code; backticks are swapped so it stays closed."""
    return "`" + text.replace("`", "\u02cb") + "`"


# --- Slack mrkdwn -> email -------------------------------------------------------------------


def slack_to_plain(
    text: str,
    resolve_user: Callable[[str], str],
    resolve_channel: Callable[[str], str] | None = None,
) -> str:
    """Turn a person's Slack message into readable plain text for an email.

    ``resolve_user("U123")`` returns a display name without the ``@`` ("Ana Pérez");
    ``resolve_channel("C1")`` returns a channel name without the ``#``. Both may fail or
    return "": the mention then falls back to Slack's own label or the raw id, because an
    email must go out even when a lookup does not work. Slack's formatting marks
    (``*bold*``, ``_italic_``, ``~strike~``) are dropped, as the HTML part shows them and a
    customer's plain-text client would show stray asterisks; marks inside code stay as
    typed. Slack's entities are undone last, so text the person typed as ``&lt;@U1&gt;``
    stays the literal characters ``<@U1>`` and never becomes a name.
    """
    text = text.replace(_PH_OPEN, "").replace(_PH_CLOSE, "")
    rendered: list[str] = []

    def hold(fragment: str) -> str:
        rendered.append(fragment)
        return f"{_PH_OPEN}{len(rendered) - 1}{_PH_CLOSE}"

    pieces: list[str] = []
    for literal, token in _split_tokens(text):
        pieces.append(literal)
        if token is not None:
            pieces.append(hold(_token_to_plain(token, resolve_user, resolve_channel)))
    body = "".join(pieces)
    # Code keeps its marks: hold it (unescaped, as typed) before the marks go.

    def hold_code(m: re.Match[str]) -> str:
        return hold(unescape(m.group(0)))

    body = re.sub(r"```.*?```", hold_code, body, flags=re.DOTALL)
    body = re.sub(r"`[^`\n]+`", hold_code, body)
    for pattern, _tag in _MARKS:
        body = pattern.sub(lambda m: m.group(1), body)
    return _restore(unescape(body), rendered)


def slack_to_html(
    text: str,
    resolve_user: Callable[[str], str],
    resolve_channel: Callable[[str], str] | None = None,
) -> str:
    """Turn a person's Slack message into an HTML fragment for the email's text/html part.

    All text is HTML-escaped; ``*bold*``, ``_italic_``, ``~strike~``, inline and block code,
    ``>`` quotes and links become their HTML equivalents; newlines become ``<br>``. Only
    http, https and mailto links become ``<a>`` elements.
    """
    text = text.replace(_PH_OPEN, "").replace(_PH_CLOSE, "")
    rendered: list[str] = []

    def hold(fragment: str) -> str:
        rendered.append(fragment)
        return f"{_PH_OPEN}{len(rendered) - 1}{_PH_CLOSE}"

    pieces: list[str] = []
    for literal, token in _split_tokens(text):
        pieces.append(html.escape(unescape(literal), quote=False))
        if token is not None:
            pieces.append(hold(_token_to_html(token, resolve_user, resolve_channel)))
    body = "".join(pieces)

    # Code first, so marks inside code stay literal.
    body = re.sub(
        r"```\n?(.*?)\n?```",
        lambda m: hold(f"<pre>{_restore(m.group(1), rendered)}</pre>"),
        body,
        flags=re.DOTALL,
    )
    body = re.sub(r"`([^`\n]+)`", lambda m: hold(f"<code>{m.group(1)}</code>"), body)
    body = _apply_marks(body)
    body = _render_lines(body)
    return _restore(body, rendered)


def _split_tokens(text: str) -> list[tuple[str, str | None]]:
    """Split text into (literal text, following control sequence or None) pairs."""
    out: list[tuple[str, str | None]] = []
    pos = 0
    for match in _TOKEN_RE.finditer(text):
        out.append((text[pos : match.start()], match.group(1)))
        pos = match.end()
    out.append((text[pos:], None))
    return out


def _split_label(token: str) -> tuple[str, str]:
    target, _, label = token.partition("|")
    return target, label


def _call(resolver: Callable[[str], str] | None, key: str) -> str:
    """Ask a resolver, treating any failure as "unknown" so formatting never fails."""
    if resolver is None:
        return ""
    try:
        value = resolver(key)
    except Exception:  # a failed name lookup keeps the raw mention; it never stops the text
        return ""
    return value.strip() if isinstance(value, str) else ""


def _mention_text(
    token: str,
    resolve_user: Callable[[str], str],
    resolve_channel: Callable[[str], str] | None,
) -> str | None:
    """Plain text of a user, channel or special mention; None when the token is a link."""
    target, label = _split_label(token)
    label = unescape(label)
    if target.startswith("@"):
        name = _call(resolve_user, target[1:]) or label.lstrip("@") or target[1:]
        return f"@{name}"
    if target.startswith("#"):
        name = label.lstrip("#") or _call(resolve_channel, target[1:]) or target[1:]
        return f"#{name}"
    if target.startswith("!"):
        keyword = target[1:].split("^", 1)[0]
        if keyword in _SPECIAL_MENTIONS:
            return f"@{keyword}"
        if keyword == "subteam":
            return label if label.startswith("@") else f"@{label or 'group'}"
        # <!date^...|fallback> and future commands: Slack's own fallback text is readable.
        return label or keyword
    return None


def _link_parts(token: str) -> tuple[str, str]:
    """(url, visible text) of a link token; mailto links show the bare address."""
    target, label = _split_label(token)
    url, label = unescape(target), unescape(label)
    shown = url[len("mailto:") :] if url.lower().startswith("mailto:") else url
    return url, (label or shown)


def _token_to_plain(
    token: str,
    resolve_user: Callable[[str], str],
    resolve_channel: Callable[[str], str] | None,
) -> str:
    mention = _mention_text(token, resolve_user, resolve_channel)
    if mention is not None:
        return mention
    url, label = _link_parts(token)
    shown = url[len("mailto:") :] if url.lower().startswith("mailto:") else url
    if label in (url, shown):
        return shown
    return f"{label} ({shown})"


def _token_to_html(
    token: str,
    resolve_user: Callable[[str], str],
    resolve_channel: Callable[[str], str] | None,
) -> str:
    mention = _mention_text(token, resolve_user, resolve_channel)
    if mention is not None:
        return f"<strong>{html.escape(mention)}</strong>"
    url, label = _link_parts(token)
    if not url.lower().startswith(_SAFE_SCHEMES):
        return html.escape(_token_to_plain(token, resolve_user, resolve_channel), quote=False)
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label, quote=False)}</a>'


# A mark opens after start/space/punctuation and closes before end/space/punctuation, like
# Slack: snake_case_names and 2*3*4 stay as typed.
def _mark_re(mark: str) -> re.Pattern[str]:
    m = re.escape(mark)
    return re.compile(rf"(?<![\w{m}]){m}(?=[^\s{m}])([^{m}\n]*?[^\s{m}]){m}(?![\w{m}])")


_MARKS = [
    (_mark_re("*"), "strong"),
    (_mark_re("_"), "em"),
    (_mark_re("~"), "del"),
]


def _apply_marks(text: str) -> str:
    for pattern, tag in _MARKS:
        text = pattern.sub(partial(_wrap_in, tag), text)
    return text


def _wrap_in(tag: str, m: re.Match[str]) -> str:
    return f"<{tag}>{m.group(1)}</{tag}>"


def _render_lines(text: str) -> str:
    """Group ``>`` quote lines into blockquotes and join the rest with ``<br>``."""
    # Slack's ">>>" quotes everything after it.
    head, sep, rest = text.partition("&gt;&gt;&gt;")
    if sep and (not head or head.endswith("\n")):
        lines = head.split("\n")[:-1] if head else []
        lines += ["&gt;" + line for line in rest.lstrip(" ").split("\n")]
    else:
        lines = text.split("\n")

    blocks: list[str] = []
    quoted: list[str] = []
    for line in lines:
        if line.startswith("&gt;"):
            quoted.append(line[len("&gt;") :].removeprefix(" "))
            continue
        if quoted:
            blocks.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")
            quoted = []
        blocks.append(line)
    if quoted:
        blocks.append("<blockquote>" + "<br>".join(quoted) + "</blockquote>")

    out: list[str] = []
    for i, block in enumerate(blocks):
        out.append(block)
        # A blockquote is already a block; a <br> after it would add an empty line.
        if i < len(blocks) - 1 and not block.endswith("</blockquote>"):
            out.append("<br>\n")
        elif i < len(blocks) - 1:
            out.append("\n")
    return "".join(out)


def _restore(text: str, rendered: list[str]) -> str:
    # Placeholders can nest (a link inside a code block), so restore until none are left.
    for _ in range(3):
        if _PH_OPEN not in text:
            break
        text = _PLACEHOLDER_RE.sub(lambda m: rendered[int(m.group(1))], text)
    return text
