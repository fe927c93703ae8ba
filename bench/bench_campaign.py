"""Campaign sending benchmark: 10,000 recipients to a loopback SMTP sink, unthrottled.

Side by side in the same run, against the same sink (aiosmtpd in its own process, counting
only, so its memory is not ours):
1. Mailroom's campaign worker (``CampaignEngine.run``): render per recipient (Jinja sandbox,
   css-inline), build the MIME message, claim the ledger row, send over one reused SMTP
   connection, record the acceptance; messages per second and this process's RSS (idle
   before the run, peak during it, sampled every 50 ms);
2. raw ``smtplib``: one connection, the same rendered message bytes sent to each recipient,
   nothing recorded: the transport's ceiling on this machine.

3. optionally (``--throttle-rate 10``): a campaign limited to 10 messages/s, run in the
   scheduler's 10-second batches for ``--throttle-seconds`` (60): the measured rate.

Run: .venv/bin/python -m bench.bench_campaign [--recipients 10000] [--database-url URL]
     [--throttle-rate 10 --throttle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import smtplib
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import insert

from bot.campaigns import ledger
from bot.campaigns.compose import compiled_for, compose, sender_of
from bot.campaigns.sending import CampaignEngine
from bot.factory import build_context
from bot.settings import load_settings
from storage.models import (
    Audience,
    AudienceMember,
    Campaign,
    CampaignLimit,
    CampaignTemplate,
    Mailbox,
    RecipientState,
)
from tests.support.mail_servers import free_port

BODY = (
    "Hello *{first_name|there}*,\n\nOur spring collection is out: <https://shop.example.com|see "
    "it here>. As a customer of {company|our store} you get 10% off until Friday.\n\n"
    "_The team_"
)


def run_sink(
    port: int,
    count: multiprocessing.Value,
    ready: multiprocessing.Event,
    stop: multiprocessing.Event,
) -> None:  # type: ignore[valid-type]
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
            with count.get_lock():
                count.value += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    def __init__(self) -> None:
        self.peak = 0.0
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb())
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.running = False
        self.thread.join()


def make_ctx(workdir: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    os.environ.update(
        {
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",
            "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.db'}",
            "MAILROOM_DATA_DIR": str(workdir),
            "MAILROOM_SCHEDULER": "off",
            "MAILROOM_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
            "PUBLIC_URL": "https://mailroom.example.com",
        }
    )
    if database_url:
        os.environ["MAILROOM_SECRET_KEY"] = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="
    return build_context(load_settings(_env_file=None))


def setup_campaign(ctx, port: int, recipients: int, name: str = "bench") -> tuple[int, Mailbox]:  # type: ignore[no-untyped-def]
    with ctx.db.session() as session:
        mailbox = Mailbox(
            team_id="T1",
            kind="marketing",
            owner_id="UBENCH",
            address=f"{name}@shop.example.com",
            sender_name="Shop News",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
            secrets=ctx.mailboxes.seal({}),
        )
        audience = Audience(team_id="T1", name=name)
        template = CampaignTemplate(
            team_id="T1", name=name, subject="Spring for {first_name|you}", body=BODY
        )
        session.add_all([mailbox, audience, template])
        session.flush()
        session.add(CampaignLimit(mailbox_id=mailbox.id))  # unthrottled: 0 = no limit
        rows = [
            {
                "audience_id": audience.id,
                "address": f"customer{n:05d}@customers.example.com",
                "fields_json": json.dumps({"first_name": f"Name{n}", "company": "Acme"}),
                "added_by": "UBENCH",
            }
            for n in range(recipients)
        ]
        session.execute(insert(AudienceMember.__table__), rows)  # type: ignore[attr-defined]
        campaign = Campaign(
            team_id="T1",
            mailbox_id=mailbox.id,
            audience_id=audience.id,
            template_id=template.id,
            name="bench",
            subject=template.subject,
            body=template.body,
            state="sending",
        )
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    ledger.snapshot_audience(ctx, ctx_campaign(ctx, campaign_id), mailbox.address)
    return campaign_id, mailbox


def ctx_campaign(ctx, campaign_id: int) -> Campaign:  # type: ignore[no-untyped-def]
    with ctx.db.session() as session:
        return session.get(Campaign, campaign_id)


def bench_engine(ctx, campaign_id: int, recipients: int) -> dict:  # type: ignore[no-untyped-def]
    engine = CampaignEngine(ctx)
    ctx.campaigns = engine
    idle = rss_mb()
    start = time.perf_counter()
    with RssSampler() as sampler:
        for _ in range(1000):  # bounded: each run() sends for up to an hour's budget
            if not ledger.next_queued(ctx, campaign_id, 1):
                break
            engine.run(campaign_id, budget=3600)
    elapsed = time.perf_counter() - start
    counts = ledger.counts(ctx, campaign_id)
    assert counts.get(RecipientState.SENT) == recipients, counts
    return {
        "messages": recipients,
        "seconds": round(elapsed, 2),
        "msgs_per_s": round(recipients / elapsed, 1),
        "rss_idle_mb": round(idle, 1),
        "rss_peak_mb": round(sampler.peak, 1),
        "rss_growth_mb": round(sampler.peak - idle, 1),
    }


def bench_raw(ctx, campaign_id: int, mailbox: Mailbox, port: int, recipients: int) -> dict:  # type: ignore[no-untyped-def]
    campaign = ctx_campaign(ctx, campaign_id)
    row = ledger.next_queued(ctx, campaign_id, 1) or ledger.rows_in(
        ctx, campaign_id, RecipientState.SENT, 1
    )
    compiled = compiled_for(campaign, ("", ""))
    raw = compose(ctx, campaign, sender_of(mailbox, campaign), row[0], compiled)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
        for n in range(recipients):
            smtp.sendmail(mailbox.address, [f"customer{n:05d}@customers.example.com"], raw)
    elapsed = time.perf_counter() - start
    return {
        "messages": recipients,
        "seconds": round(elapsed, 2),
        "msgs_per_s": round(recipients / elapsed, 1),
        "bytes_per_message": len(raw),
    }


def bench_throttle(ctx, port: int, rate: float, seconds: float) -> dict:  # type: ignore[no-untyped-def]
    """A campaign limited to ``rate`` messages/s, run as the scheduler runs it (10 s
    batches, one tick a second), measured over ``seconds``."""
    campaign_id, mailbox = setup_campaign(ctx, port, int(rate * seconds * 1.5), name="throttle")
    with ctx.db.session() as session:
        limit = session.get(CampaignLimit, mailbox.id)
        limit.per_second = rate
        session.add(limit)
    engine = CampaignEngine(ctx)
    ctx.campaigns = engine
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        engine.run(campaign_id, budget=min(10.0, seconds - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    sent = ledger.counts(ctx, campaign_id).get(RecipientState.SENT, 0)
    measured = sent / elapsed
    return {
        "target_per_s": rate,
        "seconds": round(elapsed, 1),
        "sent": sent,
        "measured_per_s": round(measured, 3),
        "error_pct": round(100 * (measured - rate) / rate, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument(
        "--throttle-rate",
        type=float,
        default=0.0,
        help="also measure a throttled campaign (msgs/s)",
    )
    parser.add_argument("--throttle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    port = free_port()
    count = multiprocessing.Value("l", 0)
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(port, count, ready, stop), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ctx = make_ctx(Path(tmp), args.database_url)
            campaign_id, mailbox = setup_campaign(ctx, port, args.recipients)
            engine = bench_engine(ctx, campaign_id, args.recipients)
            received_by_engine = count.value
            raw = bench_raw(ctx, campaign_id, mailbox, port, args.recipients)
            throttle = (
                bench_throttle(ctx, port, args.throttle_rate, args.throttle_seconds)
                if args.throttle_rate
                else None
            )
            ctx.db.dispose()
    finally:
        stop.set()
        sink.join(10)
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "mailroom": engine,
        "raw_smtplib": raw,
        "ratio": round(engine["msgs_per_s"] / raw["msgs_per_s"], 2),
        "sink_received": {"mailroom": received_by_engine, "total": count.value},
    }
    if throttle:
        result["throttle"] = throttle
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
