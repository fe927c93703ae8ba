"""Driving a sign-in the way a person does: /mail-connect, press the button, the browser hops."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlmodel import select

from storage.models import ConsentTenant
from tests.support.harness import Harness
from tests.support.identity_fakes import Browser, IdentityFakes
from tests.support.slack_requests import conversations_select, static_select
from tests.support.wait import wait_until


@dataclass
class SignInRun:
    page: httpx.Response
    url: str
    state: str
    browser: Browser


def find_button(view: dict[str, Any], provider: str) -> dict[str, Any] | None:
    for block in view.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == f"signin_start_{provider}":
                return element
    return None


def sign_in_button(view: dict[str, Any], provider: str) -> dict[str, Any]:
    """The provider's sign-in button in ``view``, which must be there."""
    button = find_button(view, provider)
    assert button is not None, f"no {provider} button in {view.get('blocks')}"
    return button


def click_sign_in(
    h: Harness, view: dict[str, Any], button: dict[str, Any], user: str, values: dict[str, Any]
) -> None:
    """Slack sends ``user``'s click on the URL ``button`` of ``view``, with the modal's ``values``."""
    response = h.client.action(
        button["action_id"],
        button["value"],
        user,
        view=view,
        block_id="sign_in",
        state_values=values,
    )
    assert response.status_code == 200, response.text


def modal_values(
    kind: str = "personal", channel: str | None = "C_SALES", backfill: str = "0"
) -> dict:
    values = {
        "kind": {"value": static_select(kind)},
        "backfill": {"value": static_select(backfill)},
    }
    if channel:
        values["channel"] = {"value": conversations_select(channel)}
    return values


def press_sign_in(
    h: Harness,
    fakes: IdentityFakes,
    provider: str,
    *,
    view: dict[str, Any],
    user: str = "UALICE",
    kind: str = "personal",
    channel: str | None = "C_SALES",
    backfill: str = "0",
    click: bool = True,
    own: bool = True,
) -> SignInRun:
    """Press the URL button in ``view`` (Slack sends the click, the browser opens the URL).

    ``own``: the account that signs in is the Slack user's own, i.e. their Slack profile's
    email is that account's address (a personal mailbox needs that)."""
    if own:
        h.slack.set_email(user, getattr(fakes, provider).person.email)
    button = sign_in_button(view, provider)
    if click:
        click_sign_in(h, view, button, user, modal_values(kind, channel, backfill))
    browser = Browser(h.client.client, fakes)
    page = browser.get(button["url"])
    return SignInRun(page, button["url"], button["value"], browser)


def open_connect(h: Harness, user: str = "UALICE") -> dict[str, Any]:
    before = len(h.slack.calls_to("views.open"))
    response = h.client.command("/mail-connect", "", user)
    assert response.status_code == 200, response.text
    wait_until(lambda: len(h.slack.calls_to("views.open")) > before, message="connect modal opened")
    view = h.slack.last_view()
    assert view is not None
    return view


def sign_in(h: Harness, fakes: IdentityFakes, provider: str, **kwargs: Any) -> SignInRun:
    user = kwargs.pop("user", "UALICE")
    return press_sign_in(h, fakes, provider, view=open_connect(h, user), user=user, **kwargs)


def add_mail_user(h: Harness, address: str) -> None:
    """The person's mailbox on Dovecot (the password only lets the test deliver mail)."""
    # A stable password: re-adding a known user must not wait for Dovecot to notice a change.
    h.dovecot.add_user(address, "pw-" + hashlib.sha256(address.encode()).hexdigest()[:12])


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def dms(h: Harness, user: str) -> list[dict[str, Any]]:
    return h.slack.messages(user)


def dm_texts(h: Harness, user: str = "UALICE") -> list[str]:
    """Each DM to ``user``: its text and its blocks, as one string."""
    return [m["text"] + json.dumps(m.get("blocks") or []) for m in h.slack.messages(user)]


def mailbox_count(h: Harness) -> int:
    return len(h.ctx.mailboxes.all())


def channel_picker(h: Harness, user: str = "UALICE") -> dict[str, Any]:
    """The DM asking ``user`` to choose the channel of a mailbox signed in without one."""
    return wait_until(
        lambda: [m for m in h.slack.messages(user) if "Choose the channel" in m["text"]],
        message="channel picker",
    )[0]


def pick_channel(
    h: Harness, picker: dict[str, Any], channel: str, user: str = "UALICE"
) -> httpx.Response:
    """Choose ``channel`` in the picker's channel menu, as ``user``."""
    return h.client.action(
        "signin_pick_channel",
        channel,
        user,
        block_id=picker["blocks"][1]["block_id"],
        action_type="conversations_select",
    )


def tenant_row(h: Harness) -> ConsentTenant:
    """The one Microsoft 365 organisation Mailroom knows of."""
    with h.ctx.db.session() as session:
        return session.exec(select(ConsentTenant)).one()
