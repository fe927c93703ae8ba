"""Our quote/signature trimming against maintained libraries, on the tests' mails.

Run: ``.venv/bin/python -m bench.quotes.compare`` (after ``pip install -e '.[compare]'``; a
library that is not installed is listed as such). Every tool gets the same body text (what
``extract_body`` hands the trimmer) and the same fallback as ``summarize`` (nothing left means
the whole text shows), so only the trimming differs. Mails: tests/support/reply_cases.py and
every non-empty mail of the corpus (tests/support/corpus.py), each with the visible text the
tests state (test_corpus.py's summaries; the whole body for corpus mails that quote nothing).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.formatting.inbound import parse_email
from bot.formatting.inbound.body import extract_body
from bot.formatting.inbound.quotes import filter_signature, trim_quoted
from tests.support.corpus import awkward_messages
from tests.support.reply_cases import REPLY_CASES

Trimmer = Callable[[str], str]

# The summaries tests/bot/formatting/test_corpus.py::test_summaries asserts.
CORPUS_SUMMARIES = {
    "reply_with_quoted_history": "Yes, Thursday works for us.",
    "outlook_reply_original_message": "Received, thank you.",
    "spanish_reply_with_accents": "Perfecto, la aprobamos mañana.",
}


@dataclass(frozen=True)
class Mail:
    name: str
    text: str
    visible: str
    has_history: bool


@dataclass
class Score:
    tool: str
    equal: int = 0
    equal_with_history: int = 0
    leaked: int = 0
    lost: int = 0
    micros: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)


def load_mails() -> list[Mail]:
    mails = [
        Mail(
            case.name,
            case.mail if isinstance(case.mail, str) else extract_body(case.mail),
            case.visible,
            case.has_history,
        )
        for case in REPLY_CASES
    ]
    for name, raw in awkward_messages():
        text = parse_email(raw).text
        if not text.strip():
            continue  # nothing to trim and nothing to lose: it would only pad every score
        expected = CORPUS_SUMMARIES.get(name)
        mails.append(Mail(f"corpus:{name}", text, expected or text, expected is not None))
    return mails


def ours(text: str) -> str:
    return filter_signature(trim_quoted(text))


def load_tools() -> dict[str, Trimmer | str]:
    """Each tool as text -> visible text, or the reason it can't run here."""
    tools: dict[str, Trimmer | str] = {"mailroom (quotes.py)": ours}
    for name, loader in LOADERS.items():
        try:
            tools[name] = loader()
        except ImportError as error:
            tools[name] = f"not installed ({error.name})"
    return tools


def _mail_parser_reply() -> Trimmer:
    from mailparser_reply import EmailReplyParser

    parser = EmailReplyParser(languages=["en", "es"])

    def trim(text: str) -> str:
        replies = parser.read(text).replies
        # .body is the reply without its header, signature and disclaimers.
        return str(replies[0].body) if replies else ""

    return trim


def _email_reply_parser() -> Trimmer:
    from email_reply_parser import EmailReplyParser

    return lambda text: str(EmailReplyParser.parse_reply(text))


def _talon() -> Trimmer:
    # talon's machine-learned signature detector needs the scikit-learn of 2017
    # (sklearn.externals.joblib); the rule-based "bruteforce" one is what still runs.
    from talon import quotations
    from talon.signature.bruteforce import extract_signature

    def trim(text: str) -> str:
        reply = str(quotations.extract_from_plain(text))
        return str(extract_signature(reply)[0])

    return trim


def _quotequail() -> Trimmer:
    import quotequail

    def trim(text: str) -> str:
        parts: list[tuple[bool, str]] = quotequail.quote(text)
        return "\n".join(part for shown, part in parts if shown)

    return trim


def _email_reply_extractor(clean: bool) -> Callable[[], Trimmer]:
    def load() -> Trimmer:
        from email_reply_extractor import clean_for_scoring, extract_new_text

        def trim(text: str) -> str:
            new: str = extract_new_text(text).text
            # Stage 2 also drops greetings and sign-offs, which we show; stage 1 keeps
            # signatures. Both are measured.
            return str(clean_for_scoring(new).text) if clean else new

        return trim

    return load


LOADERS: dict[str, Callable[[], Trimmer]] = {
    "mail-parser-reply": _mail_parser_reply,
    "email-reply-parser": _email_reply_parser,
    "talon (quotations + bruteforce signature)": _talon,
    "quotequail": _quotequail,
    "email-reply-extractor (extract_new_text)": _email_reply_extractor(clean=False),
    "email-reply-extractor (+ clean_for_scoring)": _email_reply_extractor(clean=True),
}


def normalized_lines(text: str) -> list[str]:
    """Lines without trailing spaces and with runs of blank lines as one: layout that
    Slack would not show differently."""
    lines: list[str] = []
    for line in text.strip().split("\n"):
        line = line.rstrip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return lines


def visible_text(trim: Trimmer, text: str) -> str:
    """The tool's answer with summarize's fallback: nothing left shows the whole text."""
    try:
        result = trim(text).strip()
    except Exception as error:  # a library failing on a mail scores as losing its text
        return f"<{type(error).__name__}>"
    return result or text


def score(tool: str, trim: Trimmer, mails: list[Mail], repeats: int) -> Score:
    result = Score(tool)
    for mail in mails:
        got = normalized_lines(visible_text(trim, mail.text))
        want = normalized_lines(mail.visible)
        if got == want:
            result.equal += 1
            result.equal_with_history += mail.has_history
        else:
            result.misses.append(mail.name)
        # Line sets: a quote or signature line kept is a leak, a line of the reply gone is
        # a loss; one mail can be both.
        result.leaked += bool(set(got) - set(want) - {""})
        result.lost += bool(set(want) - set(got) - {""})
        result.micros.append(_median_micros(trim, mail.text, repeats))
    return result


def _median_micros(trim: Trimmer, text: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        visible_text(trim, text)
        times.append(time.perf_counter_ns() - start)
    return statistics.median(times) / 1000


def table(scores: list[Score], unavailable: dict[str, str], mails: list[Mail]) -> str:
    with_history = sum(m.has_history for m in mails)
    rows = [
        f"| Tool | Visible text as expected (of {len(mails)}) | Of which mails with "
        f"quote or signature (of {with_history}) | Quoted text or signature leaked | "
        "Reply text lost | Median µs per mail |",
        "|---|---|---|---|---|---|",
    ]
    for s in scores:
        rows.append(
            f"| {s.tool} | {s.equal} | {s.equal_with_history} | {s.leaked} | {s.lost} | "
            f"{statistics.median(s.micros):.0f} |"
        )
    rows += [f"| {tool} | {reason} | | | | |" for tool, reason in unavailable.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per mail")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument("--misses", action="store_true", help="list the mails each tool got wrong")
    args = parser.parse_args(argv)
    mails = load_mails()
    tools = load_tools()
    unavailable = {name: tool for name, tool in tools.items() if isinstance(tool, str)}
    scores = [
        score(name, tool, mails, args.repeats)
        for name, tool in tools.items()
        if not isinstance(tool, str)
    ]
    if args.json:
        report: list[dict[str, Any]] = [
            {
                "tool": s.tool,
                "mails": len(mails),
                "equal": s.equal,
                "equal_with_history": s.equal_with_history,
                "leaked": s.leaked,
                "lost": s.lost,
                "median_us": round(statistics.median(s.micros), 1),
                "misses": s.misses,
            }
            for s in scores
        ]
        print(json.dumps({"scores": report, "unavailable": unavailable}, indent=2))
        return
    print(table(scores, unavailable, mails))
    if args.misses:
        for s in scores:
            print(f"\n{s.tool}: {', '.join(s.misses) or '-'}")


if __name__ == "__main__":
    main()
