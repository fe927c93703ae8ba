"""The real server refuses oversized and malformed requests cheaply, and sends browser
security headers: oversized bodies (declared or streamed), a non-numeric Slack timestamp,
invalid UTF-8, and the headers on the HTML pages."""

from __future__ import annotations

import hmac
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.fake_slack import FakeSlack
from tests.support.harness import SIGNING_SECRET, AppProcess, app_env
from tests.support.slack_requests import SlackSigner, event_callback

FIFTY_MB = 50 * 1024 * 1024
CHUNK = b"a" * (64 * 1024)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    tmp_path = tmp_path_factory.mktemp("webguard")
    with FakeSlack(ts_base=None, trigger_ttl=None) as slack:
        env = app_env(
            slack,
            f"sqlite:///{tmp_path / 'm.db'}",
            tmp_path / "data",
            GOOGLE_CLIENT_ID="client-id",
            GOOGLE_CLIENT_SECRET="client-secret",
            PUBLIC_URL="http://127.0.0.1",
        )
        process = AppProcess(env, tmp_path).start()
        try:
            yield process
        finally:
            process.stop()


def rss_bytes(app: AppProcess) -> int:
    assert app.proc is not None
    status = Path(f"/proc/{app.proc.pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    assert match, status
    return int(match.group(1)) * 1024


def send_until_answered(app: AppProcess, head: bytes, chunks: Iterator[bytes]) -> tuple[str, int]:
    """Send ``head`` then ``chunks`` while reading the answer; (status line, bytes sent).

    Sending runs in its own thread so the server's early answer is seen while the client is
    still pushing the body, as a real attacker's connection would be.
    """
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=10)
    sent = 0
    answered = threading.Event()

    def push() -> None:
        nonlocal sent
        try:
            sock.sendall(head)
            for chunk in chunks:
                if answered.is_set():
                    return
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            return  # the server hung up: exactly what a refusal may do

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
        answered.set()
    finally:
        pusher.join(30)
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), sent


def body_chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // len(CHUNK)):
        yield CHUNK


def chunked_encoding(total: int) -> Iterator[bytes]:
    for chunk in body_chunks(total):
        yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
    yield b"0\r\n\r\n"


def post_head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\n{extra}\r\n"
    ).encode()


def test_declared_50_mb_body_is_refused_before_it_is_read(app: AppProcess) -> None:
    before = rss_bytes(app)
    started = time.monotonic()
    status, sent = send_until_answered(
        app,
        post_head("/slack/events", f"Content-Length: {FIFTY_MB}\r\n"),
        body_chunks(FIFTY_MB),
    )
    elapsed = time.monotonic() - started
    assert status.startswith("HTTP/1.1 413"), status
    assert elapsed < 5, elapsed
    assert rss_bytes(app) - before < 20 * 1024 * 1024
    # Refused on the header: the answer came long before the body could have been sent.
    assert sent < FIFTY_MB


def test_chunked_50_mb_body_is_cut_off_at_the_limit(app: AppProcess) -> None:
    before = rss_bytes(app)
    started = time.monotonic()
    status, sent = send_until_answered(
        app,
        post_head("/slack/events", "Transfer-Encoding: chunked\r\n"),
        chunked_encoding(FIFTY_MB),
    )
    assert status.startswith("HTTP/1.1 413"), status
    assert time.monotonic() - started < 10
    assert rss_bytes(app) - before < 20 * 1024 * 1024
    assert sent < FIFTY_MB


def test_oauth_callback_has_a_small_limit(app: AppProcess) -> None:
    # Microsoft's form_post callback carries a few kilobytes; a megabyte is no sign-in.
    body = b"code=" + b"x" * (1024 * 1024)
    answer = httpx.post(
        app.url + "/oauth/microsoft/callback",
        content=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.status_code == 413


def test_ordinary_slack_request_still_passes(app: AppProcess) -> None:
    body, content_type = event_callback(
        {"type": "app_home_opened", "user": "UALICE", "tab": "messages"}
    )
    answer = httpx.post(
        app.url + "/slack/events",
        content=body,
        headers=SlackSigner(SIGNING_SECRET).headers(body, content_type=content_type),
        timeout=10,
    )
    assert answer.status_code == 200


def test_non_numeric_timestamp_is_a_400_not_a_500(app: AppProcess) -> None:
    body, content_type = event_callback({"type": "app_home_opened", "user": "UALICE"})
    headers = SlackSigner(SIGNING_SECRET).headers(body, content_type=content_type)
    headers["X-Slack-Request-Timestamp"] = "soon"
    answer = httpx.post(app.url + "/slack/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert "Traceback" not in app.log.read_text()


def test_invalid_utf8_body_is_a_400_not_a_500(app: AppProcess) -> None:
    body = b'{"type": "event_callback", "x": "\xff\xfe"}'
    # Signed over the raw bytes as Slack would (the SDK's signer only takes text).
    timestamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + timestamp.encode() + b":" + body, "sha256")
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    answer = httpx.post(app.url + "/slack/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert "Traceback" not in app.log.read_text()


def test_bad_signature_is_still_401(app: AppProcess) -> None:
    body, content_type = event_callback({"type": "app_home_opened", "user": "UALICE"})
    headers = SlackSigner("not-the-secret").headers(body, content_type=content_type)
    answer = httpx.post(app.url + "/slack/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "path", ["/oauth/google/callback?state=unknown&code=x", "/oauth/nowhere/start"]
)
def test_html_pages_forbid_framing_scripts_and_sniffing(app: AppProcess, path: str) -> None:
    answer = httpx.get(app.url + path, timeout=10)
    assert answer.headers["content-type"].startswith("text/html")
    csp = answer.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[]", "application/json"),
        (b"payload=%7Bbad", "application/x-www-form-urlencoded"),
        (b"payload=%5B%5D", "application/x-www-form-urlencoded"),
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_body_that_does_not_parse_is_a_400_signed_or_not(
    app: AppProcess, body: bytes, content_type: str, signed: bool
) -> None:
    # Bolt parses before it checks the signature: an unsigned stranger reaches the parser.
    secret = SIGNING_SECRET if signed else "not-the-secret"
    headers = SlackSigner(secret).headers(body, content_type=content_type)
    answer = httpx.post(app.url + "/slack/events", content=body, headers=headers, timeout=10)
    assert answer.status_code == 400
    assert "Traceback" not in app.log.read_text()
