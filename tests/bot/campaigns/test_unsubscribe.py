"""Unsubscribing (bot.campaigns.unsubscribe): the one-click POST, the mailto address, the page
in the browser's language, and the page in a real headless Chromium: it renders under its strict CSP, shows
the escaped address and a button, loading it (as a link scanner would) unsubscribes nobody,
and pressing the button (driven over the DevTools protocol) does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
import websockets
from sqlmodel import select

from bot.campaigns.unsubscribe import make_token
from storage.models import CampaignRecipient, Suppression
from tests.support.campaigns import (
    add_campaign,
    answer,
    campaign_row,
    campaign_setup,
    start_campaign,
    suppressed,
)
from tests.support.harness import Harness, make_email
from tests.support.mail_servers import free_port
from tests.support.wait import wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(harness: Harness) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(harness.mailroom.web, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="the web app listening")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI=true (apt-get install -y chromium).")
        pytest.skip("Chromium is not installed")
    return CHROMIUM


def recipient_token(h: Harness) -> str:
    mailbox = h.connect(h.new_account(), user="UADMIN", kind="marketing")
    with h.ctx.db.session() as session:
        campaign = add_campaign(session, mailbox.id, subject="s", body="b", state="done")
        row = CampaignRecipient(
            campaign_id=campaign.id, address="o'hara+<b>x</b>@customer.example.com"
        )
        session.add(row)
        session.flush()
        return make_token(h.ctx, campaign.id, row.id, row.address)


def test_the_get_page_renders_in_chromium_and_unsubscribes_nobody(
    harness: Harness, served: str, tmp_path: object
) -> None:
    chromium = require_chromium()
    h = harness
    token = recipient_token(h)
    profile = tmp_path / "chromium"  # type: ignore[operator]
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            f"{served}/unsubscribe/{token}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert '<form method="post"' in dom and "<button" in dom and ">Unsubscribe</button>" in dom
    assert "o'hara+&lt;b&gt;x&lt;/b&gt;@customer.example.com" in dom
    assert "<b>x</b>" not in dom
    with h.ctx.db.session() as session:
        assert session.exec(select(Suppression)).all() == []


def test_pressing_the_button_in_chromium_unsubscribes(
    harness: Harness, served: str, tmp_path: object
) -> None:
    chromium = require_chromium()
    h = harness
    token = recipient_token(h)
    port = free_port()
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-cdp'}",  # type: ignore[operator]
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        pages = wait_until(lambda: _pages(port), timeout=30, message="Chromium's DevTools")
        text = asyncio.run(
            _press_button(pages[0]["webSocketDebuggerUrl"], f"{served}/unsubscribe/{token}")
        )
    finally:
        browser.terminate()
        browser.wait(10)
    assert "is unsubscribed" in text
    with h.ctx.db.session() as session:
        assert [s.reason for s in session.exec(select(Suppression))] == ["unsubscribed"]


def _pages(port: int) -> list[dict] | None:
    try:
        pages = httpx.get(f"http://127.0.0.1:{port}/json", timeout=1).json()
    except (httpx.HTTPError, ValueError):
        return None
    return [p for p in pages if p.get("type") == "page"] or None


async def _press_button(ws_url: str, url: str) -> str:
    """Open the page, click its button, and return the text of the page that follows."""
    async with websockets.connect(ws_url, max_size=None) as ws:
        ids = iter(range(1, 1000))

        async def call(method: str, **params: object) -> dict:
            message_id = next(ids)
            await ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
            for _ in range(1000):  # bounded: events may come before our answer
                answer = json.loads(await asyncio.wait_for(ws.recv(), 20))
                if answer.get("id") == message_id:
                    return answer.get("result") or {}
            raise AssertionError(f"no answer to {method}")

        async def evaluate(expression: str) -> object:
            result = await call("Runtime.evaluate", expression=expression, returnByValue=True)
            return (result.get("result") or {}).get("value")

        await call("Page.navigate", url=url)
        for _ in range(200):
            if await evaluate("document.querySelector('button') !== null"):
                break
            await asyncio.sleep(0.05)
        await evaluate("document.querySelector('button').click()")
        for _ in range(200):
            text = await evaluate("document.body ? document.body.innerText : ''")
            if isinstance(text, str) and "unsubscribed" in text:
                return text
            await asyncio.sleep(0.05)
        return str(await evaluate("document.documentElement.outerHTML"))


def test_the_unsubscribe_page_speaks_the_browser_s_language(harness: Harness) -> None:
    h = harness
    token = recipient_token(h)
    web = h.client.client  # the TestClient on the app

    page = web.get(f"/unsubscribe/{token}", headers={"Accept-Language": "es-ES,es;q=0.9"})
    assert page.status_code == 200
    assert '<html lang="es">' in page.text
    assert "¿Quieres dejar de recibir correos de" in page.text
    assert ">Darme de baja</button>" in page.text
    # The address is still escaped; the answer page keeps the language.
    assert "o&#x27;hara+&lt;b&gt;x&lt;/b&gt;@customer.example.com" in page.text
    assert f'action="/unsubscribe/{token}?lang=es"' in page.text

    english = web.get(f"/unsubscribe/{token}", headers={"Accept-Language": "en-US"})
    assert '<html lang="en">' in english.text and "Stop receiving emails from" in english.text

    bad = web.get("/unsubscribe/1." + "0" * 32, headers={"Accept-Language": "es"})
    assert bad.status_code == 404 and '<html lang="es">' in bad.text
    assert "Este enlace para darte de baja no es válido" in bad.text


def test_one_click_post_unsubscribes_and_the_get_page_only_asks(campaign_app: Harness) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(
        h, ["ana@customer.example.com", "ben@customer.example.com"]
    )
    campaign_id = start_campaign(h, mailbox_id, audience_id, template_id)
    mails = h.smtp.wait_for_messages(2, timeout=30)
    ana = next(m for m in mails if m.recipients == ["ana@customer.example.com"])
    url = str(ana.message["List-Unsubscribe"]).strip().split(">")[0].lstrip("<")
    path = url.removeprefix("http://testserver")
    web = h.client.client  # the TestClient on the app

    page = web.get(path)
    assert page.status_code == 200
    assert "ana@customer.example.com" in page.text and '<form method="post"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert not suppressed(h)  # a link scanner's GET changes nothing

    tampered = path[:-1] + ("0" if path[-1] != "0" else "1")
    assert web.post(tampered, content="List-Unsubscribe=One-Click").status_code == 404
    assert not suppressed(h)

    done = web.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "is unsubscribed" in done.text
    assert suppressed(h) == {"ana@customer.example.com": "unsubscribed"}
    with h.ctx.db.session() as session:
        assert session.exec(select(Suppression)).one().campaign_id == campaign_id

    # The next campaign to the same audience skips her.
    before = len(h.smtp.messages)
    second = start_campaign(h, mailbox_id, audience_id, template_id)
    wait_until(lambda: campaign_row(h, second).state == "done", timeout=30, message="second done")
    assert [m.recipients for m in h.smtp.messages[before:]] == [["ben@customer.example.com"]]


def test_the_mailto_unsubscribe_works_and_admins_can_list_and_remove_entries(
    campaign_app: Harness,
) -> None:
    h = campaign_app
    mailbox_id, audience_id, template_id = campaign_setup(h, ["ana@customer.example.com"])
    start_campaign(h, mailbox_id, audience_id, template_id)
    [mail] = h.smtp.wait_for_messages(1, timeout=30)
    header = " ".join(str(mail.message["List-Unsubscribe"]).split())
    mailto = header.split("<mailto:", 1)[1].rstrip(">")
    address, _, query = mailto.partition("?subject=")
    subject = query.replace("%20", " ")
    assert subject.startswith("unsubscribe ")
    h.dovecot.append(
        address, make_email(sender="ana@customer.example.com", to=address, subject=subject)
    )
    # A forged token in the same form changes nothing.
    h.dovecot.append(
        address,
        make_email(
            sender="eve@customer.example.com", to=address, subject="unsubscribe 1." + "0" * 32
        ),
    )
    h.sync(mailbox_id)
    wait_until(lambda: suppressed(h), message="the mailto unsubscribe")
    assert suppressed(h) == {"ana@customer.example.com": "unsubscribed"}

    assert "marketing role" not in answer(h, "/mail-campaign", "suppressions", "UADMIN")
    assert "ana@customer.example.com — unsubscribed" in answer(
        h, "/mail-campaign", "suppressions", "UADMIN"
    )
    assert "Only Mailroom admins" in answer(
        h, "/mail-campaign", "unsuppress ana@customer.example.com", "UALICE"
    )
    assert "was removed" in answer(
        h,
        "/mail-campaign",
        "unsuppress <mailto:ana@customer.example.com|ana@customer.example.com>",
        "UADMIN",
    )
    assert suppressed(h) == {}


def test_links_are_signed_with_the_app_s_own_key(tmp_path: Path) -> None:
    """The same key (configured, or read from the key file) signs the same link; another
    key signs another one. Nothing about it needs the settings object to be kept."""
    from types import SimpleNamespace

    from cryptography.fernet import Fernet

    from tests.support.settings import settings

    def token(**fields: object) -> str:
        ctx = SimpleNamespace(settings=settings(tmp_path, **fields))
        return make_token(ctx, 7, 11, "Carla@Customer.example.com")  # type: ignore[arg-type]

    from_file = token()
    assert token() == from_file  # the key file is read back, not made again
    assert token(mailroom_data_dir=tmp_path / "elsewhere") != from_file  # another file's key
    key = Fernet.generate_key().decode()
    assert token(mailroom_secret_key=key) == token(mailroom_secret_key=key)
    assert token(mailroom_secret_key=key) != from_file
    row, signature = from_file.split(".")
    assert row == "11" and len(signature) == 32
