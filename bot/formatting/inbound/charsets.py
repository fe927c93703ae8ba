"""Decoding bytes with the charset a mail declares, tolerating labels that lie or do not exist."""

from __future__ import annotations

import codecs
import re

from bot.formatting.inbound.common import _quote

# Names real mailers use that Python doesn't know (or knows under a narrower name).
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "unknown-8bit": "",
    "x-unknown": "",
}


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode ``data`` as ``charset``, then UTF-8, then Windows-1252/Latin-1.

    Returns the text and, when the declared charset was unknown or wrong, the rest of a
    sentence describing it (callers prefix "Part N"). Never raises.
    """
    declared = (charset or "").strip().strip("\"'").lower()
    codec = _text_codec(_CHARSET_ALIASES.get(declared, declared))
    if codec:
        try:
            return data.decode(codec), None
        except (UnicodeDecodeError, LookupError):
            pass
        if codec == "utf-8" and not _UTF8_SEQUENCE_RE.search(data):
            # Not one valid multibyte sequence: this is 8-bit Western text with a wrong label.
            codec = "ascii"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if not declared or codec == "ascii":
            # 8-bit UTF-8 labelled us-ascii (or not labelled) is common and reads correctly.
            return text, None
        if codec:
            return text, f"said it was {_quote(declared)} but was UTF-8; it was read as UTF-8."
        return text, f"used an unknown charset {_quote(declared)}; shown as best-effort text."
    if codec and codec != "ascii":
        # A declared charset with a few bad bytes still reads best as itself.
        bad = f"had bytes that aren't valid {_quote(declared)}; they are shown as \ufffd."
        return data.decode(codec, "replace"), bad
    try:
        # Windows-1252 before Latin-1: it is what unlabelled 8-bit mail nearly always is,
        # and it gives curly quotes where Latin-1 gives invisible control characters.
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    if declared and not codec:
        return text, f"used an unknown charset {_quote(declared)}; shown as best-effort text."
    if declared:
        return text, f"said it was {_quote(declared)} but wasn't; it was read as Western European."
    return text, "had no charset and wasn't UTF-8; it was read as Western European."


_UTF8_SEQUENCE_RE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _text_codec(name: str) -> str | None:
    """Python's canonical codec name for a text charset, or None ("base64" isn't text)."""
    if not name:
        return None
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    return info.name if info._is_text_encoding else None
