"""Requests FROM Slack TO the app, built and signed exactly as Slack does.

Slash commands and interactivity arrive form-encoded (interactivity as one ``payload=<json>``
field), events as JSON; every request carries ``X-Slack-Request-Timestamp`` and
``X-Slack-Signature`` = ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{raw body}``. Building the
bytes here and signing those exact bytes means Bolt's real verification runs in every test.

Trigger ids minted here start with their creation time in milliseconds, so ``FakeSlack``
can refuse them after 3 seconds the way Slack does.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TEAM_ID = "T1"
TEAM_DOMAIN = "test"
API_APP_ID = "A_MAILROOM"
BOT_USER_ID = "UBOT"
VERIFICATION_TOKEN = "legacy-verification-token"  # deprecated by Slack, still sent
DEFAULT_RESPONSE_URL = "https://hooks.slack.com/commands/T1/1/fake"

_ids = itertools.count(1)


def new_trigger_id() -> str:
    """A trigger id shaped like Slack's, carrying its birth time for the 3-second rule."""
    return f"{int(time.time() * 1000)}.{next(_ids)}.{secrets.token_hex(8)}"


def new_event_id() -> str:
    return f"Ev{secrets.token_hex(5).upper()}"


def new_ts() -> str:
    now = time.time()
    return f"{int(now)}.{int((now % 1) * 1_000_000):06d}"


class SlackSigner:
    """Signs request bodies with a Slack app's signing secret."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._verifier = SignatureVerifier(secret)

    def signature(self, body: bytes, timestamp: int) -> str:
        return self._verifier.generate_signature(timestamp=str(timestamp), body=body)

    def headers(
        self, body: bytes, timestamp: int | None = None, content_type: str | None = None
    ) -> dict[str, str]:
        """Slack's headers for ``body``; ``timestamp`` defaults to now (Bolt allows 300 s skew).

        Without ``content_type`` it is inferred: JSON for bodies starting with ``{``, else form.
        """
        ts = int(time.time()) if timestamp is None else int(timestamp)
        if content_type is None:
            content_type = JSON if body.lstrip()[:1] == b"{" else FORM
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": self.signature(body, ts),
        }

    def is_valid(self, body: bytes, headers: dict[str, str]) -> bool:
        return self._verifier.is_valid_request(body, headers)


# ---------------------------------------------------------------------- view state values
def plain_input(value: str | None) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def rich_input(value: dict[str, Any] | None) -> dict[str, Any]:
    """A rich_text_input's submitted state: its ``rich_text`` block."""
    return {"type": "rich_text_input", "rich_text_value": value}


def email_input(value: str | None) -> dict[str, Any]:
    return {"type": "email_text_input", "value": value}


def number_input(value: str | int | float | None) -> dict[str, Any]:
    # Slack sends numbers as strings in view state.
    return {"type": "number_input", "value": None if value is None else str(value)}


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def static_select(value: str | None, text: str | None = None) -> dict[str, Any]:
    return {
        "type": "static_select",
        "selected_option": None if value is None else _option(value, text),
    }


def radio(value: str | None, text: str | None = None) -> dict[str, Any]:
    return {
        "type": "radio_buttons",
        "selected_option": None if value is None else _option(value, text),
    }


def checkboxes(values: list[str]) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [_option(v) for v in values]}


def conversations_select(channel: str | None) -> dict[str, Any]:
    return {"type": "conversations_select", "selected_conversation": channel}


def channels_select(channel: str | None) -> dict[str, Any]:
    return {"type": "channels_select", "selected_channel": channel}


def users_select(user: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user}


def multi_external_select(values: list[str]) -> dict[str, Any]:
    return {"type": "multi_external_select", "selected_options": [_option(v) for v in values]}


def file_input(files: list[dict[str, Any]]) -> dict[str, Any]:
    """A file input's state: the file objects (e.g. ``fake_slack.add_file(...)``)."""
    return {"type": "file_input", "files": list(files)}


def multi_users_select(users: list[str]) -> dict[str, Any]:
    return {"type": "multi_users_select", "selected_users": list(users)}


# ---------------------------------------------------------------------- payload builders
def _user(user_id: str, team_id: str) -> dict[str, Any]:
    name = user_id.lower().removeprefix("u") or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def _form_payload(payload: dict[str, Any]) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(payload)}).encode(), FORM


def slash_command(
    command: str,
    text: str,
    user_id: str,
    channel_id: str = "C_CMD",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    *,
    channel_name: str | None = None,
    user_name: str | None = None,
    response_url: str = DEFAULT_RESPONSE_URL,
    api_app_id: str = API_APP_ID,
) -> tuple[bytes, str]:
    """A slash command exactly as Slack form-encodes it."""
    fields = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name
        or ("directmessage" if channel_id.startswith("D") else channel_id.lower()),
        "user_id": user_id,
        "user_name": user_name or user_id.lower(),
        "command": command if command.startswith("/") else f"/{command}",
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or new_trigger_id(),
    }
    return urlencode(fields).encode(), FORM


def _action_entry(action_id: str, value: Any, block_id: str, action_type: str) -> dict[str, Any]:
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": new_ts(),
    }
    # Each element type reports its choice under its own key, as Slack does.
    if action_type in ("static_select", "radio_buttons", "overflow", "external_select"):
        action["selected_option"] = None if value is None else _option(str(value))
    elif action_type == "checkboxes":
        action["selected_options"] = [_option(str(v)) for v in value or []]
    elif action_type == "users_select":
        action["selected_user"] = value
    elif action_type == "conversations_select":
        action["selected_conversation"] = value
    elif action_type == "channels_select":
        action["selected_channel"] = value
    elif action_type == "button":
        action["text"] = {"type": "plain_text", "text": action_id, "emoji": True}
        if value is not None:
            action["value"] = value
    else:
        action["value"] = value
    return action


def block_action(
    action_id: str,
    value: Any,
    user_id: str,
    *,
    block_id: str = "actions",
    channel_id: str | None = None,
    message_ts: str | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    action_type: str = "button",
    response_url: str = DEFAULT_RESPONSE_URL,
    state_values: dict[str, dict[str, dict[str, Any]]] | None = None,
    team_id: str = TEAM_ID,
) -> tuple[bytes, str]:
    """A ``block_actions`` payload: from a message (channel_id + message_ts) or a view.

    ``view`` is the view object the click happened in (e.g. ``fake_slack.last_view()`` or
    ``home_view(user)``); ``state_values`` fills its current input state.
    """
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user(user_id, team_id),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "actions": [_action_entry(action_id, value, block_id, action_type)],
    }
    if view is not None:
        view = json.loads(json.dumps(view))  # a private copy we can fill in
        view.setdefault("id", "V1")
        view.setdefault("type", "modal")
        view["state"] = {"values": state_values or {}}
        payload["view"] = view
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["state"] = {"values": state_values or {}}
    else:
        channel = channel_id or "C_CMD"
        ts = message_ts or (message or {}).get("ts") or new_ts()
        payload["container"] = {
            "type": "message",
            "message_ts": ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        payload["channel"] = {"id": channel, "name": channel.lower()}
        payload["message"] = message or {
            "type": "message",
            "ts": ts,
            "user": BOT_USER_ID,
            "bot_id": "BBOT",
            "text": "",
        }
        payload["response_url"] = response_url
        payload["state"] = {"values": state_values or {}}
    return _form_payload(payload)


def view_submission(
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]],
    user_id: str,
    private_metadata: str = "",
    view_id: str = "V1",
    *,
    view: dict[str, Any] | None = None,
    trigger_id: str | None = None,
    response_urls: list[dict[str, Any]] | None = None,
    team_id: str = TEAM_ID,
) -> tuple[bytes, str]:
    """A ``view_submission``; ``values`` is ``{block_id: {action_id: plain_input(...)}}``.

    Pass ``view`` (e.g. ``fake_slack.last_view()``) to submit the modal the app really opened:
    its id, callback_id, private_metadata and blocks are kept, ``values`` become its state.
    """
    submitted: dict[str, Any] = {
        "id": view_id,
        "team_id": team_id,
        "type": "modal",
        "blocks": [],
        "private_metadata": private_metadata,
        "callback_id": callback_id,
        "hash": f"{int(time.time())}.hash",
        "title": {"type": "plain_text", "text": "Mailroom", "emoji": True},
        "close": None,
        "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
        "root_view_id": view_id,
        "previous_view_id": None,
        "app_id": API_APP_ID,
        "external_id": "",
        "app_installed_team_id": team_id,
        "bot_id": "BBOT",
    }
    if view is not None:
        submitted.update(json.loads(json.dumps(view)))
        submitted["callback_id"] = callback_id or submitted.get("callback_id", "")
        if private_metadata:
            submitted["private_metadata"] = private_metadata
    submitted["state"] = {"values": values}
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "user": _user(user_id, team_id),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "trigger_id": trigger_id or new_trigger_id(),
        "view": submitted,
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return _form_payload(payload)


def block_suggestion(
    action_id: str,
    value: str,
    user_id: str,
    *,
    block_id: str = "",
    view: dict[str, Any] | None = None,
    team_id: str = TEAM_ID,
) -> tuple[bytes, str]:
    """A ``block_suggestion``: Slack asking an external select's options for ``value``."""
    payload = {
        "type": "block_suggestion",
        "user": _user(user_id, team_id),
        "container": {"type": "view", "view_id": (view or {}).get("id", "V1")},
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view or {"id": "V1", "type": "modal", "callback_id": ""},
        "action_ts": f"{time.time():.6f}",
    }
    return _form_payload(payload)


def view_closed(
    callback_id: str, user_id: str, *, view_id: str = "V1", private_metadata: str = ""
) -> tuple[bytes, str]:
    payload = {
        "type": "view_closed",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": _user(user_id, TEAM_ID),
        "api_app_id": API_APP_ID,
        "token": VERIFICATION_TOKEN,
        "view": {
            "id": view_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": {}},
        },
        "is_cleared": False,
        "is_enterprise_install": False,
    }
    return _form_payload(payload)


def event_callback(
    event: dict[str, Any],
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    *,
    event_time: int | None = None,
) -> tuple[bytes, str]:
    """An Events API envelope around ``event``; reuse ``event_id`` to play Slack's retries."""
    body = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "context_team_id": team_id,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": event_time or int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_hex(8)}",
    }
    return json.dumps(body).encode(), JSON


def url_verification(challenge: str) -> tuple[bytes, str]:
    body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
    return json.dumps(body).encode(), JSON


def message_event(
    channel: str,
    text: str,
    user: str,
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    bot_id: str | None = None,
    subtype: str | None = None,
    channel_type: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``message`` event (put it in ``event_callback``); a reply when ``thread_ts`` is set."""
    ts = ts or new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "team": TEAM_ID,
        "channel_type": channel_type or ("im" if channel.startswith("D") else "channel"),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    if bot_id:
        event["bot_id"] = bot_id
    if subtype:
        event["subtype"] = subtype
    event.update(extra)
    return event


def app_home_opened(user: str, *, tab: str = "home") -> dict[str, Any]:
    ts = new_ts()
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user}",
        "tab": tab,
        "event_ts": ts,
    }


# ---------------------------------------------------------------------- HTTP client
class SlackClientForTests:
    """Posts signed Slack requests to the app's ``/slack/events``.

    ``client`` is any ``httpx.Client``-compatible object: ``httpx.Client(base_url=...)`` for a
    real server, or ``fastapi.testclient.TestClient(app)`` in-process (httpx's ASGITransport
    is async-only). With ``fake_slack`` given, commands and actions get a fresh response_url
    on it, so Bolt's ``respond(...)`` lands in ``fake_slack.responses()``.
    """

    def __init__(
        self,
        client: httpx.Client,
        signing_secret: str,
        *,
        path: str = "/slack/events",
        fake_slack: Any | None = None,
    ) -> None:
        self.client = client
        self.signer = SlackSigner(signing_secret)
        self.path = path
        self.fake_slack = fake_slack

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        signed: bool = True,
        timestamp: int | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        if signed:
            all_headers = self.signer.headers(body, timestamp, content_type)
        else:
            all_headers = {"Content-Type": content_type}
        if retry_num is not None:
            all_headers["X-Slack-Retry-Num"] = str(retry_num)
            all_headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        elif retry_reason is not None:
            all_headers["X-Slack-Retry-Reason"] = retry_reason
        all_headers.update(headers or {})
        return self.client.post(self.path, content=body, headers=all_headers)

    def _response_url(self, given: str | None) -> str:
        if given:
            return given
        if self.fake_slack is not None:
            return str(self.fake_slack.response_url())
        return DEFAULT_RESPONSE_URL

    def command(
        self,
        command: str,
        text: str = "",
        user_id: str = "UALICE",
        *,
        channel_id: str = "C_CMD",
        trigger_id: str | None = None,
        response_url: str | None = None,
        **post_kwargs: Any,
    ) -> httpx.Response:
        body, content_type = slash_command(
            command,
            text,
            user_id,
            channel_id=channel_id,
            trigger_id=trigger_id,
            response_url=self._response_url(response_url),
        )
        return self.post(body, content_type, **post_kwargs)

    def action(
        self,
        action_id: str,
        value: Any = None,
        user_id: str = "UALICE",
        *,
        signed: bool = True,
        timestamp: int | None = None,
        response_url: str | None = None,
        **builder_kwargs: Any,
    ) -> httpx.Response:
        body, content_type = block_action(
            action_id,
            value,
            user_id,
            response_url=self._response_url(response_url),
            **builder_kwargs,
        )
        return self.post(body, content_type, signed=signed, timestamp=timestamp)

    def submit_view(
        self,
        callback_id: str,
        values: dict[str, dict[str, dict[str, Any]]],
        user_id: str = "UALICE",
        *,
        signed: bool = True,
        timestamp: int | None = None,
        **builder_kwargs: Any,
    ) -> httpx.Response:
        body, content_type = view_submission(callback_id, values, user_id, **builder_kwargs)
        return self.post(body, content_type, signed=signed, timestamp=timestamp)

    def options(
        self,
        action_id: str,
        value: str,
        user_id: str = "UALICE",
        *,
        signed: bool = True,
        timestamp: int | None = None,
        **builder_kwargs: Any,
    ) -> httpx.Response:
        """Ask for an external select's options, as Slack does while someone types."""
        body, content_type = block_suggestion(action_id, value, user_id, **builder_kwargs)
        return self.post(body, content_type, signed=signed, timestamp=timestamp)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        signed: bool = True,
        timestamp: int | None = None,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> httpx.Response:
        body, content_type = event_callback(event, event_id)
        return self.post(
            body,
            content_type,
            signed=signed,
            timestamp=timestamp,
            retry_num=retry_num,
            retry_reason=retry_reason,
        )
