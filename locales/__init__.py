"""Mailroom's own words in the reader's language: gettext catalogs managed with Babel.

The bottom layer: every other package may use it; it uses none of them.

Who reads what decides the language (README, "Languages"):
- a message to one person (ephemeral answers, modals, DMs, App Home): that person's Slack
  locale (``bot/languages.py``: ``users.info`` with ``include_locale``, cached);
- a channel post, or a message for several people: the workspace language
  (``MAILROOM_LANGUAGE``);
- a web page: the browser's ``Accept-Language``, else the workspace language.

The language in effect is a context variable: the Slack middleware and the web middleware set
it per request, Bolt's listener threads inherit it (``ContextExecutor``), and ``speaking`` sets
it for a block of work (a DM to one person from a job). Email content is never translated.

Strings are marked with ``_`` (and ``ngettext`` for counts) where they are *used*, so they are
translated at that moment; a module-level constant is marked with ``N_`` (extracted, not
translated) and passed through ``_`` at its use.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from functools import cache, partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs

from babel import Locale, UnknownLocaleError, dates, lists, numbers
from babel.core import negotiate_locale
from babel.support import NullTranslations, Translations

log = logging.getLogger(__name__)

DOMAIN = "mailroom"
LOCALE_DIR = Path(__file__).resolve().parent
# The languages with complete catalogs. English is the source language (the msgids).
LANGUAGES = ("en", "es")
SOURCE_LANGUAGE = "en"

_language: contextvars.ContextVar[str | None] = contextvars.ContextVar("language", default=None)
# Who this request is for, asked only when something is said (a Slack request needs a
# users.info round trip to know; most events say nothing to anyone).
_reader: contextvars.ContextVar[Callable[[], str] | None] = contextvars.ContextVar(
    "reader", default=None
)
_workspace_language = SOURCE_LANGUAGE

P = ParamSpec("P")
R = TypeVar("R")


def language_of(tag: str | None) -> str | None:
    """The supported language of a locale tag (Slack's ``es-ES``, ``es-LA``, a browser's
    ``es-419``), or None when Mailroom does not speak it."""
    if not tag:
        return None
    # The language part decides: Slack's "es-LA" (Latin America) is no CLDR locale.
    language = tag.replace("-", "_").split("_")[0]
    try:
        parsed = Locale.parse(language)
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return parsed.language if parsed.language in LANGUAGES else None


def set_workspace_language(language: str) -> None:
    """``MAILROOM_LANGUAGE``: channel posts, jobs, and anyone whose language is unknown."""
    global _workspace_language
    _workspace_language = language_of(language) or SOURCE_LANGUAGE


def workspace_language() -> str:
    return _workspace_language


def current_language() -> str:
    chosen = _language.get()
    if chosen:
        return chosen
    reader = _reader.get()
    return (reader() if reader is not None else None) or _workspace_language


def read_by(language_of_reader: Callable[[], str]) -> None:
    """For the rest of this request: the language ``language_of_reader`` answers, asked the
    first time something is translated and remembered (Slack middleware)."""
    _language.set(None)
    _reader.set(cache(language_of_reader))


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """The language of a block of work, e.g. a DM to one person from a background job;
    None: the workspace language."""
    token = _language.set(language_of(language))
    reader_token = _reader.set(None)
    try:
        yield
    finally:
        _reader.reset(reader_token)
        _language.reset(token)


@cache
def translations(language: str) -> NullTranslations:
    """The compiled catalog of ``language`` (locales/<lang>/LC_MESSAGES/mailroom.mo)."""
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    loaded = Translations.load(str(LOCALE_DIR), [language], DOMAIN)
    if not isinstance(loaded, Translations):
        # A missing catalog is a packaging bug: say so once, and fall back to English.
        log.error("no compiled %s catalog in %s; showing English", language, LOCALE_DIR)
    return loaded


def _(message: str) -> str:
    """``message`` in the current language (its English text when there is no translation)."""
    return translations(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for ``n`` in the current language's plural rules."""
    return translations(current_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a constant for extraction; translate it with ``_`` where it is shown."""
    return message


def format_number(value: float) -> str:
    """``1,234`` in English, ``1234`` / ``12.345`` in Spanish (Babel's CLDR data)."""
    return numbers.format_decimal(value, locale=current_language())


def format_list(items: list[str]) -> str:
    """``Google and Microsoft`` / ``Google y Microsoft``: a list joined as the language does."""
    return lists.format_list(items, locale=current_language())


def weekday_name(day: int) -> str:
    """Monday is 0: ``Mon`` / ``lun`` (abbreviated, as the language writes it)."""
    return str(dates.get_day_names("abbreviated", locale=current_language())[day])


def format_datetime(value: datetime, fmt: str = "medium") -> str:
    return dates.format_datetime(value, format=fmt, locale=current_language())


def format_date(value: datetime, fmt: str = "medium") -> str:
    return dates.format_date(value, format=fmt, locale=current_language())


def negotiate(accept_language: str | None) -> str | None:
    """The best supported language of an HTTP ``Accept-Language`` header, in its order."""
    if not accept_language:
        return None
    wanted = []
    for part in accept_language.split(","):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            wanted.append((quality, tag.replace("-", "_")))
    ordered = [tag for _q, tag in sorted(wanted, key=lambda item: -item[0])]
    # Babel matches "es_ES" to "es" (and "es" alone); aliases are not wanted here.
    found = negotiate_locale(ordered, list(LANGUAGES), aliases={})
    if found:
        return language_of(found)
    for tag in ordered:  # "es-419", "es-MX": the language part is enough
        language = language_of(tag.split("_")[0])
        if language:
            return language
    return None


class ContextExecutor(ThreadPoolExecutor):
    """Runs each task in a copy of the submitter's context, so a Bolt listener (run on this
    pool) sees the language the request's middleware chose."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        return super().submit(partial(contextvars.copy_context().run, fn, *args, **kwargs))


class LanguageMiddleware:
    """ASGI middleware for the web pages people open (sign-in results, consent, unsubscribe):
    the browser's ``Accept-Language``, else the link's ``lang`` parameter, else the workspace
    language."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        accept = headers.get(b"accept-language", b"").decode("latin-1")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        language = negotiate(accept) or language_of((query.get("lang") or [""])[0])
        token = _language.set(language)
        try:
            await self.app(scope, receive, send)
        finally:
            _language.reset(token)


_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def catalog_problems() -> list[str]:
    """What is wrong with the catalogs: a message of the template that a language does not
    translate (or only fuzzily), a translation whose {placeholders} differ from the
    original's, or a compiled .mo older than its .po."""
    from babel.messages.pofile import read_po

    problems: list[str] = []
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("rb") as handle:
        template = read_po(handle)
    wanted = {message.id for message in template if message.id}
    for language in LANGUAGES:
        po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        mo = po.with_suffix(".mo")
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime - 1:
            problems.append(f"{language}: {mo.name} is missing or older than {po.name}")
        for key in wanted:
            message = catalog.get(key)
            given = message.string if message is not None else None
            # A plural message is translated when every one of its forms is.
            strings = [given] if isinstance(given, str) else [str(p) for p in given or ()]
            if message is None or not all(strings) or not strings or "fuzzy" in message.flags:
                problems.append(f"{language}: no translation for {key!r}")
                continue
            originals = [str(part) for part in (key if isinstance(key, tuple) else (key,))]
            expected = set(_PLACEHOLDER.findall(" ".join(originals)))
            for text in strings:
                if not text or set(_PLACEHOLDER.findall(text)) != expected:
                    problems.append(f"{language}: placeholders differ in {key!r}: {text!r}")
    return problems
