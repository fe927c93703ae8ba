"""bot/factory.py: the app create_mailroom builds, wired to real parts (tests/support/harness.py).

Its services hand work to one another, the features and the listeners are installed, /metrics
counts the mailboxes this process owns by sync state, a mailbox's poll follows its claim
(start_mailbox / stop_mailbox), each listener speaks the language of the person who acted, and
only a worker with its scheduler on starts background work.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from bot.factory import owned_count, start_mailbox, stop_mailbox, sync_states
from bot.metrics import SYNC_STATES
from storage.models import Mailbox
from tests.support.harness import Harness, HarnessFactory, make_email
from tests.support.wait import wait_until

CHANNEL = "C_FACTORY"


def mailbox_gauges(h: Harness) -> dict[str, float]:
    """``mailroom_mailboxes`` by state, and ``owned``, as GET /metrics shows them."""
    response = h.client.client.get("/metrics")
    assert response.status_code == 200
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "mailroom_mailboxes":
                found[sample.labels["state"]] = sample.value
            elif sample.name == "mailroom_owned_mailboxes":
                found["owned"] = sample.value
    return found


def fail_syncs(h: Harness, mailbox_id: int, failures: int) -> None:
    with h.ctx.db.session() as session:
        stored = session.get(Mailbox, mailbox_id)
        stored.consecutive_failures = failures
        session.add(stored)


def test_jobs_hand_a_sync_to_the_sync_service_and_a_thread_message_to_the_replies(
    harness: Harness,
) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, channel=CHANNEL)
    h.deliver(account, make_email(to=account.address, subject="Routed by the jobs"))
    # "Sync now" goes through the router: this process holds the mailbox, so it syncs here.
    h.ctx.sync.sync_now(mailbox.id)
    root = wait_until(
        lambda: next(
            (m for m in h.slack.top_level(CHANNEL) if "Routed by the jobs" in m.get("text", "")),
            None,
        ),
        message="the mail posted by the sync the jobs asked for",
    )
    # A thread message is stored, then handed by the jobs to the reply service: the mail leaves.
    assert h.reply(CHANNEL, root["ts"], "Thanks, routed.").status_code == 200
    mail = h.smtp.wait_for_messages(1)[0]
    assert "Thanks, routed." in mail.message.get_body(("plain",)).get_content()


def test_the_features_and_the_listeners_are_installed(harness: Harness) -> None:
    h = harness
    ctx = h.ctx
    assert ctx.need_senders() is ctx.senders
    assert ctx.need_signin() is ctx.signin
    assert ctx.need_campaigns() is ctx.campaigns
    assert ctx.home_view is not None and ctx.sync_mode_line is not None
    assert ctx.routes and ctx.health and ctx.status_lines
    # SYNC_PUSH=off in the harness: no push engine; the features' jobs start with the app.
    assert ctx.push is None
    assert ctx.scheduler.running and ctx.ownership.running
    # The listeners handed in by the composition root answer signed requests.
    assert h.client.command("/mail-status", "", "UBOB").status_code == 200
    wait_until(lambda: h.slack.ephemerals("UBOB"), message="the /mail-status answer")
    # /healthz comes from the web app it built around Bolt.
    assert h.client.client.get("/healthz").status_code == 200


def test_metrics_count_the_owned_mailboxes_by_sync_state(harness: Harness) -> None:
    h = harness
    assert mailbox_gauges(h) == {state: 0 for state in SYNC_STATES} | {"owned": 0}
    first = h.connect(channel=CHANNEL)
    second = h.connect(user="UBOB", channel="C_OTHER")
    # Without push, every mailbox this process owns is polled.
    gauges = wait_until(
        lambda: (g := mailbox_gauges(h))["owned"] == 2 and g,
        message="both mailboxes owned",
    )
    assert gauges == {
        "live": 0,
        "polling": 2,
        "reconnecting": 0,
        "connecting": 0,
        "failing": 0,
        "owned": 2,
    }
    # A mailbox whose last syncs failed is counted as failing too (still polled).
    fail_syncs(h, second.id, 3)
    assert sync_states(h.ctx) | {"owned": owned_count(h.ctx)} == mailbox_gauges(h)
    assert mailbox_gauges(h)["failing"] == 1
    fail_syncs(h, first.id, 1)
    assert mailbox_gauges(h)["failing"] == 2
    fail_syncs(h, first.id, 0)
    fail_syncs(h, second.id, 0)
    assert mailbox_gauges(h)["failing"] == 0


def test_start_and_stop_mailbox_schedule_and_unschedule_its_poll(harness: Harness) -> None:
    h = harness
    mailbox = h.connect(channel=CHANNEL)
    job = f"sync:{mailbox.id}"
    assert h.ctx.scheduler.has(job)  # claimed when connected: its poll is scheduled
    stop_mailbox(h.ctx, mailbox.id)
    assert not h.ctx.scheduler.has(job)
    stop_mailbox(h.ctx, mailbox.id)  # losing it twice is harmless
    assert not h.ctx.scheduler.has(job)
    start_mailbox(h.ctx, mailbox.id)
    assert h.ctx.scheduler.has(job)
    start_mailbox(h.ctx, mailbox.id)  # claimed again: still one poll
    assert h.ctx.scheduler.job_ids().count(job) == 1
    # The poll it scheduled is the sync service's run: mail delivered now is posted by it.
    account = next(a for a in h.accounts if a.address == mailbox.address)
    h.deliver(account, make_email(to=account.address, subject="Polled"))
    assert h.sync(mailbox.id).posted == 1


def ephemeral_answer(h: Harness, command: str, text: str, user: str) -> str:
    before = len(h.slack.ephemerals(user))
    assert h.client.command(command, text, user).status_code == 200
    got = wait_until(lambda: h.slack.ephemerals(user)[before:], message=f"answer to {command}")
    return str(got[0]["text"])


def test_each_listener_speaks_the_language_of_the_person_who_acted(harness: Harness) -> None:
    h = harness
    h.slack.set_locale("UADMIN", "es-ES")
    assert "Todavía no hay campañas" in ephemeral_answer(h, "/mail-campaign", "list", "UADMIN")
    # The next person's answer is in their own language, not in the one just spoken.
    english = ephemeral_answer(h, "/mail-campaign", "list", "UBOB")  # no marketing role
    assert "are for Mailroom admins" in english
    assert "Todavía no hay campañas" in ephemeral_answer(h, "/mail-campaign", "list", "UADMIN")


def test_a_process_with_its_scheduler_off_starts_no_background_work(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(MAILROOM_SCHEDULER="off")
    assert not h.ctx.scheduler.running
    assert not h.ctx.ownership.running
    assert h.ctx.push is None
    # It holds no mailbox, so /metrics counts none; it still answers Slack.
    assert mailbox_gauges(h) == {state: 0 for state in SYNC_STATES} | {"owned": 0}
    assert h.client.command("/mail-status", "", "UBOB").status_code == 200


def test_the_web_app_shutting_down_stops_the_background_work(harness: Harness) -> None:
    h = harness
    assert h.ctx.scheduler.running
    with TestClient(h.mailroom.web) as client:  # the lifespan: startup, then shutdown
        assert client.get("/healthz").status_code == 200
    assert not h.ctx.scheduler.running
    assert not h.ctx.ownership.running


def test_with_push_a_claimed_mailbox_is_watched_and_counted_live(
    harness_with: HarnessFactory,
) -> None:
    h = harness_with(SYNC_PUSH="on")
    engine = h.ctx.push
    assert engine is not None and engine.running
    mailbox = h.connect(channel=CHANNEL)
    gauges = wait_until(
        lambda: (g := mailbox_gauges(h))["live"] == 1 and g, message="the mailbox live"
    )
    assert gauges["polling"] == 0 and gauges["owned"] == 1
    assert engine.watched() == [mailbox.id]

    # Its claim lost: no poll, no push connection; still owned here, so counted as polling.
    stop_mailbox(h.ctx, mailbox.id)
    assert engine.watched() == []
    assert not h.ctx.scheduler.has(f"sync:{mailbox.id}")
    assert mailbox_gauges(h)["live"] == 0 and mailbox_gauges(h)["polling"] == 1
    # Claimed again: watched and polled again, live once connected.
    start_mailbox(h.ctx, mailbox.id)
    assert engine.watched() == [mailbox.id]
    assert h.ctx.scheduler.has(f"sync:{mailbox.id}")
    wait_until(lambda: mailbox_gauges(h)["live"] == 1, message="the mailbox live again")
