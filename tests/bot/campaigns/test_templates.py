"""Template rendering: merge fields through Jinja's sandbox, escaping, defaults, inlined CSS."""

from __future__ import annotations

import pytest

from bot.campaigns import templates
from bot.campaigns.templates import TemplateErrors, compile_template, render, validate_template
from tests.support.rich_text import rich, section, text


def test_values_are_escaped_in_html_and_never_become_formatting_or_template_code() -> None:
    compiled = compile_template(
        "Hi {first_name|there} {{ 7*7 }}",
        "Hello *{first_name|friend}* from {company}: <https://acme.example.com|our site> {% raw %}",
    )
    out = render(
        compiled,
        {"first_name": "<img src=x onerror=alert(1)> {{ 6*6 }}", "company": "*Acme* & Co"},
        unsubscribe_url="https://m.example.com/unsubscribe/1.abc",
    )
    assert out.subject == "Hi <img src=x onerror=alert(1)> {{ 6*6 }} {{ 7*7 }}"
    assert "&lt;img src=x onerror=alert(1)&gt; {{ 6*6 }}" in out.html
    assert "<img" not in out.html and "36" not in out.html and "49" not in out.html
    assert "*Acme* &amp; Co" in out.html and "<strong>*Acme*" not in out.html
    assert '<a href="https://acme.example.com"' in out.html
    assert "{% raw %}" in out.text
    assert "Unsubscribe: https://m.example.com/unsubscribe/1.abc" in out.text


def test_defaults_fill_missing_or_empty_fields_and_underscores_are_not_italics() -> None:
    compiled = compile_template("x", "Dear {first_name|customer} {last_name}, _welcome_")
    out = render(compiled, {"first_name": ""}, unsubscribe_url="https://u.example.com/x")
    assert out.text.startswith("Dear customer , welcome")  # plain text: no Slack marks
    assert "Dear customer , <em>welcome</em>" in out.html


def test_css_is_inlined_and_the_spanish_label_is_used_for_spanish_recipients() -> None:
    out = render(
        compile_template("x", "Hola", footer_html="<table><tr><td>Acme</td></tr></table>"),
        {},
        unsubscribe_url="https://u.example.com/x?a=1&b=2",
        language="es-ES",
    )
    assert "<td>Acme</td>" in out.html
    assert 'href="https://u.example.com/x?a=1&amp;b=2"' in out.html
    assert "<style>" not in out.html and 'style="font-family' in out.html
    assert (
        "Darse de baja" in out.html and "Darse de baja: https://u.example.com/x?a=1&b=2" in out.text
    )


def test_unknown_fields_are_refused_when_saving() -> None:
    with pytest.raises(TemplateErrors) as caught:
        validate_template("t", "Hi {frist_name}", "Body {company} {plan}", {"plan"})
    assert set(caught.value.errors) == {"subject"}
    assert "Unknown field {frist_name}" in caught.value.errors["subject"]
    validate_template("t", "Hi {first_name|there}", "Body {company} {plan}", {"plan"})


def test_a_merge_value_cannot_add_a_header_through_the_subject() -> None:
    out = render(
        compile_template("Hi {first_name}", "Body"),
        {"first_name": "Ana\r\nBcc: eve@attacker.example.com\r\n"},
        unsubscribe_url="https://u.example.com/x",
    )
    assert out.subject == "Hi Ana Bcc: eve@attacker.example.com"
    assert "\r" not in out.subject and "\n" not in out.subject


def test_merge_fields_inside_rich_text_are_filled_and_escaped() -> None:
    block = rich(
        section(
            text("Hi "),
            text("{first_name|there}", bold=True),
            text(", your code: "),
            text("{code}", code=True),
        ),
        {
            "type": "rich_text_list",
            "style": "bullet",
            "elements": [section({"type": "link", "url": "https://x.test", "text": "{company}"})],
        },
    )
    body, stored = templates.rich_body(block)
    assert body == "Hi {first_name|there}, your code: {code}\n• {company} (https://x.test)"
    assert templates.rich_of(stored) == block
    # Unknown fields are refused on the body, like a mrkdwn body.
    with pytest.raises(templates.TemplateErrors) as refused:
        templates.validate_template("t", "Hello", body, set())
    assert "{code}" in refused.value.errors["body"]
    templates.validate_template("t", "Hello", body, {"code"})

    compiled = templates.compile_template("Hi {first_name|there}", body, rich=block)
    values = {"first_name": "<b>Ana</b> & co", "code": "A&B", "company": "Acme"}
    out = templates.render(compiled, values, unsubscribe_url="https://u.test/x")
    assert "Hi <strong>&lt;b&gt;Ana&lt;/b&gt; &amp; co</strong>" in out.html
    assert "<code>A&amp;B</code>" in out.html
    assert '<a href="https://x.test"' in out.html and ">Acme</a>" in out.html
    assert out.text.startswith("Hi <b>Ana</b> & co, your code: A&B\n• Acme (https://x.test)")
    assert "Unsubscribe: https://u.test/x" in out.text
    defaults = templates.render(compiled, {}, unsubscribe_url="https://u.test/x")
    assert "Hi <strong>there</strong>" in defaults.html
