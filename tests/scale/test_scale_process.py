"""Several real ``python app.py`` processes on one PostgreSQL (and one SQLite refusal).

Ownership is checked from the IMAP side: ``doveadm who`` lists the open sessions per user,
so "held by exactly one worker" means one IDLE session per mailbox at Dovecot. Leases are
short here (4 s, heartbeat 1 s) to keep the tests quick; the defaults are 30 s and 10 s.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from storage.crypto import SecretBox
from storage.db import Database
from tests.support.fake_slack import FakeSlack
from tests.support.harness import (
    AppProcess,
    MailAccount,
    app_env,
    connect_values,
    launch,
    mailbox_row,
    make_email,
    new_mail_account,
)
from tests.support.mail_servers import DovecotServer, SmtpServer
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

MAILBOXES = 60
FAILOVER_SECONDS = 30.0


def scale_env(slack: FakeSlack, url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "SYNC_PUSH": "on",
        "SYNC_INTERVAL_SECONDS": "3600",
        "MAILROOM_LEASE_SECONDS": "4",
        "MAILROOM_HEARTBEAT_SECONDS": "1",
    }
    return app_env(slack, url, tmp_path / "data", **{**settings, **extra})


def insert_mailboxes(
    url: str,
    env: dict[str, str],
    accounts: list[MailAccount],
    dovecot: DovecotServer,
    smtp: SmtpServer,
) -> list[int]:
    """Mailbox rows as the connect modal saves them (faster than 60 modal submissions)."""
    db = Database(url)
    db.migrate()
    box = SecretBox([env["MAILROOM_SECRET_KEY"]])
    ids = []
    with db.session() as session:
        for n, account in enumerate(accounts):
            secrets = box.seal({"imap_password": account.password})
            mailbox = mailbox_row(account, dovecot, smtp, secrets=secrets, channel=f"C_S{n}")
            session.add(mailbox)
            session.flush()
            ids.append(mailbox.id)
    db.dispose()
    return ids


def sessions_per_user(dovecot: DovecotServer) -> Counter[str]:
    """Open IMAP sessions per user, as Dovecot counts them."""
    answer = subprocess.run(
        [dovecot._doveadm(), "-c", str(dovecot.config_path), "who", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    lines = answer.stdout.splitlines()[1:]
    return Counter(line.split()[0] for line in lines if line.strip())


def health(app: AppProcess) -> dict:
    return httpx.get(app.url + "/healthz", timeout=5).json()


def owners(url: str) -> dict[int, str | None]:
    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, lease_owner FROM mailboxes")).all()
        return {mailbox_id: owner for mailbox_id, owner in rows}
    finally:
        engine.dispose()


def worker_of(app: AppProcess) -> str:
    return health(app)["ownership"]["worker"]


def one_session_each(dovecot: DovecotServer, accounts: list[MailAccount]) -> bool:
    sessions = sessions_per_user(dovecot)
    return all(sessions[a.address] == 1 for a in accounts)


def settled(apps: list[AppProcess], dovecot: DovecotServer, accounts: list[MailAccount]) -> bool:
    """Every mailbox live in exactly one of ``apps``, shares within one of each other."""
    states = [health(app) for app in apps]
    owned = [s["ownership"]["owned"] for s in states]
    live = [s["sync_modes"]["live"] for s in states]
    return (
        sum(owned) == len(accounts)
        and max(owned) - min(owned) <= 1
        and live == owned
        and one_session_each(dovecot, accounts)
    )


def posts_about(slack: FakeSlack, channel: str, words: str) -> list[dict]:
    return [m for m in slack.messages(channel) if words in json.dumps(m.get("blocks"))]


@pytest.fixture
def cluster(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    postgres_database: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> tuple[list[AppProcess], list[MailAccount], list[int], str]:
    """Three worker processes holding 60 live mailboxes between them, settled."""
    env = scale_env(slack_fake, postgres_database, tmp_path)
    accounts = [new_mail_account(push_dovecot, smtp_server) for _ in range(MAILBOXES)]
    ids = insert_mailboxes(postgres_database, env, accounts, push_dovecot, smtp_server)
    workers = [launch(processes, env, tmp_path, MAILROOM_ROLE="worker") for _ in range(3)]
    wait_until(
        lambda: settled(workers, push_dovecot, accounts),
        timeout=60,
        message="60 mailboxes live, each in exactly one of three workers",
    )
    return workers, accounts, ids, postgres_database


def test_three_workers_each_hold_a_share_and_every_mailbox_has_exactly_one_connection(
    cluster: tuple[list[AppProcess], list[MailAccount], list[int], str],
    push_dovecot: DovecotServer,
) -> None:
    workers, accounts, _ids, url = cluster
    sessions = sessions_per_user(push_dovecot)
    assert [sessions[a.address] for a in accounts] == [1] * MAILBOXES
    held = Counter(owners(url).values())
    assert sorted(held.values()) == [20, 20, 20]
    assert set(held) == {worker_of(w) for w in workers}
    for worker in workers:
        state = health(worker)
        assert state["role"] == "worker" and state["ownership"]["holds_share"] is True
    metrics = httpx.get(workers[0].url + "/metrics", timeout=5).text
    assert 'mailroom_mailboxes{state="live"} 20.0' in metrics
    assert "mailroom_owned_mailboxes 20.0" in metrics


def _mailboxes_of(url: str, worker: str) -> list[int]:
    return [mailbox_id for mailbox_id, owner in owners(url).items() if owner == worker]


def test_kill_9_a_worker_its_mailboxes_are_live_elsewhere_within_30_seconds(
    cluster: tuple[list[AppProcess], list[MailAccount], list[int], str],
    push_dovecot: DovecotServer,
    slack_fake: FakeSlack,
) -> None:
    workers, accounts, ids, url = cluster
    victim, survivors = workers[1], [workers[0], workers[2]]
    lost = _mailboxes_of(url, worker_of(victim))
    assert len(lost) == 20
    victim.kill()
    started = time.monotonic()
    # Mail arrives on its mailboxes while nobody holds them.
    chosen = [ids.index(m) for m in lost[:3]]
    for n in chosen:
        push_dovecot.append(
            accounts[n].address, make_email(to=accounts[n].address, subject=f"Orphan {n}")
        )
    wait_until(
        lambda: settled(survivors, push_dovecot, accounts),
        timeout=FAILOVER_SECONDS,
        message="the killed worker's mailboxes live in the two others",
    )
    elapsed = time.monotonic() - started
    assert elapsed < FAILOVER_SECONDS
    for n in chosen:
        wait_until(
            lambda n=n: posts_about(slack_fake, f"C_S{n}", f"Orphan {n}"),
            timeout=10,
            message=f"Orphan {n} posted",
        )
    for n in chosen:
        assert len(posts_about(slack_fake, f"C_S{n}", f"Orphan {n}")) == 1


def test_sigstop_a_worker_loses_its_mailboxes_and_on_waking_syncs_none_of_them(
    cluster: tuple[list[AppProcess], list[MailAccount], list[int], str],
    push_dovecot: DovecotServer,
    slack_fake: FakeSlack,
) -> None:
    workers, accounts, ids, url = cluster
    frozen, others = workers[2], workers[:2]
    frozen_id = worker_of(frozen)
    lost = _mailboxes_of(url, frozen_id)
    assert frozen.proc is not None
    os.kill(frozen.proc.pid, signal.SIGSTOP)
    started = time.monotonic()
    chosen = [ids.index(m) for m in lost[:3]]
    for n in chosen:
        push_dovecot.append(
            accounts[n].address, make_email(to=accounts[n].address, subject=f"Frozen {n}")
        )

    def taken_over() -> bool:
        held = owners(url)
        if any(held[m] == frozen_id for m in lost):
            return False
        states = [health(app) for app in others]
        return sum(s["sync_modes"]["live"] for s in states) == MAILBOXES

    # The frozen worker's sockets stay open (Dovecot still lists them): "live elsewhere"
    # is the two others holding and watching all 60.
    wait_until(
        taken_over, timeout=FAILOVER_SECONDS, message="the frozen worker's mailboxes taken over"
    )
    assert time.monotonic() - started < FAILOVER_SECONDS
    for n in chosen:
        wait_until(
            lambda n=n: posts_about(slack_fake, f"C_S{n}", f"Frozen {n}"),
            timeout=10,
            message=f"Frozen {n} posted by the new owner",
        )

    # It wakes up with the new mail's EXISTS waiting on its old IDLE connections: every
    # write it tries is fenced, it drops the mailboxes, then rejoins for a fresh share.
    os.kill(frozen.proc.pid, signal.SIGCONT)
    wait_until(
        lambda: settled(workers, push_dovecot, accounts),
        timeout=FAILOVER_SECONDS,
        message="three workers settled again after the wake-up",
    )
    for n in chosen:
        assert len(posts_about(slack_fake, f"C_S{n}", f"Frozen {n}")) == 1
    assert "lease lost" in frozen.log.read_text()


def test_sigterm_hands_the_mailboxes_over_at_once(
    cluster: tuple[list[AppProcess], list[MailAccount], list[int], str],
    push_dovecot: DovecotServer,
) -> None:
    workers, accounts, _ids, url = cluster
    leaving = workers[0]
    leaving_id = worker_of(leaving)
    started = time.monotonic()
    leaving.stop()
    assert leaving_id not in owners(url).values()  # released before the process ended
    wait_until(
        lambda: settled(workers[1:], push_dovecot, accounts),
        timeout=15,
        message="the leaving worker's mailboxes live in the two others",
    )
    # Well under one lease period after it stopped saying goodbye.
    assert time.monotonic() - started < 15


def test_a_thread_reply_received_by_a_web_process_is_sent_by_a_worker_within_2_seconds_once(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    postgres_database: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    env = scale_env(slack_fake, postgres_database, tmp_path)
    web = launch(processes, env, tmp_path, MAILROOM_ROLE="web")
    workers = [launch(processes, env, tmp_path, MAILROOM_ROLE="worker") for _ in range(2)]
    account = new_mail_account(push_dovecot, smtp_server)
    answer = web.client().submit_view(
        "mail_connect",
        connect_values(account, push_dovecot, smtp_server, channel="C_WEB"),
        "UALICE",
        private_metadata='{"mailbox_id": null}',
    )
    assert answer.status_code == 200 and answer.json()["response_action"] == "update", answer.text
    assert health(web)["role"] == "web" and "ownership" not in health(web)
    wait_until(
        lambda: sum(health(w)["sync_modes"]["live"] for w in workers) == 1,
        timeout=20,
        message="a worker holds the new mailbox live",
    )
    assert health(web)["sync_modes"]["live"] == 0  # the web process holds no connection

    def status_via_web() -> str:
        before = len(slack_fake.ephemerals("UALICE"))
        assert web.client().command("/mail-status", "", "UALICE").status_code == 200
        return json.dumps(wait_until(lambda: slack_fake.ephemerals("UALICE")[before:]))

    # /mail-status is answered by the web process with what the worker published.
    wait_until(
        lambda: "Sync: *live*" in status_via_web(),
        timeout=15,
        message="/mail-status from the web process says live",
    )

    push_dovecot.append(account.address, make_email(to=account.address, subject="Need a quote"))
    root = wait_until(
        lambda: next(iter(posts_about(slack_fake, "C_WEB", "Need a quote")), None),
        timeout=10,
        message="the mail posted by a worker",
    )
    wait_until(lambda: web.knows_thread("C_WEB", root["ts"]), message="the thread recorded")

    ts = f"{time.time():.6f}"
    event = {
        "type": "message",
        "channel": "C_WEB",
        "user": "UALICE",
        "text": "Here is your quote.",
        "ts": ts,
        "thread_ts": root["ts"],
        "channel_type": "channel",
    }
    response = web.client().event(event, event_id="EvWEBREPLY1")
    assert response.status_code == 200
    smtp_server.wait_for_messages(1, timeout=10.0)
    # Slack retries the same event (as it does when an ack is slow): still one mail.
    assert web.client().event(event, event_id="EvWEBREPLY1", retry_num=1).status_code == 200
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # bounded watch that no second copy goes out
        assert len(smtp_server.messages) == 1
        time.sleep(0.2)
    # Sent by a worker, not by the web process that received it.
    sent = 'mailroom_replies_total{outcome="sent"} 1.0'
    assert sent not in httpx.get(web.url + "/metrics", timeout=5).text
    assert [sent in httpx.get(w.url + "/metrics", timeout=5).text for w in workers].count(True) == 1


def test_a_second_process_on_one_sqlite_file_refuses_to_start(
    slack_fake: FakeSlack, tmp_path: Path, processes: list[AppProcess]
) -> None:
    env = app_env(slack_fake, f"sqlite:///{tmp_path / 'one.db'}", tmp_path / "data")
    launch(processes, env, tmp_path)
    second = AppProcess(env, tmp_path)
    processes.append(second)
    second.start(wait=False)
    assert second.proc is not None
    assert second.proc.wait(30) == 4
    output = second.log.read_text().strip().splitlines()
    refusal = [line for line in output if "cannot start" in line]
    assert len(refusal) == 1 and "PostgreSQL" in refusal[0] and "one.db" in refusal[0]


def test_sync_now_clicked_in_a_web_process_runs_in_the_worker_within_a_second(
    slack_fake: FakeSlack,
    dovecot: DovecotServer,
    smtp_server: SmtpServer,
    postgres_database: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    # Push off and an hour between polls: only the click can bring the mail in.
    env = scale_env(slack_fake, postgres_database, tmp_path, SYNC_PUSH="off")
    web = launch(processes, env, tmp_path, MAILROOM_ROLE="web")
    worker = launch(processes, env, tmp_path, MAILROOM_ROLE="worker")
    account = new_mail_account(dovecot, smtp_server)
    answer = web.client().submit_view(
        "mail_connect",
        connect_values(account, dovecot, smtp_server, channel="C_NOW"),
        "UALICE",
        private_metadata='{"mailbox_id": null}',
    )
    assert answer.status_code == 200, answer.text
    wait_until(lambda: health(worker)["ownership"]["owned"] == 1, message="the worker holds it")
    mailbox_id = next(iter(owners(postgres_database)))
    # The worker's first poll (from now: no backfill) is done once the cursor exists.
    wait_until(
        lambda: _has_cursor(postgres_database, mailbox_id), timeout=20, message="first poll done"
    )

    dovecot.append(account.address, make_email(to=account.address, subject="Click to see me"))
    assert web.client().action("mailbox_sync_now", str(mailbox_id), "UALICE").status_code == 200
    wait_until(
        lambda: posts_about(slack_fake, "C_NOW", "Click to see me"),
        timeout=10,
        message="the mail posted after Sync now",
    )


def _has_cursor(url: str, mailbox_id: int) -> bool:
    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT 1 FROM folder_states WHERE mailbox_id = :m AND uidvalidity IS NOT NULL"
                ),
                {"m": mailbox_id},
            ).first()
        return found is not None
    finally:
        engine.dispose()


def test_a_killed_worker_is_noticed_by_its_lost_session_long_before_its_leases_expire(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    postgres_database: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    """With a 60 s lease the old way needs 50 to 60 s; the liveness lock goes with the process."""
    lease = 60.0
    env = scale_env(
        slack_fake,
        postgres_database,
        tmp_path,
        MAILROOM_LEASE_SECONDS=str(lease),
        MAILROOM_HEARTBEAT_SECONDS="10",
    )
    accounts = [new_mail_account(push_dovecot, smtp_server) for _ in range(10)]
    insert_mailboxes(postgres_database, env, accounts, push_dovecot, smtp_server)
    workers = [launch(processes, env, tmp_path, MAILROOM_ROLE="worker") for _ in range(2)]
    wait_until(
        lambda: settled(workers, push_dovecot, accounts),
        timeout=60,
        message="10 mailboxes live, 5 in each worker",
    )
    victim, survivor = workers
    victim.kill()
    started = time.monotonic()
    wait_until(
        lambda: settled([survivor], push_dovecot, accounts),
        timeout=lease,
        message="the killed worker's mailboxes live in the survivor",
    )
    took = time.monotonic() - started
    # Dead-worker checks run every second; the rest is claiming and five reconnects.
    assert took < 10, f"failover took {took:.1f} s, as if waiting for the {lease:.0f} s lease"
    assert health(survivor)["ownership"]["live_workers"] == 1


COMPOSE = Path(__file__).resolve().parents[2] / "deploy"


def compose_services() -> dict[str, dict]:
    """deploy/compose.yaml as Docker Compose reads it (YAML merge keys resolved)."""
    import yaml

    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())["services"]


def test_the_compose_file_names_real_settings_and_the_roles_the_app_knows() -> None:
    from bot.settings import Settings

    services = compose_services()
    assert set(services) == {"postgres", "web", "worker"}
    known = {name.upper() for name in Settings.model_fields}
    example = (COMPOSE / "mailroom.env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in example if "=" in line and line[0] != "#"]
    assert keys and set(keys) <= known, set(keys) - known
    for name in ("web", "worker"):
        service = services[name]
        assert set(service["environment"]) <= known
        assert service["env_file"] == "mailroom.env"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["environment"]["MAILROOM_ROLE"] == "web"
    assert services["worker"]["environment"]["MAILROOM_ROLE"] == "worker"
    assert services["worker"]["deploy"]["replicas"] == 2
    assert "CMD" in (COMPOSE / "Dockerfile").read_text()


def test_the_compose_topology_web_and_two_workers_runs_and_shares_the_mailboxes(
    slack_fake: FakeSlack,
    push_dovecot: DovecotServer,
    smtp_server: SmtpServer,
    postgres_database: str,
    tmp_path: Path,
    processes: list[AppProcess],
) -> None:
    """No Docker daemon here: the compose file's processes are started as plain processes
    with its environment (its DATABASE_URL names the compose network, so ours replaces it)."""
    services = compose_services()
    env = scale_env(slack_fake, postgres_database, tmp_path)
    accounts = [new_mail_account(push_dovecot, smtp_server) for _ in range(6)]
    insert_mailboxes(postgres_database, env, accounts, push_dovecot, smtp_server)

    def service_env(name: str) -> dict[str, str]:
        extra = {k: str(v) for k, v in services[name]["environment"].items()}
        extra.pop("DATABASE_URL")
        return extra

    web = launch(processes, env, tmp_path, **service_env("web"))
    replicas = services["worker"]["deploy"]["replicas"]
    workers = [launch(processes, env, tmp_path, **service_env("worker")) for _ in range(replicas)]
    wait_until(
        lambda: settled(workers, push_dovecot, accounts),
        timeout=60,
        message="6 mailboxes live, 3 in each of the compose file's two workers",
    )
    assert health(web)["role"] == "web" and "ownership" not in health(web)
