"""What one large mail costs: peak Python memory and Slack calls for a single sync.

Each case delivers one mail to a throwaway Dovecot and runs one sync into the fake Slack
(both on loopback), measuring the peak Python allocation (tracemalloc) of the whole sync:
IMAP fetch, parse, record, post, uploads. Cases:
- a 40 MB attachment (over ATTACHMENT_MAX_BYTES: listed, not uploaded);
- a 9 MiB attachment (under the cap: uploaded);
- 3,000 small attachments (Slack calls made by the sync).
And the parse alone of the 40 MB mail, for the share of the parser; and the parse of a
mail whose To header lists 10,000 and 40,000 addresses (time and peak memory).

Run: .venv/bin/python -m bench.bench_mail_memory
"""

from __future__ import annotations

import json
import tempfile
import time
import tracemalloc
import uuid
from email.message import EmailMessage
from pathlib import Path

from bench.bench_sync import add_mailbox, make_ctx
from bot.formatting.inbound import parse_email

try:  # the limits the sync applies by default (absent before issue 10: parse everything)
    from bot.formatting.inbound import ParseLimits

    LIMITS: tuple = (ParseLimits(attachment_max_bytes=10 * 1024 * 1024, max_files=10),)
except ImportError:
    LIMITS = ()
from tests.support.fake_slack import FakeSlack
from tests.support.mail_servers import DovecotServer

MB = 1024 * 1024


def mail_with(files: list[tuple[str, int]]) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carla Cliente <carla@customer.test>"
    msg["To"] = "sales@example.com"
    msg["Subject"] = f"{len(files)} file(s)"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@bench.test>"
    msg.set_content("Files attached.")
    for name, size in files:
        # Not compressible and not all one byte: like a real scan or archive.
        data = (uuid.uuid4().bytes * (size // 16 + 1))[:size]
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def one_sync(ctx, dovecot: DovecotServer, slack: FakeSlack, raw: bytes) -> dict:  # type: ignore[no-untyped-def]
    address, password = f"mem-{uuid.uuid4().hex[:8]}@example.com", "pw"
    dovecot.add_user(address, password)
    dovecot.append(address, raw)
    mailbox_id = add_mailbox(ctx, dovecot, address, password, backfill=1)
    slack.clear()
    tracemalloc.start()
    result = ctx.sync.run(mailbox_id)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.error is None and result.new == 1, result
    return {
        "mail_mb": round(len(raw) / MB, 1),
        "peak_python_mb": round(peak / MB, 1),
        "peak_to_mail_size": round(peak / len(raw), 2),
        "slack_calls": len(slack.calls),
        "files_uploaded": len(slack.calls_to("files.getUploadURLExternal")),
    }


def parse_only(raw: bytes) -> dict:
    tracemalloc.start()
    parse_email(raw, *LIMITS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"mail_mb": round(len(raw) / MB, 1), "peak_python_mb": round(peak / MB, 1)}


def many_recipients(count: int) -> dict:
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "carla@customer.test", "Big list"
    msg["Message-ID"] = f"<{uuid.uuid4().hex}@bench.test>"
    msg.set_content("Hello all.")
    to = ",\r\n ".join(f"Person {n} <p{n}@customer.test>" for n in range(count))
    raw = b"To: " + to.encode() + b"\r\n" + msg.as_bytes()
    tracemalloc.start()
    started = time.perf_counter()
    parse_email(raw)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "header_mb": round(len(raw) / MB, 2),
        "seconds": round(elapsed, 2),
        "peak_python_mb": round(peak / MB, 1),
    }


def main() -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer() as dovecot,
        FakeSlack(ts_base=None, trigger_ttl=None) as slack,
    ):
        ctx = make_ctx(slack, Path(tmp))
        big = mail_with([("scan.bin", 40 * 1000 * 1000)])
        results = {
            "to_10000_addresses": many_recipients(10_000),
            "to_40000_addresses": many_recipients(40_000),
            "parse_40MB_attachment": parse_only(big),
            "sync_40MB_attachment": one_sync(ctx, dovecot, slack, big),
            "sync_9MiB_attachment": one_sync(
                ctx, dovecot, slack, mail_with([("photo.bin", 9 * MB)])
            ),
            "sync_3000_attachments": one_sync(
                ctx, dovecot, slack, mail_with([(f"f{n}.bin", 200) for n in range(3000)])
            ),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
