"""The rich text editor's ``rich_text`` block as a mail's HTML and plain-text parts."""

from __future__ import annotations

import html

import pytest

from bot.formatting.rich_text import rich_text_to_html, rich_text_to_plain
from tests.support.rich_text import rich, section, text


def test_styles_lists_quotes_code_emoji_and_mentions() -> None:
    block = rich(
        section(
            text("Hi "),
            text("bold", bold=True),
            text(" "),
            text("it", italic=True),
            text(" "),
            text("gone", strike=True),
            text(" "),
            text("x = 1", code=True),
            text(" "),
            text("all", bold=True, italic=True),
            {"type": "emoji", "name": "tada", "unicode": "1f389"},
            {"type": "emoji", "name": "flag-us", "unicode": "1f1fa-1f1f8"},
            {"type": "emoji", "name": "wave"},
            {"type": "emoji", "name": "custom_logo"},
            text("\n"),
        ),
        {
            "type": "rich_text_list",
            "style": "bullet",
            "elements": [section(text("one")), section(text("two"))],
        },
        {
            "type": "rich_text_list",
            "style": "bullet",
            "indent": 1,
            "elements": [section(text("two a"))],
        },
        {
            "type": "rich_text_list",
            "style": "ordered",
            "elements": [section(text("first")), section(text("second"))],
        },
        {"type": "rich_text_quote", "elements": [text("quoted\nlines")]},
        {"type": "rich_text_preformatted", "elements": [text("code *stays*\n  indented")]},
        section(
            {"type": "user", "user_id": "U123"},
            text(" in "),
            {"type": "channel", "channel_id": "C9"},
            text(" "),
            {"type": "broadcast", "range": "here"},
            text(" "),
            {"type": "usergroup", "usergroup_id": "S1"},
            text(" "),
            {"type": "date", "timestamp": 1, "format": "{date}", "fallback": "Jan 1"},
            {"type": "something_new", "text": "?"},
        ),
    )
    out = rich_text_to_html(block, lambda uid: {"U123": "Ana"}.get(uid, ""))
    assert (
        "<p>Hi <strong>bold</strong> <em>it</em> <s>gone</s> <code>x = 1</code> "
        "<strong><em>all</em></strong>🎉🇺🇸👋:custom_logo:</p>"
    ) in out
    assert "<ul><li>one</li><li>two</li></ul>" in out
    assert '<ul style="margin-left:24px"><li>two a</li></ul>' in out
    assert "<ol><li>first</li><li>second</li></ol>" in out
    assert "<blockquote>quoted<br>\nlines</blockquote>" in out
    assert "<pre>code *stays*<br>\n  indented</pre>" in out
    assert "<p>@Ana in #C9 @here @S1 Jan 1</p>" in out

    plain = rich_text_to_plain(block, lambda uid: {"U123": "Ana"}.get(uid, ""))
    assert plain.splitlines() == [
        "Hi bold it gone x = 1 all🎉🇺🇸👋:custom_logo:",
        "• one",
        "• two",
        "   • two a",
        "1. first",
        "2. second",
        "> quoted",
        "> lines",
        "code *stays*",
        "  indented",
        "@Ana in #C9 @here @S1 Jan 1",
    ]


def test_links_only_http_https_and_mailto_are_clickable() -> None:
    block = rich(
        section(
            {"type": "link", "url": "https://example.com/a?b=1&c=2", "text": "site"},
            text(" "),
            {"type": "link", "url": "mailto:ana@example.com"},
            text(" "),
            {"type": "link", "url": "javascript:alert(1)", "text": "click me"},
            text(" "),
            {"type": "link", "url": " JavaScript:alert(document.cookie)"},
            text(" "),
            {"type": "link", "url": "data:text/html,<script>x</script>", "text": "data"},
            text(" "),
            {"type": "link", "url": 'https://x.test/"onmouseover="alert(1)', "text": "q"},
            text(" "),
            {"type": "link", "url": "https://bold.test", "text": "b", "style": {"bold": True}},
        )
    )
    out = rich_text_to_html(block)
    assert '<a href="https://example.com/a?b=1&amp;c=2">site</a>' in out
    assert '<a href="mailto:ana@example.com">ana@example.com</a>' in out
    assert "javascript" not in out.lower().replace(" javascript:alert(document.cookie)", "")
    assert out.count("<a ") == 4
    assert 'href="javascript' not in out.lower() and 'href="data' not in out.lower()
    assert "click me" in out and "<script>" not in out
    assert '<a href="https://x.test/&quot;onmouseover=&quot;alert(1)">q</a>' in out
    assert '<a href="https://bold.test"><strong>b</strong></a>' in out
    plain = rich_text_to_plain(block)
    assert "site (https://example.com/a?b=1&c=2)" in plain
    assert "ana@example.com" in plain and "click me" in plain
    assert "javascript:" not in plain.lower().replace("javascript:alert(document.cookie)", "")


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('x')</script>",
        '"><img src=x onerror=alert(1)>',
        'Tom & Jerry\'s "quote" <b>not bold</b>',
        "&lt;already escaped&gt; &amp;",
    ],
)
def test_every_text_is_escaped(hostile: str) -> None:
    block = rich(
        section(text(hostile), text(hostile, bold=True)),
        {"type": "rich_text_list", "style": "bullet", "elements": [section(text(hostile))]},
        {"type": "rich_text_quote", "elements": [text(hostile)]},
        {"type": "rich_text_preformatted", "elements": [text(hostile)]},
        section({"type": "link", "url": "https://x.test", "text": hostile}),
        section({"type": "emoji", "name": hostile}),
        section({"type": "user", "user_id": hostile}),
        section({"type": "date", "timestamp": 1, "fallback": hostile}),
    )
    out = rich_text_to_html(block)
    for tag in ("<script", "<img", "<b>", "onerror=alert(1)>"):
        assert tag not in out
    assert html.escape(hostile, quote=True) in out  # shown as typed, entities included
    # The plain-text part is text: shown exactly as typed.
    assert hostile in rich_text_to_plain(block)


def test_malformed_blocks_do_not_fail() -> None:
    for block in (
        None,
        {},
        {"type": "rich_text"},
        {"type": "rich_text", "elements": "nope"},
        rich({"type": "rich_text_section", "elements": [None, 3, {"type": "text"}]}),
        rich({"type": "rich_text_list", "style": "ordered", "offset": "x", "elements": [{}]}),
        rich(section({"type": "emoji", "unicode": "zzzz", "name": "smile"})),
        rich(section({"type": "link"})),
    ):
        rich_text_to_html(block)
        rich_text_to_plain(block)
    assert rich_text_to_html(rich(section({"type": "emoji", "unicode": "zz", "name": "smile"})))
