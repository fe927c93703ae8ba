"""Push (IMAP IDLE) benchmark: N live mailboxes in one real ``python app.py`` process.

Sets up a loopback Dovecot configured for N concurrent sessions (one imap process per
session, imap-login in high-performance mode, IDLE sessions re-checked every second when
the kernel's inotify instances run out), N users, and N mailboxes inserted through the
app's own migration, each posting into its own channel of the fake Slack. Then measures:

- time from process start until all N mailboxes are live (``/healthz``);
- RSS and CPU of the process while idle (all connections in IDLE, no mail);
- append → ``chat.postMessage`` latency (p50/p95/max) over ``--samples`` mails appended one
  at a time to random mailboxes;
- a burst: one mail in each of ``--burst`` mailboxes at once → time until all are posted.

Run: .venv/bin/python -m bench.bench_push [--mailboxes 200] [--samples 60] [--burst 200]
     [--rtt-ms 100] [--backstop 60]  (a delay proxy between Mailroom and Dovecot)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from imapclient import IMAPClient

from bench.delay_proxy import DelayProxy
from bot.factory import build_context
from bot.settings import load_settings
from storage.models import Health, Mailbox
from tests.support.fake_slack import FakeSlack
from tests.support.harness import make_email
from tests.support.mail_servers import DovecotServer, free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "kV6x1a6mX7f2wWnq9Yc7dY1i6l7m9v0hQ2bE6sT3uJ8="


def dovecot_config(sessions: int) -> str:
    # The app's sessions, the burst's own client sessions, and room for the rest.
    limit = 2 * sessions + 300
    return f"""
mailbox_idle_check_interval = 1 secs
default_process_limit = {limit}
default_client_limit = {limit * 2}
default_vsz_limit = 0
service imap {{
  process_limit = {limit}
}}
service imap-login {{
  service_count = 0
  client_limit = {limit}
  process_min_avail = 2
}}
"""


def app_env(slack: FakeSlack, workdir: Path, workers: int) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": "bench",
        "SLACK_API_URL": slack.base_url,
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "MAILROOM_DATA_DIR": str(workdir),
        "MAILROOM_SECRET_KEY": SECRET_KEY,
        "MAILROOM_ALLOWED_PRIVATE_HOSTS": "127.0.0.1",
        "SYNC_INTERVAL_SECONDS": "3600",
        "SYNC_PUSH": "on",
        "SYNC_PUSH_WORKERS": str(workers),
        "IMAP_TIMEOUT_SECONDS": "20",
        "LOG_LEVEL": "WARNING",
    }


def create_mailboxes(
    env: dict[str, str], dovecot: DovecotServer, count: int, imap_port: int
) -> list[str]:
    """Users in Dovecot and mailbox rows through the app's own migration; returns addresses."""
    os.environ.update(env)
    ctx = build_context(load_settings(_env_file=None))
    addresses = []
    with ctx.db.session() as session:
        for n in range(count):
            address = f"push{n}-{uuid.uuid4().hex[:6]}@example.com"
            dovecot.users[address] = "pw"
            addresses.append(address)
            session.add(
                Mailbox(
                    team_id="T1",
                    kind="shared",
                    owner_id="UBENCH",
                    address=address,
                    imap_host="127.0.0.1",
                    imap_port=imap_port,
                    imap_security="none",
                    smtp_host="127.0.0.1",
                    smtp_port=1,
                    smtp_security="none",
                    channel_id=f"CB{n}",
                    health=Health.NEW,
                    secrets=ctx.mailboxes.seal({"imap_password": "pw"}),
                )
            )
    dovecot._write_users()
    ctx.db.dispose()
    return addresses


def proc_stats(pid: int) -> tuple[float, float]:
    """(CPU seconds used so far, RSS in MB) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_kb = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss_kb / 1024


class PostWatcher:
    """Notes when each subject first shows up in the fake Slack (polled every 5 ms)."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.seen: dict[str, float] = {}
        self.wanted: dict[str, str] = {}  # subject -> channel
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def expect(self, subject: str, channel: str) -> None:
        with self._lock:
            self.wanted[subject] = channel

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wanted = dict(self.wanted)
            for subject, channel in wanted.items():
                if subject in self.seen:
                    continue
                if any(
                    subject in json.dumps(m.get("blocks")) for m in self.slack.messages(channel)
                ):
                    self.seen[subject] = time.monotonic()
            time.sleep(0.005)

    def wait(self, subjects: list[str], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s in self.seen for s in subjects):
                return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self._stop.set()


def progress(partial: dict) -> None:
    """Figures as they come (stderr), so a failure later in the run loses none of them."""
    print(json.dumps(partial, default=str), file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(args: argparse.Namespace) -> dict:
    n = args.mailboxes
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer(extra_config=dovecot_config(n)) as dovecot,
        FakeSlack(ts_base=None, trigger_ttl=None) as slack,
    ):
        workdir = Path(tmp)
        env = app_env(slack, workdir, args.workers)
        proxy = DelayProxy(dovecot.port, args.rtt_ms / 1000).start() if args.rtt_ms else None
        env["SYNC_PUSH_BACKSTOP_SECONDS"] = str(args.backstop)
        addresses = create_mailboxes(env, dovecot, n, proxy.port if proxy else dovecot.port)
        port = free_port()
        log = (workdir / "app.log").open("wb")
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=workdir,
            env={**os.environ, **env, "PORT": str(port), "HOST": "127.0.0.1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            return measure(args, proc, port, started, slack, dovecot, addresses)
        finally:
            proc.terminate()
            proc.wait(20)
            if proxy is not None:
                proxy.stop()


def measure(
    args: argparse.Namespace,
    proc: subprocess.Popen[bytes],
    port: int,
    started: float,
    slack: FakeSlack,
    dovecot: DovecotServer,
    addresses: list[str],
) -> dict:
    n = len(addresses)
    health: dict = {}
    http_s: float | None = None
    while time.monotonic() - started < args.start_timeout:
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            http_s = http_s or time.monotonic() - started
            if health["sync_modes"]["live"] == n:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    all_live_s = time.monotonic() - started
    assert health.get("sync_modes", {}).get("live") == n, health
    # Idle: let the initial syncs settle, then measure CPU over a window.
    time.sleep(5)
    cpu0, _ = proc_stats(proc.pid)
    time.sleep(args.idle_seconds)
    cpu1, rss = proc_stats(proc.pid)
    idle_cpu = (cpu1 - cpu0) / args.idle_seconds * 100

    progress(
        {
            "time_to_http_s": http_s,
            "time_to_all_live_s": all_live_s,
            "idle_cpu": idle_cpu,
            "rss": rss,
        }
    )
    watcher = PostWatcher(slack)
    rng = random.Random(1)
    latencies = []
    for sample in range(args.samples):
        index = rng.randrange(n)
        subject = f"Latency {sample} {uuid.uuid4().hex[:6]}"
        watcher.expect(subject, f"CB{index}")
        raw = make_email(to=addresses[index], subject=subject)
        with IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=10) as imap:
            imap.login(addresses[index], "pw")
            sent = time.monotonic()
            imap.append("INBOX", raw)
        assert watcher.wait([subject], 30), f"{subject} never posted"
        latencies.append(watcher.seen[subject] - sent)
        time.sleep(0.1)

    progress({"latencies": sorted(latencies)})
    burst = {}
    if args.burst:
        chosen = rng.sample(range(n), min(args.burst, n))
        subjects = {i: f"Burst {i} {uuid.uuid4().hex[:6]}" for i in chosen}
        for i in chosen:
            watcher.expect(subjects[i], f"CB{i}")
        if args.burst_delivery == "maildir":
            burst_start, appended_s = deliver_to_maildirs(dovecot, addresses, subjects)
        else:
            burst_start, appended_s = append_all(dovecot, addresses, subjects)
        ok = watcher.wait(list(subjects.values()), 300)
        last = max(watcher.seen.get(s, time.monotonic()) for s in subjects.values())
        burst = {
            "mailboxes": len(chosen),
            "append_all_s": round(appended_s, 2),
            "until_all_posted_s": round(last - burst_start, 2),
            "all_posted": ok,
            "delivery": args.burst_delivery,
        }
    watcher.stop()
    _, rss_end = proc_stats(proc.pid)
    push = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["push"]
    return {
        "mailboxes": n,
        "workers": args.workers,
        "time_to_http_s": round(http_s or 0, 1),  # process start until /healthz answers
        "time_to_all_live_s": round(all_live_s, 1),
        "idle": {"cpu_percent_of_one_core": round(idle_cpu, 2), "rss_mb": round(rss, 1)},
        "latency_s": {
            "samples": len(latencies),
            "p50": round(statistics.median(latencies), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "max": round(max(latencies), 3),
        },
        "burst": burst,
        "rss_mb_at_end": round(rss_end, 1),
        "rtt_ms": args.rtt_ms,
        # Live mailboxes whose INBOX backstop (every --backstop s) ran over a minute late.
        "backstop_overdue_at_end": push["backstop_overdue"],
        "run_seconds_after_live": round(time.monotonic() - started - all_live_s, 1),
    }


def append_all(
    dovecot: DovecotServer, addresses: list[str], subjects: dict[int, str]
) -> tuple[float, float]:
    """APPEND one mail to each chosen mailbox at once, each through its own session logged
    in beforehand (so the burst is the appends alone); returns (start, seconds to append)."""
    clients = []
    for i in subjects:
        imap = IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=30)
        imap.login(addresses[i], "pw")
        clients.append((i, imap))
    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda pair: pair[1].append(
                    "INBOX", make_email(to=addresses[pair[0]], subject=subjects[pair[0]])
                ),
                clients,
            )
        )
    appended = time.monotonic() - start
    for _i, imap in clients:
        imap.logout()
    return start, appended


def deliver_to_maildirs(
    dovecot: DovecotServer, addresses: list[str], subjects: dict[int, str]
) -> tuple[float, float]:
    """Deliver one mail to each chosen mailbox the way an MTA does (a file moved into the
    Maildir's new/), so 3,000 mailboxes need no 3,000 extra IMAP sessions for the burst.
    Dovecot sees the files at its next idle check (``mailbox_idle_check_interval``)."""
    prepared = []
    for i, subject in subjects.items():
        maildir = dovecot.root / "mail" / addresses[i]
        name = f"{time.time_ns()}.bench{i}.localhost"
        tmp = maildir / "tmp" / name
        tmp.write_bytes(make_email(to=addresses[i], subject=subject))
        shutil.chown(tmp, user="dovecot", group="dovecot")
        prepared.append((tmp, maildir / "new" / name))
    start = time.monotonic()
    for tmp, new in prepared:
        os.rename(tmp, new)
    return start, time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=200)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument(
        "--burst-delivery",
        choices=("append", "maildir"),
        default="append",
        help="how the burst's mails arrive: IMAP APPEND, or files into each Maildir (MTA-like)",
    )
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--rtt-ms", type=float, default=0, help="added round trip (proxy)")
    parser.add_argument("--backstop", type=int, default=300, help="SYNC_PUSH_BACKSTOP_SECONDS")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
