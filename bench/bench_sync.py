"""Sync benchmarks against a real Dovecot and the fake Slack (both on loopback).

Measures, each as the median of several runs (these machines are noisy; single timings
mean little):
1. idle poll: the cost of a sync that finds no new mail, for a small and a large mailbox
   (round trips and milliseconds): it must not grow with the mailbox;
2. ingest: messages per second through the whole pipeline (fetch, parse, record, post),
   with Slack pacing off, against the raw imapclient fetch ceiling on the same machine; and
   the same without posting (fetch, parse, record), which is our own cost;
3. memory: peak Python allocation while syncing many large messages, to show fetch batches
   are bounded in bytes, not only in count.

Run: .venv/bin/python -m bench.bench_sync [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from imapclient import IMAPClient

from bot.factory import build_context
from bot.settings import load_settings
from bot.slack_client import ChannelPacer
from providers.imap import ImapSession
from storage.models import Mailbox
from tests.support.fake_slack import FakeSlack
from tests.support.harness import make_email
from tests.support.mail_servers import DovecotServer


def make_ctx(slack: FakeSlack, workdir: Path):  # type: ignore[no-untyped-def]
    os.environ.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench",
            "SLACK_API_URL": slack.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "MAILROOM_DATA_DIR": str(workdir),
            "MAILROOM_SCHEDULER": "off",
            # Dovecot runs on loopback, which the internal-address guard refuses by default.
            "MAILROOM_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
        }
    )
    ctx = build_context(load_settings(_env_file=None))
    ctx.slack.pacer = ChannelPacer(rate=1e9, burst=10**9)  # measure us, not Slack's limit
    return ctx


def add_mailbox(
    ctx,
    dovecot: DovecotServer,
    address: str,
    password: str,
    backfill: int = 0,  # type: ignore[no-untyped-def]
    channel: str | None = "CBENCH",
) -> int:
    with ctx.db.session() as session:
        mailbox = Mailbox(
            team_id="T1",
            kind="personal",
            owner_id="UBENCH",
            address=address,
            imap_host="127.0.0.1",
            imap_port=dovecot.port,
            imap_security="none",
            smtp_host="127.0.0.1",
            smtp_port=1,
            smtp_security="none",
            channel_id=channel,
            backfill_days=backfill,
            secrets=ctx.mailboxes.seal({"imap_password": password}),
        )
        session.add(mailbox)
    return mailbox.id  # type: ignore[return-value]


def fill(dovecot: DovecotServer, address: str, count: int, size: int = 4096) -> None:
    body = ("Lorem ipsum dolor sit amet. " * (size // 28 + 1))[:size]
    raws = [
        make_email(
            to=address,
            subject=f"Message {i}",
            body=body,
            message_id=f"<{uuid.uuid4().hex}@bench.test>",
        )
        for i in range(count)
    ]
    for start in range(0, count, 500):
        dovecot.append_many(address, raws[start : start + 500])


def idle_poll(ctx, dovecot: DovecotServer, sizes: list[int], runs: int) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for size in sizes:
        address, password = f"idle{size}-{uuid.uuid4().hex[:6]}@example.com", "pw"
        dovecot.add_user(address, password)
        fill(dovecot, address, size, 1024)
        mailbox_id = add_mailbox(ctx, dovecot, address, password)
        ctx.sync.run(mailbox_id)  # first run records the cursor
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            result = ctx.sync.run(mailbox_id)
            timings.append((time.perf_counter() - started) * 1000)
            assert result.ran and result.error is None and result.new == 0, result
        mailbox = ctx.mailboxes.get(mailbox_id)
        with ImapSession(ctx.mailboxes.imap_settings(mailbox)) as imap:
            before = imap.round_trips
            imap.status("INBOX")
            imap.status("Sent")
            status_trips = imap.round_trips - before
        out[size] = {
            "median_ms": round(statistics.median(timings), 2),
            "status_round_trips_per_folder": status_trips / 2,
        }
    small, large = sizes[0], sizes[-1]
    out["ratio_large_to_small"] = round(out[large]["median_ms"] / out[small]["median_ms"], 2)
    return out


def ingest(ctx, dovecot: DovecotServer, count: int, runs: int, post: bool = True) -> dict:  # type: ignore[no-untyped-def]
    rates, ceilings = [], []
    for _ in range(runs):
        address, password = f"ingest-{uuid.uuid4().hex[:8]}@example.com", "pw"
        dovecot.add_user(address, password)
        fill(dovecot, address, count)
        # Ceiling: raw imapclient fetch of the same messages, batches of 500.
        with IMAPClient("127.0.0.1", port=dovecot.port, ssl=False, timeout=30) as raw:
            raw.login(address, password)
            raw.select_folder("INBOX", readonly=True)
            uids = raw.search(["ALL"])
            started = time.perf_counter()
            for i in range(0, len(uids), 500):
                raw.fetch(uids[i : i + 500], ["BODY.PEEK[]"])
            ceilings.append(len(uids) / (time.perf_counter() - started))
        # Without a channel, mail is recorded but not posted: our own cost without Slack's.
        mailbox_id = add_mailbox(
            ctx, dovecot, address, password, backfill=1, channel="CBENCH" if post else None
        )
        started = time.perf_counter()
        result = ctx.sync.run(mailbox_id)
        elapsed = time.perf_counter() - started
        assert result.error is None and result.new == count, result
        rates.append(count / elapsed)
    rate, ceiling = statistics.median(rates), statistics.median(ceilings)
    return {
        "messages": count,
        "median_msgs_per_s": round(rate),
        "raw_fetch_ceiling_msgs_per_s": round(ceiling),
        "ratio_to_ceiling": round(rate / ceiling, 3),
    }


def memory(ctx, dovecot: DovecotServer, counts: list[int], size: int) -> dict:  # type: ignore[no-untyped-def]
    out = {}
    for count in counts:
        address, password = f"mem{count}-{uuid.uuid4().hex[:6]}@example.com", "pw"
        dovecot.add_user(address, password)
        fill(dovecot, address, count, size)
        mailbox_id = add_mailbox(ctx, dovecot, address, password, backfill=1)
        tracemalloc.start()
        result = ctx.sync.run(mailbox_id)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert result.error is None and result.new == count, result
        out[f"{count}x{size // 1024}KB"] = {
            "mailbox_mb": round(count * size / 2**20, 1),
            "peak_python_mb": round(peak / 2**20, 1),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    args = parser.parse_args()
    runs = 3 if args.quick else 7
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer() as dovecot,
        FakeSlack(ts_base=None, trigger_ttl=None) as slack,
    ):
        ctx = make_ctx(slack, Path(tmp))
        results = {
            "idle_poll": idle_poll(ctx, dovecot, [100, 300 if args.quick else 3000], runs),
            "ingest": ingest(ctx, dovecot, 200 if args.quick else 1000, 3),
            "record_without_posting": ingest(
                ctx, dovecot, 200 if args.quick else 1000, 3, post=False
            ),
            "memory": memory(ctx, dovecot, [5, 20] if args.quick else [10, 60], 1024 * 1024),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
