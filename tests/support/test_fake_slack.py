"""Tests of the Slack test tools themselves, driven by the real slack_sdk and slack_bolt."""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from fastapi import FastAPI, Request
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler as FastApiHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler as WsgiHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from tests.support.fake_slack import FakeSlack
from tests.support.slack_requests import (
    SlackClientForTests,
    SlackSigner,
    block_action,
    checkboxes,
    event_callback,
    message_event,
    new_trigger_id,
    plain_input,
    slash_command,
    static_select,
    url_verification,
    users_select,
    view_submission,
)
from tests.support.wait import wait_until

with warnings.catch_warnings():
    # Starlette's TestClient warns that it wants httpx2; it is still an httpx.Client.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SECRET = "test-signing-secret"


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=5)


# ---------------------------------------------------------------------- Web API fake
def test_post_history_and_replies_keep_metadata(fake_slack: FakeSlack, client: WebClient) -> None:
    metadata = {"event_type": "email_received", "event_payload": {"message_id": "<a@b>"}}
    parent = client.chat_postMessage(
        channel="C1", text="New mail", metadata=metadata, unfurl_links=False
    )
    assert parent["ok"] and parent["channel"] == "C1"
    assert parent["ts"] == "1700000000.000100"
    assert parent["message"]["metadata"] == metadata
    reply = client.chat_postMessage(channel="C1", text="body", thread_ts=parent["ts"])
    second = client.chat_postMessage(channel="C1", text="Another mail")
    assert parent["ts"] < reply["ts"] < second["ts"]

    history = client.conversations_history(channel="C1", include_all_metadata=True)
    # Newest first, replies excluded, the parent carries thread bookkeeping like Slack's.
    assert [m["text"] for m in history["messages"]] == ["Another mail", "New mail"]
    assert history["messages"][1]["metadata"] == metadata
    assert history["messages"][1]["reply_count"] == 1

    replies = client.conversations_replies(channel="C1", ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["New mail", "body"]
    assert replies["messages"][1]["thread_ts"] == parent["ts"]

    assert [m["text"] for m in fake_slack.top_level("C1")] == ["New mail", "Another mail"]
    assert [m["text"] for m in fake_slack.thread("C1", parent["ts"])] == ["body"]
    assert fake_slack.messages("C1")[0]["unfurl_links"] is False
    assert fake_slack.messages("C1")[0]["user"] == "UBOT"
    assert fake_slack.calls_to("chat.postMessage")[0].params["unfurl_links"] is False


def test_history_window_and_pagination(fake_slack: FakeSlack, client: WebClient) -> None:
    posted = [client.chat_postMessage(channel="C2", text=f"m{i}")["ts"] for i in range(5)]
    window = client.conversations_history(channel="C2", oldest=posted[1], latest=posted[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]  # bounds are exclusive
    first = client.conversations_history(channel="C2", limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"] and first["has_more"]
    cursor = first["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel="C2", limit=10, cursor=cursor)
    assert [m["text"] for m in rest["messages"]] == ["m2", "m1", "m0"]
    assert not rest["has_more"]


def test_form_encoded_blocks_are_decoded(fake_slack: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    # api_call(params=...) sends a form body, with blocks as a JSON string inside it.
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps(blocks)})
    call = fake_slack.calls_to("chat.postMessage")[0]
    assert call.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert call.params["blocks"] == blocks
    assert fake_slack.messages("C1")[0]["blocks"] == blocks


def test_slack_limits_are_enforced(client: WebClient) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="t", blocks=too_long)
    assert err.value.response["error"] == "invalid_blocks"
    many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="t", blocks=many)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert err.value.response["error"] == "msg_too_long"


def test_update_delete_permalink_reactions(fake_slack: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="draft")["ts"]
    client.chat_update(channel="C1", ts=ts, text="final")
    assert fake_slack.message("C1", ts)["text"] == "final"
    client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    with pytest.raises(SlackApiError) as err:
        client.reactions_add(channel="C1", timestamp=ts, name="white_check_mark")
    assert err.value.response["error"] == "already_reacted"
    assert fake_slack.message("C1", ts)["reactions"][0]["name"] == "white_check_mark"
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link == f"https://test.slack.com/archives/C1/p{ts.replace('.', '')}"
    client.chat_delete(channel="C1", ts=ts)
    assert fake_slack.messages("C1") == []
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=ts, text="again")
    assert err.value.response["error"] == "message_not_found"


def test_dm_ephemeral_and_conversations(fake_slack: FakeSlack, client: WebClient) -> None:
    dm = client.chat_postMessage(channel="UALICE", text="hello")
    assert dm["channel"] == "DUALICE"  # Slack answers with the DM channel id
    assert client.conversations_open(users="UALICE")["channel"]["id"] == "DUALICE"
    assert [m["text"] for m in fake_slack.messages("UALICE")] == ["hello"]

    client.chat_postEphemeral(channel="C1", user="UBOB", text="only you")
    assert [e["text"] for e in fake_slack.ephemerals("UBOB")] == ["only you"]
    assert fake_slack.ephemerals("UALICE") == []

    fake_slack.add_channel("CPRIV", "secret", is_private=True)
    with pytest.raises(SlackApiError) as err:
        client.conversations_join(channel="CPRIV")
    assert err.value.response["error"] == "method_not_supported_for_channel_type"
    assert client.conversations_join(channel="CPUB")["channel"]["id"] == "CPUB"
    assert client.conversations_info(channel="CPUB")["channel"]["is_member"] is True


def test_membership_can_be_required(fake_slack: FakeSlack, client: WebClient) -> None:
    fake_slack.require_membership = True
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="CNEW", text="x")
    assert err.value.response["error"] == "not_in_channel"
    client.conversations_join(channel="CNEW")
    assert client.chat_postMessage(channel="CNEW", text="x")["ok"]


def test_files_upload_v2_end_to_end(fake_slack: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="mail with attachment")["ts"]
    result = client.files_upload_v2(
        channel="C1",
        thread_ts=parent,
        content=b"%PDF-1.4 invoice",
        filename="invoice.pdf",
        title="Invoice",
    )
    assert result["ok"]
    [uploaded] = fake_slack.uploaded_files()
    assert uploaded["bytes"] == b"%PDF-1.4 invoice"
    assert uploaded["filename"] == "invoice.pdf" and uploaded["title"] == "Invoice"
    assert uploaded["channel"] == "C1" and uploaded["thread_ts"] == parent
    assert uploaded["completed"] is True
    assert result["file"]["id"] == uploaded["id"]
    # Slack shares the file as a message in the thread.
    [share] = fake_slack.thread("C1", parent)
    assert share["files"][0]["id"] == uploaded["id"]


def test_rate_limit_is_retried_by_sdk_handler(fake_slack: FakeSlack) -> None:
    retrying = WebClient(
        token="xoxb-test",
        base_url=fake_slack.base_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)],
    )
    fake_slack.fail_next("chat.postMessage", retry_after=0)
    assert retrying.chat_postMessage(channel="C1", text="hi")["ok"]
    calls = fake_slack.calls_to("chat.postMessage")
    assert [(c.failed, c.status) for c in calls] == [(True, 429), (False, 200)]
    assert len(fake_slack.messages("C1")) == 1  # the failed call was not applied


def test_fail_next_without_retry_handler_surfaces_error(
    fake_slack: FakeSlack, client: WebClient
) -> None:
    fake_slack.fail_next("users.info", status=500, retry_after=None, error="fatal_error", count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.users_info(user="UALICE")
        assert err.value.response.status_code == 500
        assert "Retry-After" not in err.value.response.headers
    assert client.users_info(user="UALICE")["ok"]


def test_missing_token_is_not_authed(fake_slack: FakeSlack) -> None:
    anonymous = WebClient(base_url=fake_slack.base_url)
    with pytest.raises(SlackApiError) as err:
        anonymous.auth_test()
    assert err.value.response["error"] == "not_authed"
    assert fake_slack.calls_to("auth.test")[0].response == {"ok": False, "error": "not_authed"}


def test_auth_test_and_unknown_method(client: WebClient, fake_slack: FakeSlack) -> None:
    auth = client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    with pytest.raises(SlackApiError) as err:
        client.api_call("chat.scheduleMessage", json={"channel": "C1", "text": "x"})
    assert err.value.response["error"] == "unknown_method"
    assert fake_slack.calls_to("chat.scheduleMessage")


def test_users_info_and_lookup(fake_slack: FakeSlack, client: WebClient) -> None:
    assert client.users_info(user="UADMIN")["user"]["is_admin"] is True
    owner = client.users_info(user="UOWNER")["user"]
    assert owner["is_owner"] is True and owner["is_admin"] is True
    assert client.users_info(user="UALICE")["user"]["is_admin"] is False
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True
    with pytest.raises(SlackApiError) as err:
        client.users_info(user="UNOBODY")
    assert err.value.response["error"] == "user_not_found"
    found = client.users_lookupByEmail(email="bob@example.com")["user"]
    assert found["id"] == "UBOB"
    fake_slack.add_user("UCARL", name="carl", email="carl@example.com", tz="Europe/Madrid")
    carl = client.users_info(user="UCARL")["user"]
    assert carl["profile"]["email"] == "carl@example.com" and carl["tz"] == "Europe/Madrid"


def test_views_open_update_and_home(fake_slack: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "connect",
        "private_metadata": "m1",
        "title": {"type": "plain_text", "text": "Connect"},
        "blocks": [],
    }
    opened = client.views_open(trigger_id=new_trigger_id(), view=modal)["view"]
    assert opened["id"].startswith("V") and fake_slack.last_view()["callback_id"] == "connect"
    client.views_update(view_id=opened["id"], view={**modal, "private_metadata": "m2"})
    assert fake_slack.last_view()["private_metadata"] == "m2"
    with pytest.raises(SlackApiError) as err:
        client.views_update(view_id="VNOPE", view=modal)
    assert err.value.response["error"] == "not_found"

    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Hi"}}],
    }
    first = client.views_publish(user_id="UALICE", view=home)["view"]
    again = client.views_publish(user_id="UALICE", view=home)["view"]
    assert first["id"] == again["id"]
    assert fake_slack.home_view("UALICE")["blocks"] == home["blocks"]
    assert fake_slack.home_view("UBOB") is None


def test_expired_trigger_is_refused(fake_slack: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []}
    stale = f"{int((time.time() - 5) * 1000)}.1.abc"
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id=stale, view=modal)
    assert err.value.response["error"] == "expired_trigger_id"
    fresh = new_trigger_id()
    fake_slack.expire_trigger(fresh)
    with pytest.raises(SlackApiError):
        client.views_open(trigger_id=fresh, view=modal)


def test_stall_applies_then_withholds_answer(fake_slack: FakeSlack, client: WebClient) -> None:
    handle = fake_slack.stall("chat.postMessage")
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(client.chat_postMessage(channel="C1", text="held"))
    )
    worker.start()
    assert handle.wait_for_call(5)
    # Slack has stored the message although the caller has not heard back.
    assert [m["text"] for m in fake_slack.messages("C1")] == ["held"]
    assert results == [] and worker.is_alive()
    handle.set()
    worker.join(5)
    assert results and results[0]["ok"]


def test_stall_models_caller_that_gave_up(fake_slack: FakeSlack) -> None:
    impatient = WebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=0.3)
    fake_slack.stall("chat.postMessage")
    with pytest.raises(Exception, match=r"(?i)timed out"):
        impatient.chat_postMessage(channel="C1", text="maybe posted")
    assert [m["text"] for m in fake_slack.messages("C1")] == ["maybe posted"]
    fake_slack.release_all()
    later = WebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=5)
    assert later.chat_postMessage(channel="C1", text="after")["ok"]


def test_reset_and_base_url_without_api_prefix() -> None:
    with FakeSlack() as fake:
        plain = WebClient(token="xoxb-test", base_url=fake.root_url + "/")
        plain.chat_postMessage(channel="C1", text="x")
        assert len(fake.messages("C1")) == 1
        fake.reset()
        assert fake.messages("C1") == [] and fake.calls == []
        assert plain.users_info(user="UBOT")["ok"]


# ---------------------------------------------------------------------- signer / builders
def test_signature_verifies_and_tampering_fails() -> None:
    body, content_type = slash_command("/mail", "connect", "UALICE")
    ts = int(time.time())
    headers = SlackSigner(SECRET).headers(body, ts)
    assert headers["Content-Type"] == content_type
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid(body, str(ts), headers["X-Slack-Signature"])
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid(body + b"&x=1", str(ts), headers["X-Slack-Signature"])
    assert not SignatureVerifier("other").is_valid(body, str(ts), headers["X-Slack-Signature"])
    json_body, json_type = url_verification("abc")
    assert SlackSigner(SECRET).headers(json_body)["Content-Type"] == json_type


def test_payload_shapes() -> None:
    body, _ = block_action("pick", "shared", "UADMIN", action_type="static_select", channel_id="C9")
    payload = json.loads(httpx.QueryParams(body.decode())["payload"])
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["selected_option"]["value"] == "shared"
    assert payload["container"]["channel_id"] == "C9"
    values = {"b": {"a": plain_input("x")}, "c": {"d": checkboxes(["1", "2"])}}
    body, _ = view_submission("cb", values, "UALICE", private_metadata="pm")
    view = json.loads(httpx.QueryParams(body.decode())["payload"])["view"]
    assert view["state"]["values"]["c"]["d"]["selected_options"][1]["value"] == "2"
    assert view["private_metadata"] == "pm"
    body, _ = event_callback(message_event("C1", "hi", "UALICE"), event_id="Ev1")
    envelope = json.loads(body)
    assert envelope["event_id"] == "Ev1" and envelope["authorizations"][0]["user_id"] == "UBOT"


# ---------------------------------------------------------------------- against real Bolt
def _bolt_app(fake: FakeSlack, seen: dict[str, Any]) -> App:
    app = App(
        signing_secret=SECRET,
        client=WebClient(token="xoxb-test", base_url=fake.base_url),
    )

    @app.command("/mail")
    def on_mail(ack: Any, command: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        client.views_open(
            trigger_id=command["trigger_id"],
            view={
                "type": "modal",
                "callback_id": "connect",
                "private_metadata": command["channel_id"],
                "title": {"type": "plain_text", "text": "Connect"},
                "submit": {"type": "plain_text", "text": "Save"},
                "blocks": [],
            },
        )
        respond(f"working on {command['text']}")

    @app.view("connect")
    def on_submit(ack: Any, view: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
        ack()
        values = view["state"]["values"]
        client.chat_postMessage(
            channel=view["private_metadata"],
            text=f"{values['addr']['email']['value']} by {values['who']['u']['selected_user']}",
        )

    @app.action("pick")
    def on_pick(ack: Any, action: dict[str, Any]) -> None:
        ack()
        seen["picked"] = action["selected_option"]["value"]

    @app.event("message")
    def on_message(event: dict[str, Any], request: Any) -> None:
        seen.setdefault("events", []).append(
            (event["text"], request.headers.get("x-slack-retry-num", [None])[0])
        )

    return app


@pytest.fixture
def bolt_server(fake_slack: FakeSlack) -> Iterator[tuple[str, dict[str, Any]]]:
    """Bolt's WSGI adapter on a real loopback port, so requests cross real HTTP."""
    seen: dict[str, Any] = {}
    handler = WsgiHandler(_bolt_app(fake_slack, seen))

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server: WSGIServer = make_server("127.0.0.1", 0, handler, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_client_drives_real_bolt_app(
    fake_slack: FakeSlack, bolt_server: tuple[str, dict[str, Any]]
) -> None:
    url, seen = bolt_server
    with httpx.Client(base_url=url, timeout=10) as http:
        slack = SlackClientForTests(http, SECRET, fake_slack=fake_slack)
        assert slack.command("/mail", "support@acme.test", "UADMIN").status_code == 200
        modal = wait_until(fake_slack.last_view, message="modal opened")
        wait_until(fake_slack.responses, message="respond() reached response_url")
        assert fake_slack.responses()[0]["text"] == "working on support@acme.test"

        values = {"addr": {"email": plain_input("a@acme.test")}, "who": {"u": users_select("UBOB")}}
        response = slack.submit_view("connect", values, "UADMIN", view=modal)
        assert response.status_code == 200
        posted = wait_until(lambda: fake_slack.messages("C_CMD"), message="post after submit")
        assert posted[0]["text"] == "a@acme.test by UBOB"

        assert (
            slack.action("pick", "shared", "UADMIN", action_type="static_select").status_code == 200
        )
        wait_until(lambda: seen.get("picked"), message="action handled")
        assert seen["picked"] == "shared"
        assert static_select("shared")["selected_option"]["value"] == "shared"

        event = message_event("C1", "customer reply", "UALICE")
        slack.event(event, event_id="EvSAME")
        slack.event(event, event_id="EvSAME", retry_num=1, retry_reason="http_timeout")
        got = wait_until(lambda: len(seen.get("events", [])) == 2 and seen["events"])
        assert got == [("customer reply", None), ("customer reply", "1")]


def test_bolt_rejects_bad_and_stale_signatures(
    fake_slack: FakeSlack, bolt_server: tuple[str, dict[str, Any]]
) -> None:
    url, _ = bolt_server
    with httpx.Client(base_url=url, timeout=10) as http:
        slack = SlackClientForTests(http, SECRET)
        body, content_type = slash_command("/mail", "x", "UALICE")
        assert slack.post(body, content_type, signed=False).status_code == 401
        stale = int(time.time()) - 600
        assert slack.post(body, content_type, timestamp=stale).status_code == 401
        wrong = SlackClientForTests(http, "not-the-secret")
        assert wrong.command("/mail", "x").status_code == 401
        challenge = slack.post(*url_verification("c-123"))
        assert challenge.status_code == 200 and challenge.json()["challenge"] == "c-123"
    assert fake_slack.last_view() is None  # no rejected request reached the listener


def test_client_accepts_fastapi_testclient(fake_slack: FakeSlack) -> None:
    seen: dict[str, Any] = {}
    handler = FastApiHandler(_bolt_app(fake_slack, seen))
    api = FastAPI()

    @api.post("/slack/events")
    async def events(req: Request) -> Any:
        return await handler.handle(req)

    with TestClient(api) as http:
        slack = SlackClientForTests(http, SECRET, fake_slack=fake_slack)
        assert (
            slack.action("pick", "personal", "UALICE", action_type="static_select").status_code
            == 200
        )
    assert seen["picked"] == "personal"
