"""A fake Slack Web API served over real HTTP on loopback, plus its pytest fixtures.

The app reaches it exactly as it reaches Slack: through slack_sdk's ``WebClient`` with
``base_url=fake.base_url`` (the app's ``SLACK_API_URL`` setting). Nothing of ours is patched,
so serialisation, headers, retries and error handling are exercised for real.

What it models, and why:
- Answers are stateful (messages, threads, views, files) so a test asserts on what a user
  would see in Slack, not on which function was called.
- Every call is recorded (``calls``) with its decoded parameters for the cases where the wire
  details matter (``unfurl_links=False``, ``thread_ts``...).
- Faults: ``fail_next`` plays 429/5xx answers with ``Retry-After``; ``stall`` applies a call
  and then withholds the answer, which is what a process killed mid-request experiences
  (Slack accepted the post, the app never heard back).
- A few Slack rules that catch real bugs are enforced: 50 blocks / 40,000 characters /
  3,000 characters per section text, 3-second trigger ids (for trigger ids minted by
  ``tests.support.slack_requests``), private channels cannot be joined, optional
  ``not_in_channel`` when ``require_membership`` is on.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "A_MAILROOM"
TEAM_ID = "T1"
TEAM_NAME = "Test"
TEAM_DOMAIN = "test"
TOKEN = "xoxb-test"
# Slack's limits (https://docs.slack.dev/reference/block-kit/blocks, chat.postMessage docs).
MAX_BLOCKS = 50
MAX_TEXT = 40_000
MAX_SECTION_TEXT = 3_000
TRIGGER_TTL = 3.0

# Form fields that slack_sdk (or hand-written api_call code) sends as JSON strings.
_JSON_FIELDS = frozenset(
    {"blocks", "attachments", "metadata", "view", "files", "user_auth_blocks", "event_payload"}
)
# A stalled call never waits longer than this, so a forgotten release cannot hang the suite.
_STALL_SAFETY_TIMEOUT = 120.0


@dataclass
class Call:
    """One request the fake received. ``headers`` keys are lower-case."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    failed: bool = False
    status: int = 200
    response: dict[str, Any] | None = None


class Stall:
    """Event-like handle returned by ``FakeSlack.stall``: ``set()``/``release()`` lets answers go.

    ``entered`` is set once a call has been applied and is being held, so a test can wait for
    "Slack has accepted it" before killing or timing out the caller.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        self._released = threading.Event()
        self.entered = threading.Event()
        self.held = 0  # calls that reached the stall (including released ones)

    def set(self) -> None:
        self._released.set()

    release = set

    def is_set(self) -> bool:
        return self._released.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until released (``threading.Event.wait`` semantics)."""
        return self._released.wait(timeout)

    def wait_for_call(self, timeout: float = 10.0) -> bool:
        """Wait until at least one call is being held; True when one arrived in time."""
        return self.entered.wait(timeout)


@dataclass
class _Fault:
    status: int
    retry_after: int | None
    error: str


@dataclass
class _User:
    id: str
    name: str
    real_name: str
    email: str | None
    is_admin: bool
    is_owner: bool
    is_bot: bool
    tz: str
    deleted: bool = False
    locale: str = "en-US"

    def to_slack(self) -> dict[str, Any]:
        offset = datetime.now(ZoneInfo(self.tz)).utcoffset()
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.name,
            "real_name_normalized": self.real_name,
            "display_name_normalized": self.name,
            "team": TEAM_ID,
        }
        if self.email:
            profile["email"] = self.email
        if self.is_bot:
            profile["bot_id"] = BOT_ID if self.id == BOT_USER_ID else f"B{self.id[1:]}"
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": profile,
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": self.is_owner,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = False
    is_im: bool = False
    user: str | None = None  # the other party of a DM
    members: set[str] = field(default_factory=set)  # people in it (conversations.members)

    def to_slack(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": False,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": False,
            "is_member": self.is_member,
            "context_team_id": TEAM_ID,
            "created": 1700000000,
        }
        if self.is_im:
            data["user"] = self.user
            data.pop("name")
        return data


@dataclass
class _File:
    id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False
    alt_txt: str | None = None
    redirect: str | None = None  # answer its download with a 302 to here
    info: dict[str, Any] | None = None  # what files.info answers (files added by a user)


def _truthy(value: Any) -> bool:
    # Form bodies carry booleans as "1"/"true"; JSON bodies carry real booleans.
    return value in (True, 1, "1", "true", "True")


def _ts_key(ts: str) -> tuple[int, int]:
    # Compare Slack timestamps exactly: floats lose the last micro-digits at this magnitude.
    seconds, _, micros = str(ts).partition(".")
    return int(seconds or 0), int((micros or "0").ljust(6, "0")[:6])


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """Split a multipart/form-data body into text fields and file parts (no ``cgi``: gone in 3.13)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            files[str(name)] = payload
        else:
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8")
    return fields, files


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so a stalled answer never blocks a pooled socket.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output readable; every call is in FakeSlack.calls anyway

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.path.startswith("/files-pri/"):
            self._send_file(headers)
            return
        try:
            status, extra_headers, payload = self.server.fake._serve(
                self.command, self.path, headers, body
            )
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hang
            status, extra_headers = 500, {}
            payload = {"ok": False, "error": "fake_slack_internal_error", "detail": repr(exc)}
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. timed out on a stalled call): that is the point

    def _send_file(self, headers: dict[str, str]) -> None:
        """A shared file's bytes (``url_private_download``), for the bot token only."""
        status, data = self.server.fake._serve_file(self.path, headers)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", data.decode())
            data = b""
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeSlack:
    """Slack's Web API, in memory, behind a real HTTP server on 127.0.0.1."""

    def __init__(
        self,
        *,
        ts_base: float | None = 1700000000.0,
        trigger_ttl: float | None = TRIGGER_TTL,
        require_membership: bool = False,
    ) -> None:
        # ts_base: deterministic message timestamps ("1700000000.000100", ...); None uses the
        # wall clock (still strictly increasing) for code that compares ts with time.time().
        self.ts_base = ts_base
        self.trigger_ttl = trigger_ttl
        self.require_membership = require_membership
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.calls: list[Call] = []
        # Socket Mode's websocket server (tests.support.socket_mode.FakeSocketMode): when set,
        # apps.connections.open hands out its URLs.
        self.socket_mode: Any | None = None
        self._reset_state()

    # ------------------------------------------------------------------ lifecycle
    def _reset_state(self) -> None:
        self.calls = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._rejections: list[tuple[str, Callable[[dict[str, Any]], bool], str]] = []
        self._stalls: dict[str, Stall] = {}
        self._counter = itertools.count(1)
        self._last_micros = 0
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._last_modal_id: str | None = None
        self._homes: dict[str, str] = {}
        self._files: dict[str, _File] = {}
        self._responses: list[dict[str, Any]] = []
        self._expired_triggers: set[str] = set()
        self.add_user(BOT_USER_ID, name="mailroom", real_name="Mailroom", is_bot=True)

    def start(self) -> FakeSlack:
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # quick shutdown keeps the fixture cheap
                name="fake-slack",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self.release_all()  # held handler threads must finish before the socket closes
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every call, message, view, file and fault (users go back to just UBOT)."""
        self.release_all()
        with self._lock:
            self._reset_state()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give ``WebClient(base_url=...)`` / the app's ``SLACK_API_URL``."""
        return f"{self.root_url}/api/"

    def env(
        self, *, token: str = TOKEN, signing_secret: str = "test-signing-secret"
    ) -> dict[str, str]:
        """Environment for an app process (subprocess or monkeypatch.setenv) that talks to us."""
        return {
            "SLACK_API_URL": self.base_url,
            "SLACK_BOT_TOKEN": token,
            "SLACK_SIGNING_SECRET": signing_secret,
        }

    def response_url(self) -> str:
        """A fresh ``response_url`` for command/action payloads; POSTs to it land in ``responses()``."""
        return f"{self.root_url}/response/{next(self._counter)}"

    # ------------------------------------------------------------------ set-up helpers
    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        email: str | None = None,
        is_admin: bool = False,
        is_owner: bool = False,
        is_bot: bool = False,
        tz: str = "UTC",
        deleted: bool = False,
        locale: str = "en-US",
    ) -> None:
        name = name or user_id.lower()
        with self._lock:
            self._users[user_id] = _User(
                id=user_id,
                name=name,
                real_name=real_name or name.title(),
                email=email,
                is_admin=is_admin or is_owner,  # Slack owners are admins too
                is_owner=is_owner,
                is_bot=is_bot,
                tz=tz,
                deleted=deleted,
                locale=locale,
            )

    def set_locale(self, user_id: str, locale: str) -> None:
        """Change a registered user's language (Slack sends ``user_change`` then)."""
        with self._lock:
            self._users[user_id].locale = locale

    def set_email(self, user_id: str, email: str | None) -> None:
        """Change a registered user's profile email (as after a confirmed change in Slack)."""
        with self._lock:
            self._users[user_id].email = email

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool = False,
        is_member: bool = False,
        members: list[str] | None = None,
    ) -> None:
        with self._lock:
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=name or channel_id.lower(),
                is_private=is_private,
                is_member=is_member,
                members=set(members or []),
            )

    def set_members(self, channel_id: str, *user_ids: str) -> None:
        """Who ``conversations.members`` lists for a channel (created public if unknown)."""
        with self._lock:
            channel = self._channel(channel_id)
            assert channel is not None, channel_id
            channel.members = set(user_ids)

    def add_file(
        self,
        filename: str,
        data: bytes,
        *,
        mimetype: str = "text/csv",
        filetype: str = "csv",
        redirect: str | None = None,
        user: str = "UALICE",
    ) -> dict[str, Any]:
        """A file ``user`` uploaded (its bytes downloadable with a bot token); returns the
        file object as Slack puts it in a message event's ``files`` and answers in
        files.info. With ``redirect``, its download answers 302 to that URL (a client must
        not carry the token there)."""
        with self._lock:
            file_id = self._next_id("F")
            url = f"{self.root_url}/files-pri/{TEAM_ID}-{file_id}/download/{filename}"
            info = {
                "id": file_id,
                "name": filename,
                "title": filename,
                "mimetype": mimetype,
                "filetype": filetype,
                "size": len(data),
                "user": user,
                "url_private": url,
                "url_private_download": url,
            }
            self._files[file_id] = _File(
                id=file_id,
                filename=filename,
                length=len(data),
                data=data,
                title=filename,
                completed=True,
                redirect=redirect,
                info=info,
            )
        return copy.deepcopy(info)

    def _serve_file(self, raw_path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            self.calls.append(
                Call(method="files-pri", params={"path": raw_path}, headers=headers, at=time.time())
            )
            if self._check_auth(headers, {}):
                return 403, b""  # Slack answers a login page; a status is enough here
            file_id = urlsplit(raw_path).path.split("/")[2].split("-", 1)[-1]
            record = self._files.get(file_id)
            if record is None or record.data is None:
                return 404, b""
            if record.redirect:
                return 302, record.redirect.encode()
            return 200, record.data

    def expire_trigger(self, trigger_id: str) -> None:
        """Make views.open/push with this trigger answer ``expired_trigger_id``."""
        with self._lock:
            self._expired_triggers.add(trigger_id)

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        error: str = "ratelimited",
        count: int = 1,
    ) -> None:
        """The next ``count`` calls to ``method`` fail (recorded with ``failed=True``, not applied)."""
        with self._lock:
            queue = self._faults.setdefault(method, deque())
            queue.extend(_Fault(status, retry_after, error) for _ in range(count))

    def reject(self, method: str, matches: Callable[[dict[str, Any]], bool], *, error: str) -> None:
        """Every call to ``method`` whose parameters ``matches`` is refused with ``error``
        (HTTP 200, as Slack refuses content), until ``stop_rejecting``."""
        with self._lock:
            self._rejections.append((method, matches, error))

    def stop_rejecting(self) -> None:
        with self._lock:
            self._rejections.clear()

    def stall(self, method: str) -> Stall:
        """Apply calls to ``method`` but hold their answers until the handle is set/released."""
        handle = Stall(method)
        with self._lock:
            self._stalls[method] = handle
        return handle

    def release_all(self) -> None:
        with self._lock:
            stalls = list(self._stalls.values())
            self._stalls.clear()
        for handle in stalls:
            handle.set()

    # ------------------------------------------------------------------ queries
    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def clear(self) -> None:
        """Forget recorded calls only (state such as messages stays)."""
        with self._lock:
            self.calls = []

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message of the channel (top level and replies) in post order."""
        with self._lock:
            return copy.deepcopy(self._messages.get(self._normalise_channel(channel), []))

    def top_level(self, channel: str) -> list[dict[str, Any]]:
        return [m for m in self.messages(channel) if not _is_reply(m)]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies (not the parent) of a thread, in post order."""
        return [m for m in self.messages(channel) if _is_reply(m) and m["thread_ts"] == thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages(channel) if m["ts"] == ts), None)

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy([e for e in self._ephemerals if user is None or e["user"] == user])

    def last_view(self) -> dict[str, Any] | None:
        """The modal most recently opened, pushed or updated (home tabs: ``home_view``)."""
        with self._lock:
            if self._last_modal_id is None:
                return None
            return copy.deepcopy(self._views[self._last_modal_id])

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._homes.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def uploaded_files(self) -> list[dict[str, Any]]:
        """Files whose bytes arrived, in upload order; ``completed`` once shared."""
        with self._lock:
            return [
                {
                    "id": f.id,
                    "title": f.title,
                    "filename": f.filename,
                    "bytes": f.data,
                    "length": f.length,
                    "channel": f.channel,
                    "thread_ts": f.thread_ts,
                    "initial_comment": f.initial_comment,
                    "completed": f.completed,
                }
                for f in self._files.values()
                if f.data is not None
            ]

    def responses(self) -> list[dict[str, Any]]:
        """Bodies POSTed to response_urls (Bolt's ``respond``), each with its ``url``."""
        with self._lock:
            return copy.deepcopy(self._responses)

    # ------------------------------------------------------------------ HTTP entry point
    def _serve(
        self, verb: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        url = urlsplit(raw_path)
        path = url.path
        if path.startswith("/upload/"):
            return self._serve_upload(path.removeprefix("/upload/"), headers, body)
        if path.startswith("/response/"):
            return self._serve_response_url(raw_path, headers, body)
        # Accept both ".../api/<method>" (Slack's layout) and "/<method>".
        method = path.removeprefix("/api/").lstrip("/")
        params = self._decode_params(url.query, headers, body)
        now = time.time()

        with self._lock:
            call = Call(method=method, params=params, headers=headers, at=now)
            self.calls.append(call)
            fault_queue = self._faults.get(method)
            if fault_queue:
                fault = fault_queue.popleft()
                call.failed, call.status = True, fault.status
                call.response = {"ok": False, "error": fault.error}
                extra = (
                    {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                )
                return fault.status, extra, call.response
            for rejected_method, matches, error in self._rejections:
                if rejected_method == method and matches(params):
                    call.failed, call.response = True, {"ok": False, "error": error}
                    return 200, {}, call.response
            auth_error = self._check_auth(headers, params, method)
            if auth_error:
                call.response = {"ok": False, "error": auth_error}
                return 200, {}, call.response
            handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
                self, "_api_" + method.replace(".", "_"), None
            )
            if handler is None:
                call.response = {"ok": False, "error": "unknown_method"}
                return 200, {}, call.response
            answer = handler(params)
            answer.setdefault("ok", True)
            call.response = answer
            stall = self._stalls.get(method)
            if stall is not None:
                stall.held += 1

        if stall is not None:
            # Applied and recorded above; only the answer waits, as when a process dies
            # after Slack accepted the request.
            stall.entered.set()
            stall.wait(_STALL_SAFETY_TIMEOUT)
        return 200, {}, answer

    def _decode_params(self, query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = headers.get("content-type", "")
        if body:
            if "json" in content_type:
                decoded = json.loads(body.decode("utf-8"))
                if isinstance(decoded, dict):
                    params.update(decoded)
            elif content_type.startswith("multipart/form-data"):
                fields, files = _parse_multipart(body, content_type)
                params.update(fields)
                params.update({name: data for name, data in files.items()})
            else:
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        for key in _JSON_FIELDS & params.keys():
            params[key] = _maybe_json(params[key])
        return params

    def _check_auth(
        self, headers: dict[str, str], params: dict[str, Any], method: str = ""
    ) -> str | None:
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if method == "apps.connections.open":
            # Only an app-level token, and only in the Authorization header (Slack's docs).
            if not token:
                return "not_authed"
            return None if token.startswith("xapp-") else "not_allowed_token_type"
        token = token or str(params.pop("token", "") or "")  # Slack also accepts a token field
        if not token:
            return "not_authed"
        if not token.startswith(("xoxb-", "xoxp-")):
            return "invalid_auth"
        return None

    def _serve_upload(
        self, file_id: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        content_type = headers.get("content-type", "")
        data = body
        # slack_sdk posts the raw bytes (urllib labels them form-urlencoded, so the content
        # type proves nothing); other clients send multipart with one file part.
        if content_type.startswith("multipart/form-data"):
            _fields, files = _parse_multipart(body, content_type)
            if files:
                data = next(iter(files.values()))
        with self._lock:
            self.calls.append(
                Call(
                    method="upload",
                    params={"file_id": file_id, "length": len(data)},
                    headers=headers,
                    at=time.time(),
                )
            )
            record = self._files.get(file_id)
            if record is None:
                return 404, {}, {"ok": False, "error": "file_not_found"}
            record.data = data
        return 200, {}, {"ok": True, "size": len(data)}

    def _serve_response_url(
        self, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        params = self._decode_params("", headers, body)
        with self._lock:
            url = f"{self.root_url}{raw_path}"
            self.calls.append(
                Call(method="response_url", params=params, headers=headers, at=time.time())
            )
            self._responses.append({"url": url, **params})
        return 200, {}, {"ok": True}

    # ------------------------------------------------------------------ state helpers
    def _next_ts(self) -> str:
        # Strictly increasing, in whole microseconds so string and numeric order agree.
        if self.ts_base is None:
            micros = max(int(time.time() * 1_000_000), self._last_micros + 1)
        else:
            micros = max(int(self.ts_base * 1_000_000), self._last_micros) + 100
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._counter):06d}"

    def _normalise_channel(self, channel: str) -> str:
        # Posting to a user id lands in the DM with that user, and Slack answers with the D id.
        if channel[:1] in ("U", "W"):
            return self._open_dm(channel).id
        return channel

    def _open_dm(self, user_id: str) -> _Channel:
        channel_id = f"D{user_id}"
        existing = self._channels.get(channel_id)
        if existing is None:
            existing = _Channel(
                id=channel_id, name=channel_id, is_im=True, is_member=True, user=user_id
            )
            self._channels[channel_id] = existing
        return existing

    def _channel(self, channel_id: str) -> _Channel | None:
        if not channel_id:
            return None
        channel_id = self._normalise_channel(channel_id)
        found = self._channels.get(channel_id)
        if found is None and channel_id[:1] in ("C", "G"):
            # Unregistered channels exist, public, bot not a member: tests need not declare them.
            found = _Channel(
                id=channel_id, name=channel_id.lower(), is_private=channel_id[0] == "G"
            )
            self._channels[channel_id] = found
        return found

    def _find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for message in self._messages.get(self._normalise_channel(channel), []):
            if message["ts"] == ts:
                return message
        return None

    def _validate_content(self, params: dict[str, Any]) -> str | None:
        text = params.get("text")
        blocks = params.get("blocks")
        if not text and not blocks and not params.get("attachments"):
            return "no_text"
        if text is not None and len(str(text)) > MAX_TEXT:
            return "msg_too_long"
        if blocks is not None:
            if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
                return "invalid_blocks"
            for block in blocks:
                if not isinstance(block, dict) or "type" not in block:
                    return "invalid_blocks"
                if block["type"] == "section":
                    texts = [block.get("text"), *(block.get("fields") or [])]
                    for item in texts:
                        if (
                            isinstance(item, dict)
                            and len(str(item.get("text", ""))) > MAX_SECTION_TEXT
                        ):
                            return "invalid_blocks"
        return None

    def _check_trigger(self, trigger_id: Any) -> str | None:
        if not trigger_id:
            return "invalid_arguments"
        trigger = str(trigger_id)
        if trigger in self._expired_triggers:
            return "expired_trigger_id"
        # Trigger ids minted by slack_requests start with their creation time in ms; real
        # Slack refuses them after 3 s, which is why modals must open before slow work.
        head = trigger.split(".", 1)[0]
        minted_here = len(head) == 13 and head.isdigit()
        age = time.time() - int(head) / 1000 if minted_here else 0.0
        if self.trigger_ttl is not None and age > self.trigger_ttl:
            return "expired_trigger_id"
        return None

    # ------------------------------------------------------------------ Web API methods
    def _api_api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"args": params}

    def _api_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.socket_mode is None:
            return {"ok": False, "error": "access_denied"}  # Socket Mode not turned on
        return {"url": self.socket_mode.url()}

    def _api_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": "mailroom",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _api_team_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"team": {"id": TEAM_ID, "name": TEAM_NAME, "domain": TEAM_DOMAIN}}

    def _api_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if self.require_membership and not channel.is_member and not channel.is_im:
            return {"ok": False, "error": "not_in_channel"}
        problem = self._validate_content(params)
        if problem:
            return {"ok": False, "error": problem}
        message = self._store_message(channel.id, params)
        public = {k: v for k, v in message.items() if k != "channel"}
        return {"channel": channel.id, "ts": message["ts"], "message": public}

    def _store_message(self, channel_id: str, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel_id,
            "ts": ts,
            "text": params.get("text") or "",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
        }
        for key in (
            "blocks",
            "attachments",
            "metadata",
            "files",
            "username",
            "icon_emoji",
            "icon_url",
        ):
            if params.get(key) is not None:
                message[key] = params[key]
        for key in ("unfurl_links", "unfurl_media", "mrkdwn"):
            if key in params:
                message[key] = _truthy(params[key])
        thread_ts = params.get("thread_ts")
        if thread_ts:
            parent = self._find_message(channel_id, str(thread_ts))
            root = str(parent.get("thread_ts") or parent["ts"]) if parent else str(thread_ts)
            message["thread_ts"] = root
            if _truthy(params.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
            root_message = self._find_message(channel_id, root)
            if root_message is not None:
                root_message["thread_ts"] = root
                root_message["reply_count"] = root_message.get("reply_count", 0) + 1
                root_message["latest_reply"] = ts
                users = root_message.setdefault("reply_users", [])
                if BOT_USER_ID not in users:
                    users.append(BOT_USER_ID)
                root_message["reply_users_count"] = len(users)
        self._messages.setdefault(channel_id, []).append(message)
        return message

    def _api_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        user = str(params.get("user") or "")
        if user not in self._users:
            return {"ok": False, "error": "user_not_found"}
        problem = self._validate_content(params)
        if problem:
            return {"ok": False, "error": problem}
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": params.get("text") or "",
                "blocks": params.get("blocks"),
                "attachments": params.get("attachments"),
                "thread_ts": params.get("thread_ts"),
                "message_ts": ts,
            }
        )
        return {"message_ts": ts}

    def _api_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        message = self._find_message(channel, str(params.get("ts") or ""))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        problem = self._validate_content({**message, **params})
        if problem:
            return {"ok": False, "error": problem}
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params and params[key] is not None:
                message[key] = params[key]
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        public = {k: v for k, v in message.items() if k != "channel"}
        return {
            "channel": message["channel"],
            "ts": message["ts"],
            "text": message["text"],
            "message": public,
        }

    def _api_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._normalise_channel(str(params.get("channel") or ""))
        ts = str(params.get("ts") or "")
        history = self._messages.get(channel, [])
        for index, message in enumerate(history):
            if message["ts"] == ts:
                del history[index]
                return {"channel": channel, "ts": ts}
        return {"ok": False, "error": "message_not_found"}

    def _api_chat_getPermalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._normalise_channel(str(params.get("channel") or ""))
        ts = str(params.get("message_ts") or "")
        if self._find_message(channel, ts) is None:
            return {"ok": False, "error": "message_not_found"}
        return {
            "channel": channel,
            "permalink": f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _api_conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        # History holds top-level messages and broadcast replies, newest first, like Slack.
        visible = [
            m
            for m in self._messages.get(channel.id, [])
            if not _is_reply(m) or m.get("subtype") == "thread_broadcast"
        ]
        visible = _window(visible, params)
        visible.reverse()
        return _page(visible, params, key="messages")

    def _api_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._normalise_channel(str(params.get("channel") or ""))
        ts = str(params.get("ts") or "")
        anchor = self._find_message(channel, ts)
        if anchor is None:
            return {"ok": False, "error": "thread_not_found"}
        root = str(anchor.get("thread_ts") or anchor["ts"])
        # Slack returns the parent first, then replies oldest first; oldest/latest filter both.
        thread = [
            m
            for m in self._messages.get(channel, [])
            if m["ts"] == root or m.get("thread_ts") == root
        ]
        thread = _window(thread, params)
        return _page(thread, params, key="messages")

    def _api_conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None or channel.is_im:
            return {"ok": False, "error": "channel_not_found"}
        if channel.is_private:
            return {"ok": False, "error": "method_not_supported_for_channel_type"}
        already = channel.is_member
        channel.is_member = True
        answer: dict[str, Any] = {"channel": channel.to_slack()}
        if already:
            answer["warning"] = "already_in_channel"
            answer["response_metadata"] = {"warnings": ["already_in_channel"]}
        return answer

    def _api_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"channel": channel.to_slack()}

    def _api_conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None or (channel.is_private and not channel.is_member):
            return {"ok": False, "error": "channel_not_found"}
        members = sorted(channel.members | ({BOT_USER_ID} if channel.is_member else set()))
        if channel.is_im and channel.user:
            members = sorted({channel.user, BOT_USER_ID})
        return _page(members, params, key="members")

    def _api_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            channel = self._channel(str(params["channel"]))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            return {"channel": {"id": channel.id}}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        missing = [u for u in users if u not in self._users]
        if missing:
            return {"ok": False, "error": "user_not_found"}
        if len(users) == 1:
            channel = self._open_dm(users[0])
        else:
            group_id = "G" + "".join(sorted(u[1:] for u in users))
            channel = self._channels.setdefault(
                group_id,
                _Channel(id=group_id, name=group_id.lower(), is_private=True, is_member=True),
            )
        answer: dict[str, Any] = {"channel": {"id": channel.id}}
        if _truthy(params.get("return_im")):
            answer["channel"] = channel.to_slack()
        return answer

    def _api_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find_message(
            str(params.get("channel") or ""), str(params.get("timestamp") or "")
        )
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        name = str(params.get("name") or "").strip(":")
        if not name:
            return {"ok": False, "error": "invalid_name"}
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if BOT_USER_ID in reaction["users"]:
                    return {"ok": False, "error": "already_reacted"}
                reaction["users"].append(BOT_USER_ID)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {}

    def _api_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._find_message(
            str(params.get("channel") or ""), str(params.get("timestamp") or "")
        )
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        name = str(params.get("name") or "").strip(":")
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and BOT_USER_ID in reaction["users"]:
                reaction["users"].remove(BOT_USER_ID)
                reaction["count"] -= 1
                if not reaction["count"]:
                    message["reactions"].remove(reaction)
                return {}
        return {"ok": False, "error": "no_reaction"}

    def _api_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        answer = user.to_slack()
        # As Slack does: the locale only when asked for.
        if str(params.get("include_locale", "")).lower() in ("1", "true"):
            answer["locale"] = user.locale
        return {"user": answer}

    def _api_users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").lower()
        for user in self._users.values():
            if user.email and user.email.lower() == email:
                return {"user": user.to_slack()}
        return {"ok": False, "error": "users_not_found"}

    # views --------------------------------------------------------------------------
    def _make_view(
        self, view: Any, view_id: str, *, root: str | None, previous: str | None
    ) -> dict[str, Any] | None:
        if not isinstance(view, dict) or "type" not in view:
            return None
        stored = copy.deepcopy(view)
        stored.update(
            {
                "id": view_id,
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "hash": f"{int(time.time())}.{next(self._counter)}",
                "root_view_id": root or view_id,
                "previous_view_id": previous,
                "app_installed_team_id": TEAM_ID,
            }
        )
        stored.setdefault("private_metadata", "")
        stored.setdefault("callback_id", "")
        stored.setdefault("external_id", "")
        stored.setdefault("blocks", [])
        stored["state"] = {"values": {}}
        return stored

    def _api_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._check_trigger(
            params.get("trigger_id") or params.get("interactivity_pointer")
        )
        if problem:
            return {"ok": False, "error": problem}
        view_id = self._next_id("V")
        view = self._make_view(params.get("view"), view_id, root=None, previous=None)
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        self._views[view_id] = view
        self._last_modal_id = view_id
        return {"view": copy.deepcopy(view)}

    def _api_views_push(self, params: dict[str, Any]) -> dict[str, Any]:
        problem = self._check_trigger(
            params.get("trigger_id") or params.get("interactivity_pointer")
        )
        if problem:
            return {"ok": False, "error": problem}
        previous = self._last_modal_id
        root = self._views[previous]["root_view_id"] if previous else None
        view_id = self._next_id("V")
        view = self._make_view(params.get("view"), view_id, root=root, previous=previous)
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        self._views[view_id] = view
        self._last_modal_id = view_id
        return {"view": copy.deepcopy(view)}

    def _api_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id") or "")
        external_id = params.get("external_id")
        if not view_id and external_id:
            view_id = next(
                (vid for vid, v in self._views.items() if v.get("external_id") == external_id), ""
            )
        current = self._views.get(view_id)
        if current is None:
            return {"ok": False, "error": "not_found"}
        if params.get("hash") and params["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view = self._make_view(
            params.get("view"),
            view_id,
            root=current["root_view_id"],
            previous=current["previous_view_id"],
        )
        if view is None:
            return {"ok": False, "error": "invalid_arguments"}
        self._views[view_id] = view
        if view["type"] != "home":
            self._last_modal_id = view_id
        return {"view": copy.deepcopy(view)}

    def _api_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user_id") or "")
        if user_id not in self._users:
            return {"ok": False, "error": "user_not_found"}
        current_id = self._homes.get(user_id)
        if current_id and params.get("hash") and params["hash"] != self._views[current_id]["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view_id = current_id or self._next_id("V")  # Slack keeps one home view id per user
        view = self._make_view(params.get("view"), view_id, root=None, previous=None)
        if view is None or view.get("type") != "home":
            return {"ok": False, "error": "invalid_arguments"}
        self._views[view_id] = view
        self._homes[user_id] = view_id
        return {"view": copy.deepcopy(view)}

    # files --------------------------------------------------------------------------
    def _api_files_info(self, params: dict[str, Any]) -> dict[str, Any]:
        record = self._files.get(str(params.get("file") or ""))
        if record is None or record.info is None:
            return {"ok": False, "error": "file_not_found"}
        return {"file": copy.deepcopy(record.info)}

    def _api_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length in (None, ""):
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self._next_id("F")
        self._files[file_id] = _File(
            id=file_id, filename=str(filename), length=int(length), alt_txt=params.get("alt_txt")
        )
        return {"upload_url": f"{self.root_url}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            return {"ok": False, "error": "invalid_arguments"}
        records: list[_File] = []
        for entry in entries:
            record = self._files.get(str(entry.get("id")))
            if record is None or record.data is None:
                return {"ok": False, "error": "file_not_found"}
            record.title = entry.get("title") or record.filename
            records.append(record)
        channel_id = params.get("channel_id") or params.get("channels")
        channel = self._channel(str(channel_id).split(",")[0]) if channel_id else None
        thread_ts = params.get("thread_ts") or None
        described = []
        for record in records:
            record.completed = True
            record.channel = channel.id if channel else None
            record.thread_ts = thread_ts
            record.initial_comment = params.get("initial_comment")
            described.append(
                {
                    "id": record.id,
                    "name": record.filename,
                    "title": record.title,
                    "size": len(record.data or b""),
                    "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{record.id}/{record.filename}",
                    "permalink": f"https://{TEAM_DOMAIN}.slack.com/files/{BOT_USER_ID}/{record.id}/{record.filename}",
                }
            )
        if channel is not None:
            # Real Slack shares the files as a message (in the thread when thread_ts is given).
            self._store_message(
                channel.id,
                {
                    "text": params.get("initial_comment") or "",
                    "files": described,
                    "thread_ts": thread_ts,
                },
            )
        return {"files": described}


def _is_reply(message: dict[str, Any]) -> bool:
    return bool(message.get("thread_ts")) and message["thread_ts"] != message["ts"]


def _window(messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Apply Slack's oldest/latest bounds (exclusive unless ``inclusive``)."""
    inclusive = _truthy(params.get("inclusive"))
    oldest = _ts_key(params["oldest"]) if params.get("oldest") not in (None, "") else None
    latest = _ts_key(params["latest"]) if params.get("latest") not in (None, "") else None
    kept = []
    for message in messages:
        key = _ts_key(message["ts"])
        if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
            continue
        if latest is not None and (key > latest or (key == latest and not inclusive)):
            continue
        kept.append({k: v for k, v in message.items() if k != "channel"})
    return copy.deepcopy(kept)


def _page(items: list[Any], params: dict[str, Any], *, key: str) -> dict[str, Any]:
    # Cursor = offset: opaque to callers, as Slack's is, and enough to exercise pagination.
    start = int(params.get("cursor") or 0)
    limit = int(params.get("limit") or 100)
    chunk = items[start : start + limit]
    has_more = start + limit < len(items)
    return {
        key: chunk,
        "has_more": has_more,
        "response_metadata": {"next_cursor": str(start + limit) if has_more else ""},
    }


# ---------------------------------------------------------------------- fixtures
DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "UADMIN": {
        "name": "admin",
        "real_name": "Ada Admin",
        "email": "admin@example.com",
        "is_admin": True,
    },
    "UOWNER": {
        "name": "owner",
        "real_name": "Olga Owner",
        "email": "owner@example.com",
        "is_owner": True,
    },
    "USALES": {"name": "sales", "real_name": "Sam Sales", "email": "sales@example.com"},
    "UALICE": {"name": "alice", "real_name": "Alice Example", "email": "alice@example.com"},
    "UBOB": {"name": "bob", "real_name": "Bob Example", "email": "bob@example.com"},
}


def seed_default_users(fake: FakeSlack) -> None:
    for user_id, attrs in DEFAULT_USERS.items():
        fake.add_user(user_id, **attrs)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A started FakeSlack with UADMIN, UOWNER, USALES, UALICE, UBOB (and UBOT) registered."""
    with FakeSlack() as fake:
        seed_default_users(fake)
        yield fake


@pytest.fixture(scope="session")
def fake_slack_session() -> Iterator[FakeSlack]:
    """One FakeSlack for a whole session (e.g. for a session-scoped app server).

    Its state is shared: use the function-scoped ``fake_slack_shared`` to get it reset.
    """
    with FakeSlack() as fake:
        seed_default_users(fake)
        yield fake


@pytest.fixture
def fake_slack_shared(fake_slack_session: FakeSlack) -> FakeSlack:
    """The session FakeSlack, emptied (default users re-registered) before each test."""
    fake_slack_session.reset()
    seed_default_users(fake_slack_session)
    return fake_slack_session
