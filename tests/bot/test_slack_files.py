"""Pure checks behind the token-safe downloads and the "Show full email" references."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.slack_files import is_remote_file, is_slack_hosted
from tests.support.harness import Harness, HarnessFactory
from tests.support.settings import settings
from tests.support.threads import CHANNEL, open_posted_thread, rendered, thread_note
from tests.support.wait import wait_until


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com/files-pri/T1-F1/download/a.pdf",
        "https://FILES.slack.com:443/files-pri/T1-F1/a.pdf",
        "http://127.0.0.1:4567/files-pri/T1-F1/a.pdf",  # the configured SLACK_API_URL origin
    ],
)
def test_slack_file_hosts_are_allowed(tmp_path: Path, url: str) -> None:
    assert is_slack_hosted(settings(tmp_path, slack_api_url="http://127.0.0.1:4567/api/"), url)


@pytest.mark.parametrize(
    "url",
    [
        "https://files.slack.com.evil.test/a.pdf",
        "https://evil.test/files.slack.com/a.pdf",
        "https://files.slack.com@evil.test/a.pdf",
        "https://user:pw@files.slack.com/a.pdf",
        "http://files.slack.com/a.pdf",  # the token never travels in clear to Slack's host
        "https://files.slack.com:8443/a.pdf",
        "http://127.0.0.1:4568/a.pdf",  # loopback, but another port than SLACK_API_URL's
        "ftp://files.slack.com/a.pdf",
        "file:///etc/passwd",
        "https://[::1/",
        "",
    ],
)
def test_anything_else_is_refused(tmp_path: Path, url: str) -> None:
    assert not is_slack_hosted(settings(tmp_path, slack_api_url="http://127.0.0.1:4567/api/"), url)


def test_remote_and_external_files_are_recognised() -> None:
    assert is_remote_file({"mode": "external"})
    assert is_remote_file({"mode": "remote"})
    assert is_remote_file({"is_external": True})
    assert is_remote_file({"external_url": "https://drive.example/x"})
    assert not is_remote_file({"mode": "hosted", "url_private": "https://files.slack.com/x"})


class Recorder:
    """An HTTP server on loopback that records every request's Authorization header."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(
                    {"path": self.path, "authorization": self.headers.get("Authorization", "")}
                )
                body = b"attacker-controlled bytes"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def test_a_file_pointing_elsewhere_never_receives_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_posted_thread(h)
    stolen = {
        "id": "F0STEAL",
        "name": "invoice.pdf",
        "mimetype": "application/pdf",
        "size": 10,
        "url_private": f"{recorder.url}/steal",
        "url_private_download": f"{recorder.url}/steal",
    }
    h.reply(CHANNEL, ts, "Here is the invoice.", files=[stolen])
    notice = thread_note(h, ts, "not sent")
    assert "invoice.pdf is not stored in Slack" in rendered(notice)
    assert recorder.requests == []
    assert h.smtp.messages == []


def test_remote_files_are_left_out_and_listed_and_never_fetched(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_posted_thread(h)
    remote = {
        "id": "F0REMOTE",
        "name": "design.fig",
        "mode": "external",
        "is_external": True,
        "external_url": f"{recorder.url}/design",
        "url_private": f"{recorder.url}/design",
        "size": 10,
    }
    real = h.slack.add_file("quote.pdf", b"%PDF quote", mimetype="application/pdf")
    h.reply(CHANNEL, ts, "The quote, and the design.", files=[remote, real])
    mail = h.smtp.wait_for_messages(1)[0].message
    assert [a.get_filename() for a in mail.iter_attachments()] == ["quote.pdf"]
    confirmation = thread_note(h, ts, "Reply sent to")
    assert "Not attached: design.fig" in rendered(confirmation)
    assert recorder.requests == []


def test_a_redirect_from_slacks_host_is_not_followed_with_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    _, ts, _ = open_posted_thread(h)
    moved = h.slack.add_file(
        "moved.pdf", b"x", mimetype="application/pdf", redirect=f"{recorder.url}/moved"
    )
    h.reply(CHANNEL, ts, "Here it is.", files=[moved])
    notice = thread_note(h, ts, "not sent")
    assert "HTTP 302" in rendered(notice)
    assert len(h.slack.calls_to("files-pri")) == 1  # asked Slack once...
    assert recorder.requests == []  # ...and went nowhere else
    assert h.smtp.messages == []


def test_a_file_larger_than_announced_is_cut_off_at_the_cap(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(ATTACHMENT_MAX_BYTES="1000")
    _, ts, _ = open_posted_thread(h)
    big = h.slack.add_file("big.bin", b"B" * 5000, mimetype="application/octet-stream")
    big["size"] = 10  # the event understates it; the download must still stop at the cap
    h.reply(CHANNEL, ts, "A big one.", files=[big])
    notice = thread_note(h, ts, "not sent")
    assert "big.bin is larger than the 1 KB limit" in rendered(notice)
    assert h.smtp.messages == []


def test_a_csv_import_from_elsewhere_never_receives_the_token(
    harness: Harness, recorder: Recorder
) -> None:
    h = harness
    h.connect(user="UALICE")
    stolen = {
        "id": "F0CSV",
        "name": "contacts.csv",
        "filetype": "csv",
        "mimetype": "text/csv",
        "url_private_download": f"{recorder.url}/contacts.csv",
    }
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": "DUALICE",
        "channel_type": "im",
        "user": "UALICE",
        "text": "",
        "ts": f"{1800000000 + uuid.uuid4().int % 1000}.000100",
        "files": [stolen],
    }
    assert h.client.event(event).status_code == 200
    wait_until(
        lambda: [m for m in h.slack.messages("DUALICE") if "not stored in Slack" in m["text"]],
        message="the refusal DM",
    )
    assert recorder.requests == []
