"""Footer validation and rendering, as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.preferences.footers import (
    FooterErrors,
    FooterForm,
    TagValues,
    parse_footer_form,
    render_footer,
)

TAGS = TagValues(
    sender_name="Ana <Boss>",
    sender_email="ana@acme.test",
    mailbox_name="Acme Sales",
    mailbox_email="sales@acme.test",
    when=datetime(2031, 5, 6, tzinfo=UTC),
)


def form(**values: str) -> dict[str, str]:
    return {"format": "plain", **values}


def test_valid_form_normalises_colours_and_defaults() -> None:
    parsed = parse_footer_form(
        form(
            text="Hi {sender_name}",
            text_color="#ABC",
            link_color="",
            linkedin="https://www.linkedin.com/company/acme",
        )
    )
    assert parsed.text_color == "#abc" and parsed.link_color == "#1a73e8"
    assert parsed.linkedin == "https://www.linkedin.com/company/acme"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "Thanks, {signature}"),
        ("text", "{SENDER_NAME}"),
        ("background_color", "#12345"),
        ("link_color", "rgb(0,0,0)"),
        ("instagram", "https://instagram.com.evil.test/acme"),
        ("x", "x.com/acme"),
        ("facebook", "https://facebook.com/a b"),
        ("format", "html"),
    ],
)
def test_each_bad_field_is_reported_on_its_own_block(field: str, value: str) -> None:
    with pytest.raises(FooterErrors) as caught:
        parse_footer_form(form(**{field: value}))
    assert list(caught.value.errors) == [field]


def test_plain_footer_escapes_html_and_fills_tags() -> None:
    rendered = render_footer(
        FooterForm(text="<b>{sender_name}</b>\n{mailbox_email} {year} {date}"), TAGS
    )
    assert rendered.text == "<b>Ana <Boss></b>\nsales@acme.test 2031 2031-05-06"
    assert "&lt;b&gt;Ana &lt;Boss&gt;&lt;/b&gt;<br>" in rendered.html
    assert "<b>" not in rendered.html


def test_rich_footer_formats_but_tag_values_stay_text() -> None:
    footer = FooterForm(
        text="*{sender_name}* _team_ <https://acme.test|site> <javascript:x|bad>",
        format="rich",
        link_color="#ff0000",
        company="A&B",
    )
    rendered = render_footer(footer, TagValues(sender_name="*not bold* <https://evil.test|x>"))
    assert "<strong>*not bold* &lt;https://evil.test|x&gt;</strong>" in rendered.html
    assert "<em>team</em>" in rendered.html
    assert '<a style="color:#ff0000;" href="https://acme.test">site</a>' in rendered.html
    assert 'href="javascript' not in rendered.html and "bad (javascript:x)" in rendered.html
    assert "site (https://acme.test)" in rendered.text


def test_social_links_and_colours_are_inlined() -> None:
    footer = FooterForm(
        text="",
        background_color="#000000",
        text_color="#eeeeee",
        x="https://x.com/acme",
        instagram="https://instagram.com/acme",
    )
    rendered = render_footer(footer, TAGS)
    assert rendered.text == "X: https://x.com/acme\nInstagram: https://instagram.com/acme"
    assert "background-color:#000000" in rendered.html and "color:#eeeeee" in rendered.html
    assert 'href="https://x.com/acme"' in rendered.html and "&middot;" in rendered.html


def test_empty_footer_renders_nothing() -> None:
    assert render_footer(FooterForm(text="  "), TAGS).html == ""
