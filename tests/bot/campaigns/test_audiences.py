"""Audiences (bot.campaigns.audiences): imports of a shared CSV (small, big in the background,
the report in the sharer's language); CSV parsing: every way a file goes wrong, with the sentence the person sees,
and the Slack download that sends the bot token only to Slack's file host."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from bot.campaigns import audiences as audience_service
from bot.campaigns.audiences import download_csv, parse_audience_csv
from providers.errors import UserError
from storage.models import Suppression
from tests.support.campaigns import (
    dms,
    grant,
    wait_for_dm,
)
from tests.support.fake_slack import FakeSlack
from tests.support.harness import Harness


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


def test_the_audience_import_report_from_a_job_is_in_the_sharer_s_language(
    harness: Harness,
) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    data = b"Nombre;Email\nAna;ana@customer.example.com\nBen;not-an-address\n"
    file = h.slack.add_file("lista.csv", data)
    before = len(dms(h, "UADMIN"))
    h.client.event(
        {
            "type": "message",
            "subtype": "file_share",
            "channel": "DUADMIN",
            "channel_type": "im",
            "user": "UADMIN",
            "text": "import audience primavera",
            "ts": "1800000002.000100",
            "files": [file],
        }
    )
    wait_for_dm(h, "UADMIN", "Importando en la audiencia *primavera*", before)
    report = wait_for_dm(h, "UADMIN", "Audiencia *primavera*: añadidas 1", before)["text"]
    assert "Campos combinados: `{nombre}`." in report
    assert "Omitidas 1:" in report and "• línea 3: dirección no válida not-an-address" in report


def test_a_shared_csv_imports_with_a_report_of_every_skipped_row(campaign_app: Harness) -> None:
    h = campaign_app
    grant(h, "UALICE", "marketing")
    with h.ctx.db.session() as session:
        session.add(
            Suppression(team_id="T1", address="old@customer.example.com", reason="hard_bounce")
        )
    data = (
        b"First Name;Company;E-mail\n"
        b"Ana;Acme;ana@customer.example.com\n"
        b"Ben;Beta;not-an-address\n"
        b"Ana again;Acme;ANA@customer.example.com\n"
        b"Old;Gone;old@customer.example.com\n"
        b"Cid;;cid@customer.example.com\n"
    )
    file = h.slack.add_file("list.csv", data)
    before = len(dms(h, "UALICE"))
    h.client.event(
        {
            "type": "message",
            "subtype": "file_share",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience spring",
            "ts": "1800000001.000100",
            "files": [file],
        }
    )
    report = wait_for_dm(h, "UALICE", "added 2", before)["text"]
    assert "Merge fields: `{first_name}`, `{company}`" in report
    assert "line 3: invalid address not-an-address" in report
    assert "line 4: duplicate ana@customer.example.com" in report
    assert "line 5: suppressed old@customer.example.com" in report
    audience = audience_service.find_audience(h.ctx, "T1", "spring")
    assert audience is not None
    members = {
        m.address: json.loads(m.fields_json) for m in audience_service.members(h.ctx, audience.id)
    }
    assert members == {
        "ana@customer.example.com": {"first_name": "Ana", "company": "Acme"},
        "cid@customer.example.com": {"first_name": "Cid"},
    }
    # No contacts were imported by the contacts listener from the same file.
    assert not h.slack.ephemerals("UALICE") or all(
        "contact" not in e["text"] for e in h.slack.ephemerals("UALICE")
    )

    # A file that is not UTF-8 is refused with what to do.
    bad = h.slack.add_file(
        "latin.csv", "email,name\nana@customer.example.com,Jos\xe9\n".encode("latin-1")
    )
    before = len(dms(h, "UALICE"))
    h.client.event(
        {
            "type": "message",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience spring",
            "ts": "1800000002.000100",
            "files": [bad],
        }
    )
    assert "CSV UTF-8" in wait_for_dm(h, "UALICE", "not UTF-8", before)["text"]


def test_a_big_csv_imports_in_the_background_with_progress(campaign_app: Harness) -> None:
    h = campaign_app
    grant(h, "UALICE", "marketing")
    rows = "".join(f"p{n:05d}@customers.example.com,Name{n}\n" for n in range(12_000))
    file = h.slack.add_file("big.csv", ("email,first_name\n" + rows).encode())
    before = len(dms(h, "UALICE"))
    response = h.client.event(
        {
            "type": "message",
            "channel": "DUALICE",
            "channel_type": "im",
            "user": "UALICE",
            "text": "import audience big",
            "ts": "1800000003.000100",
            "files": [file],
        }
    )
    assert response.status_code == 200
    report = wait_for_dm(h, "UALICE", "added 12,000", before)
    assert "Skipped" not in report["text"]
    progress = [m for m in dms(h, "UALICE")[before:] if "stored" in m["text"]]
    assert len(progress) == 1 and "stored 12,000 of 12,000 addresses" in progress[0]["text"]
    assert len(h.slack.calls_to("chat.update")) >= 2  # 5,000 → 10,000 → 12,000
    audience = audience_service.find_audience(h.ctx, "T1", "big")
    assert len(audience_service.members(h.ctx, audience.id)) == 12_000
