"""/mail-send and the New email shortcut: the compose modal offers only the mailboxes one may
send from (checked again on submit), asks for files and suggests contacts."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

from tests.support.harness import Harness
from tests.support.inbox import compose_values, from_options, open_compose, submit
from tests.support.slack_requests import TEAM_ID
from tests.support.threads import CHANNEL
from tests.support.wait import wait_until


def test_compose_offers_only_allowed_mailboxes_and_checks_them_again(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@USALES|sales> sales", "UADMIN")
    personal = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    shared = h.connect(user="UADMIN", kind="shared", channel="C_SHARED")
    marketing = h.connect(user="UADMIN", kind="marketing", channel="C_NEWS")

    alice = open_compose(h, "UALICE")
    assert from_options(alice) == [personal.address]
    sales = open_compose(h, "USALES")
    assert from_options(sales) == [shared.address]
    admin = open_compose(h, "UADMIN")
    assert shared.address in from_options(admin) and marketing.address not in from_options(admin)
    assert personal.address not in from_options(admin)
    assert open_compose(h, "UBOB") is None
    wait_until(
        lambda: any("no mailbox to send from" in e["text"] for e in h.slack.ephemerals("UBOB")),
        message="Bob told he has nothing to send from",
    )

    # Forged From choices are refused on submit: a marketing mailbox, someone else's.
    errors = submit(
        h, admin, "UADMIN", compose_values(marketing.id, ["carla@customer.example.com"])
    )
    assert "marketing mailbox" in errors["errors"]["from"]
    errors = submit(h, sales, "USALES", compose_values(personal.id, ["carla@customer.example.com"]))
    assert "personal mailbox" in errors["errors"]["from"]
    # The picked values are validated again (a forged one is refused); nothing was sent.
    errors = submit(h, alice, "UALICE", compose_values(personal.id, ["carla@"], cc=["x y"]))
    assert "not an email address" in errors["errors"]["to"]
    assert "not an email address" in errors["errors"]["cc"]
    assert (
        "Add a recipient"
        in submit(h, alice, "UALICE", compose_values(personal.id, []))["errors"]["to"]
    )
    many = [f"p{n}@customer.example.com" for n in range(11)]
    assert (
        "at most" in submit(h, alice, "UALICE", compose_values(personal.id, many))["errors"]["to"]
    )
    assert h.smtp.messages == []


def test_the_global_shortcut_opens_the_same_modal(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    payload = {
        "type": "shortcut",
        "callback_id": "mail_send",
        "trigger_id": f"{uuid.uuid4().int % 10**10}.trigger",
        "user": {"id": "UALICE", "team_id": TEAM_ID},
        "team": {"id": TEAM_ID},
        "action_ts": f"{time.time():.6f}",
        "token": "verification",
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert h.client.post(body, "application/x-www-form-urlencoded").status_code == 200
    view = wait_until(h.slack.last_view, message="the compose modal")
    assert view["callback_id"] == "mail_compose"
    assert from_options(view) == [mailbox.address]


def test_the_modal_asks_for_files_and_suggests_contacts(harness: Harness) -> None:
    h = harness
    h.connect(user="UALICE", kind="personal", channel=CHANNEL)
    blocks = {b["block_id"]: b for b in open_compose(h, "UALICE")["blocks"]}
    for block in ("to", "cc"):
        element = blocks[block]["element"]
        assert element["type"] == "multi_external_select"
        assert element["action_id"] == "mail_contacts" and element["min_query_length"] == 1
    assert blocks["files"]["optional"] is True
    assert blocks["files"]["element"] == {
        "type": "file_input",
        "action_id": "files",
        "max_files": 10,
    }
