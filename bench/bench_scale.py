"""Scale-out benchmark: several worker processes (``MAILROOM_ROLE=worker``) on one PostgreSQL.

Sets up a loopback Dovecot sized for N sessions, N mailboxes (inserted through the app's own
migration into a fresh PostgreSQL database) and ``--workers`` real ``python app.py`` worker
processes with the default lease (20 s) and heartbeat (5 s) unless told otherwise. Measures:

- time until all N mailboxes are live, and how many each worker holds;
- RSS and CPU of each worker while idle;
- kill -9 of one worker while ``--mails`` mails arrive over ``--seconds`` on random mailboxes:
  time until its mailboxes are live in the others, mails lost, mails doubled, and the
  append → ``chat.postMessage`` latency (p50, max) of those mails;
- a rolling restart (each worker stopped with SIGTERM and replaced, one at a time) while
  ``--mails`` more arrive: lost, doubled, latency.

Needs PostgreSQL: ``MAILROOM_TEST_DATABASE_URL`` (or ``--database-url``) pointing at a
server where a database may be created, e.g. ``postgresql://postgres@127.0.0.1:5432/test``.

Run: .venv/bin/python -m bench.bench_scale [--mailboxes 300] [--workers 3] [--mails 100]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.bench_push import (
    PostWatcher,
    create_mailboxes,
    dovecot_config,
    percentile,
    proc_stats,
    progress,
)
from bench.bench_push import app_env as push_env
from tests.support.fake_slack import FakeSlack
from tests.support.harness import make_email
from tests.support.mail_servers import DovecotServer, free_port

ROOT = Path(__file__).resolve().parents[1]


class Worker:
    def __init__(self, env: dict[str, str], workdir: Path, n: int) -> None:
        self.port = free_port()
        self.log = workdir / f"worker{n}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py")],
            cwd=workdir,
            env={**os.environ, **env, "PORT": str(self.port), "HOST": "127.0.0.1"},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def health(self) -> dict:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return {}

    def live(self) -> int:
        return self.health().get("sync_modes", {}).get("live", 0)

    def owned(self) -> int:
        return self.health().get("ownership", {}).get("owned", 0)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def fresh_database(base: str) -> tuple[str, str]:
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        "postgresql+psycopg://" + base.split("://", 1)[1], isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name, name


def drop_database(base: str, name: str) -> None:
    admin = create_engine(
        "postgresql+psycopg://" + base.split("://", 1)[1], isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def wait_for(check, timeout: float, step: float = 0.25) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds until ``check()`` is true, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(step)
    return None


def run(args: argparse.Namespace) -> dict:
    base = args.database_url or os.environ.get("MAILROOM_TEST_DATABASE_URL")
    if not base:
        raise SystemExit("Set MAILROOM_TEST_DATABASE_URL or pass --database-url (PostgreSQL).")
    n = args.mailboxes
    url, name = fresh_database(base)
    results: dict = {"mailboxes": n, "workers": args.workers}
    workers: list[Worker] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer(extra_config=dovecot_config(n)) as dovecot,
        FakeSlack(ts_base=None, trigger_ttl=None) as slack,
    ):
        workdir = Path(tmp)
        env = push_env(slack, workdir, 8)
        env.update(
            DATABASE_URL=url,
            MAILROOM_ROLE="worker",
            MAILROOM_LEASE_SECONDS=str(args.lease),
            MAILROOM_HEARTBEAT_SECONDS=str(args.heartbeat),
            LOG_LEVEL="WARNING",
        )
        try:
            addresses = create_mailboxes(env, dovecot, n, dovecot.port)
            workers = [Worker(env, workdir, k) for k in range(args.workers)]
            took = wait_for(lambda: sum(w.live() for w in workers) == n, timeout=600, step=1)
            results["all_live_seconds"] = round(took, 1) if took is not None else None
            wait_for(
                lambda: max(w.owned() for w in workers) - min(w.owned() for w in workers) <= 1,
                timeout=120,
                step=1,
            )
            results["owned_per_worker"] = [w.owned() for w in workers]
            progress(results)
            before = [proc_stats(w.proc.pid) for w in workers]
            time.sleep(args.idle_seconds)
            after = [proc_stats(w.proc.pid) for w in workers]
            results["idle_cpu_percent"] = [
                round(100 * (a[0] - b[0]) / args.idle_seconds, 1)
                for a, b in zip(after, before, strict=True)
            ]
            results["rss_mb"] = [round(a[1], 1) for a in after]
            progress(results)

            watcher = PostWatcher(slack)
            appended: dict[str, float] = {}
            rng = random.Random(7)
            victim = workers[1]

            def arrive(prefix: str) -> None:
                for k in range(args.mails):
                    i = rng.randrange(n)
                    subject = f"{prefix} {k:05d}"  # no subject is a prefix of another
                    watcher.expect(subject, f"CB{i}")
                    dovecot.append(addresses[i], make_email(to=addresses[i], subject=subject))
                    appended[subject] = time.monotonic()
                    time.sleep(args.seconds / args.mails)

            sender = threading.Thread(target=arrive, args=("Bench kill",))
            arrivals = time.monotonic()
            sender.start()
            time.sleep(args.seconds / 3)
            victim.proc.send_signal(signal.SIGKILL)
            victim.proc.wait(10)
            killed = time.monotonic()
            survivors = [w for w in workers if w is not victim]
            back = wait_for(lambda: sum(w.live() for w in survivors) == n, timeout=300)
            results["failover_live_seconds"] = round(back, 1) if back is not None else None
            sender.join()
            results["kill"] = tally(slack, watcher, appended, n)
            results["kill"]["kill_at_seconds_into_arrivals"] = round(killed - arrivals, 1)
            progress(results)

            # Rolling restart: a fresh worker replaces the killed one, then each worker in
            # turn is stopped (SIGTERM) and replaced, while mail keeps arriving.
            workers[1] = Worker(env, workdir, args.workers)
            appended.clear()
            sender = threading.Thread(target=arrive, args=("Bench rolling",))
            sender.start()
            for k in range(args.workers):
                workers[k].stop()
                workers[k] = Worker(env, workdir, args.workers + 1 + k)
                wait_for(lambda: sum(w.live() for w in workers) == n, timeout=300)
            sender.join()
            results["rolling_restart"] = tally(slack, watcher, appended, n)
            results["owned_after_rolling"] = [w.owned() for w in workers]
            watcher.stop()
            progress(results)
        finally:
            for worker in workers:
                worker.stop()
            drop_database(base, name)
    return results


def tally(slack: FakeSlack, watcher: PostWatcher, appended: dict[str, float], n: int) -> dict:
    """Lost, doubled and append → post latency of the mails in ``appended``."""
    watcher.wait(list(appended), timeout=120)
    counts: Counter[str] = Counter()
    for i in range(n):
        for message in slack.messages(f"CB{i}"):
            blob = json.dumps(message.get("blocks"))
            for subject in appended:
                if subject in blob:
                    counts[subject] += 1
    latencies = [watcher.seen[s] - appended[s] for s in appended if s in watcher.seen]
    return {
        "mails": len(appended),
        "lost": sum(1 for s in appended if counts[s] == 0),
        "doubled": sum(1 for s in appended if counts[s] > 1),
        "latency_p50": round(percentile(latencies, 0.5), 2) if latencies else None,
        "latency_max": round(max(latencies), 2) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mailboxes", type=int, default=300)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--lease", type=float, default=20.0)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default="")
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
