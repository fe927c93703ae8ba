"""CSV parsing for audiences: every way a file goes wrong, with the sentence the person sees,
and the Slack download that sends the bot token only to Slack's file host."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from bot.campaigns.audiences import download_csv, parse_audience_csv
from providers.errors import UserError
from tests.support.fake_slack import FakeSlack


def test_the_address_column_is_found_by_header_and_other_columns_become_fields() -> None:
    result = parse_audience_csv(
        b"Name,Correo,First Name,Company\nAna P,ana@customer.example.com,Ana,Acme\n"
    )
    assert [(r.address, r.fields) for r in result.rows] == [
        ("ana@customer.example.com", {"name": "Ana P", "first_name": "Ana", "company": "Acme"})
    ]
    assert result.fields == ["name", "first_name", "company"]


def test_international_domains_are_stored_in_their_ascii_form() -> None:
    result = parse_audience_csv("email\nJosé@Müller.example.com\nana@müller.example.com\n".encode())
    assert [r.address for r in result.rows] == [
        "josé@müller.example.com",
        "ana@xn--mller-kva.example.com",
    ]


def test_without_a_header_the_column_holding_addresses_is_used() -> None:
    result = parse_audience_csv(b"Ana;ana@customer.example.com\nBen;ben@customer.example.com\n")
    assert [r.address for r in result.rows] == [
        "ana@customer.example.com",
        "ben@customer.example.com",
    ]
    assert result.fields == []


def test_invalid_and_duplicate_rows_are_reported_with_their_line_and_reason() -> None:
    data = (
        "\ufeffemail,first_name\n"
        "ana@customer.example.com,Ana\n"
        "ana@@customer.example.com,Bad\n"
        "ANA@Customer.Example.com,Dup\n"
        ",NoAddress\n"
        "\n"
        "ben@customer.example.com,Ben\n"
    ).encode()
    result = parse_audience_csv(data)
    assert [r.address for r in result.rows] == [
        "ana@customer.example.com",
        "ben@customer.example.com",
    ]
    assert [(line, value) for line, value, _ in result.invalid] == [
        (3, "ana@@customer.example.com"),
        (5, ""),
    ]
    assert result.invalid[1][2] == "no address"
    assert result.duplicates == [(4, "ana@customer.example.com")]
    assert result.empty_lines == 1


def test_a_file_that_is_not_utf8_is_refused_naming_the_line() -> None:
    data = "email,name\nana@customer.example.com,Ana\nben@customer.example.com,Jos\xe9\n".encode(
        "latin-1"
    )
    with pytest.raises(UserError) as caught:
        parse_audience_csv(data)
    assert "not UTF-8" in caught.value.message and "line 3" in caught.value.message
    assert "CSV UTF-8" in caught.value.message


def test_a_file_without_an_address_column_is_refused() -> None:
    with pytest.raises(UserError) as caught:
        parse_audience_csv(b"name,company\nAna,Acme\nBen,Beta\n")
    assert "could not find the email address column" in caught.value.message
    assert "Nothing was imported" in caught.value.message


def _ctx(fake: FakeSlack) -> SimpleNamespace:
    return SimpleNamespace(
        settings=SimpleNamespace(slack_api_url=fake.base_url, slack_bot_token="xoxb-secret-token")
    )


def test_download_uses_the_token_only_on_slack_hosts(slack_fake: FakeSlack) -> None:
    file = slack_fake.add_file("list.csv", b"email\nana@customer.example.com\n")
    assert download_csv(_ctx(slack_fake), file) == b"email\nana@customer.example.com\n"

    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", file["url_private"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        elsewhere = dict(file, url_private_download=f"http://127.0.0.1:{server.server_port}/f.csv")
        with pytest.raises(UserError) as caught:
            download_csv(_ctx(slack_fake), elsewhere)
        assert "is not stored in Slack" in caught.value.message
        assert seen == []  # the other host was never even asked
    finally:
        server.shutdown()


def test_download_refuses_a_file_over_the_size_cap(slack_fake: FakeSlack) -> None:
    file = slack_fake.add_file("big.csv", b"email\n" + b"a@customer.example.com\n" * 100)
    with pytest.raises(UserError) as caught:
        download_csv(_ctx(slack_fake), dict(file, size=0), max_bytes=1000)
    assert "larger than" in caught.value.message
