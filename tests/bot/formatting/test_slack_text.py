"""The escaping utility and the Slack -> email conversions, fed hostile input."""

from __future__ import annotations

import pytest

from bot.formatting.slack_text import (
    code_span,
    escape,
    quote_block,
    slack_to_html,
    slack_to_plain,
    split_escaped,
    truncate,
    unescape,
)

USERS = {"U123": "Ana Pérez", "U2": "Bob <script>"}
CHANNELS = {"C1": "general"}


def user(uid: str) -> str:
    return USERS[uid]


def channel(cid: str) -> str:
    return CHANNELS[cid]


def plain(text: str) -> str:
    return slack_to_plain(text, user, channel)


def to_html(text: str) -> str:
    return slack_to_html(text, user, channel)


# --- escape ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U123>",
        "<#C1>",
        "<!subteam^S1|@admins>",
        "<https://evil.example|https://bank.example>",
        "<<!channel>>",
    ],
)
def test_escape_leaves_no_control_sequence(hostile: str) -> None:
    escaped = escape(f"hi {hostile} bye")
    assert "<" not in escaped and ">" not in escaped
    assert unescape(escaped) == f"hi {hostile} bye"


def test_escape_handles_ampersand_first() -> None:
    assert escape("a & <b>") == "a &amp; &lt;b&gt;"
    # Text that already looks escaped is shown exactly as the sender typed it.
    assert escape("&lt;!channel&gt;") == "&amp;lt;!channel&amp;gt;"
    assert unescape(escape("&lt;!channel&gt;")) == "&lt;!channel&gt;"


# --- truncate --------------------------------------------------------------------------------


def test_truncate_keeps_short_text() -> None:
    assert truncate("hello", 5) == "hello"


def test_truncate_respects_limit_and_marker() -> None:
    out = truncate("abcdefghij", 6)
    assert out == "abcde…"
    assert len(out) <= 6


@pytest.mark.parametrize("limit", range(1, 30))
def test_truncate_never_splits_an_entity(limit: int) -> None:
    escaped = escape("R&D <team> & co " * 3)
    out = truncate(escaped, limit)
    assert len(out) <= limit
    body = out.removesuffix("…")
    # Every & starts a whole entity; no dangling "&am" or "&l".
    for i, ch in enumerate(body):
        if ch == "&":
            assert body[i:].startswith(("&amp;", "&lt;", "&gt;")), body


def test_truncate_never_splits_a_surrogate_pair() -> None:
    # Text decoded with surrogatepass (e.g. from UTF-16 JSON) holds an emoji as two halves.
    text = "ab" + "\ud83d\ude00" + "cdef"
    out = truncate(text, 4)
    assert not out.removesuffix("…").endswith("\ud83d")
    assert out == "ab…"


def test_truncate_does_not_end_on_a_zero_width_joiner() -> None:
    family = "👨\u200d👩\u200d👧"
    out = truncate(family + " and more text", 4)
    assert "\u200d…" not in out


def test_truncate_with_tiny_limits() -> None:
    assert truncate("abcdef", 0) == ""
    assert len(truncate("abcdef", 1)) == 1


@pytest.mark.parametrize("size", [6, 7, 8, 11, 50])
def test_split_escaped_keeps_entities_whole(size: int) -> None:
    escaped = escape("<a> & <b> " * 20)
    pieces = split_escaped(escaped, size)
    assert "".join(pieces) == escaped
    for piece in pieces:
        assert 0 < len(piece) <= size
        assert not piece.endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt"))
    assert split_escaped("", 10) == [""]


def test_quote_block_and_code_span() -> None:
    assert quote_block("a\nb") == ">a\n>b"
    assert code_span("x`y") == "`x\u02cby`"


# --- slack_to_plain --------------------------------------------------------------------------


def test_plain_mentions_and_channels() -> None:
    text = "Hi <@U123>, see <#C1|general> and <#C1> <!here> <!channel> <!everyone>"
    assert plain(text) == "Hi @Ana Pérez, see #general and #general @here @channel @everyone"


def test_plain_links() -> None:
    assert plain("<https://x.com|the site>") == "the site (https://x.com)"
    assert plain("<https://x.com>") == "https://x.com"
    assert plain("<https://x.com|https://x.com>") == "https://x.com"
    assert plain("<mailto:a@b.c|a@b.c>") == "a@b.c"
    assert plain("<mailto:a@b.c|Ana>") == "Ana (a@b.c)"


def test_plain_unescapes_entities_last() -> None:
    # The person typed "<@U123>" literally; Slack sent it escaped. It must stay text.
    assert plain("a &lt;@U123&gt; &amp; b") == "a <@U123> & b"
    assert plain("&amp;lt;") == "&lt;"


def test_plain_drops_slack_formatting_marks() -> None:
    # Issue 10: the HTML part was right, the text part showed Slack's asterisks.
    assert plain("it is *50 EUR* a month, _really_ ~not~ cheap") == (
        "it is 50 EUR a month, really not cheap"
    )
    assert plain("*see <https://x.com|the site>*") == "see the site (https://x.com)"
    assert plain("*<@U123>* said") == "@Ana Pérez said"


def test_plain_keeps_marks_that_are_not_formatting() -> None:
    assert plain("snake_case_name 2*3*4 a * b") == "snake_case_name 2*3*4 a * b"
    assert plain("run `rm *.tmp* _x_` now") == "run `rm *.tmp* _x_` now"
    assert plain("```\n*stays* &lt;b&gt;\n```") == "```\n*stays* <b>\n```"
    # A link whose label looks like a mark is the person's text, not formatting.
    assert plain("<https://x.com|*x*>") == "*x* (https://x.com)"


def test_plain_survives_failing_resolvers() -> None:
    def broken(_: str) -> str:
        raise RuntimeError("users.info is down")

    assert slack_to_plain("hi <@U9|ana>", broken) == "hi @ana"
    assert slack_to_plain("hi <@U9>", broken) == "hi @U9"
    assert slack_to_plain("<#C9>", broken) == "#C9"


def test_plain_special_commands_use_fallback_text() -> None:
    assert plain("<!date^1392734382^{date}|Feb 18, 2014>") == "Feb 18, 2014"
    assert plain("<!subteam^S1|@admins>") == "@admins"


# --- slack_to_html ---------------------------------------------------------------------------


def test_html_formatting_round_trip() -> None:
    out = to_html("*bold* _italic_ ~gone~ `x < y` and snake_case_name 2*3*4")
    assert "<strong>bold</strong>" in out
    assert "<em>italic</em>" in out
    assert "<del>gone</del>" in out
    assert "<code>x &lt; y</code>" in out
    assert "snake_case_name" in out and "2*3*4" in out


def test_html_pre_block_keeps_marks_literal() -> None:
    out = to_html("before\n```\n*not bold*\n&lt;b&gt;\n```\nafter")
    assert "<pre>*not bold*\n&lt;b&gt;</pre>" in out
    assert "<strong>" not in out


def test_html_escapes_everything_the_person_typed() -> None:
    out = to_html("&lt;script&gt;alert(1)&lt;/script&gt; &amp; <@U2>")
    assert "<script>" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in out
    # A display name from Slack is text too.
    assert "<strong>@Bob &lt;script&gt;</strong>" in out


def test_html_links_only_for_safe_schemes() -> None:
    out = to_html("<https://x.com/a?b=1&amp;c=2|site> <mailto:a@b.c|mail me>")
    assert '<a href="https://x.com/a?b=1&amp;c=2">site</a>' in out
    assert '<a href="mailto:a@b.c">mail me</a>' in out
    hostile = to_html("<javascript:alert(1)|click> <data:text/html,x|x> <vbscript:x>")
    assert "<a " not in hostile
    assert "click (javascript:alert(1))" in hostile


def test_html_link_attribute_cannot_break_out() -> None:
    out = to_html('<https://x.com/"onmouseover="alert(1)|x>')
    assert '"onmouseover' not in out
    assert "&quot;onmouseover=&quot;" in out


def test_html_quotes_and_newlines() -> None:
    out = to_html("Hello\n&gt; quoted one\n&gt; quoted two\nreply")
    assert out == ("Hello<br>\n<blockquote>quoted one<br>quoted two</blockquote>\nreply")
    assert to_html("a\nb") == "a<br>\nb"


def test_html_triple_quote_quotes_the_rest() -> None:
    out = to_html("intro\n&gt;&gt;&gt; all\nof this")
    assert out == "intro<br>\n<blockquote>all<br>of this</blockquote>"


def test_html_placeholder_characters_in_input_are_harmless() -> None:
    out = to_html("\ue0000\ue001 <@U123>")
    assert "@Ana Pérez" in out
    assert "\ue000" not in out


def test_html_mentions() -> None:
    out = to_html("hi <@U123> in <#C1> <!here>")
    assert (
        out == "hi <strong>@Ana Pérez</strong> in <strong>#general</strong> <strong>@here</strong>"
    )
