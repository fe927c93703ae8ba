"""GET /metrics: Prometheus text from the running app, fed by real syncs, posts and replies."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness import Harness, make_email
from tests.support.wait import wait_until

CHANNEL = "C_METRICS"


def samples(h: Harness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = h.client.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_count_posts_429s_replies_and_owned_mailboxes(harness: Harness) -> None:
    h = harness
    account = h.new_account()
    mailbox = h.connect(account, channel=CHANNEL)
    h.sync(mailbox.id)
    h.slack.fail_next("chat.postMessage", status=429, retry_after=1)
    h.deliver(account, make_email(to=account.address, subject="Counted"))
    assert h.sync(mailbox.id).posted == 1
    root = h.slack.top_level(CHANNEL)[-1]

    h.reply(CHANNEL, root["ts"], "Thanks, counted.")
    wait_until(lambda: len(h.smtp.messages) == 1, message="the reply sent")

    found = wait_until(
        lambda: (s := samples(h)).get(("mailroom_replies_total", (("outcome", "sent"),))) and s,
        message="the reply counted",
    )
    assert found[("mailroom_slack_rate_limited_total", ())] == 1
    assert found[("mailroom_post_latency_seconds_count", ())] == 1
    assert found[("mailroom_sync_duration_seconds_count", ())] >= 2
    assert found[("mailroom_owned_mailboxes", ())] == 1
    assert found[("mailroom_job_queue_depth", (("queue", "replies"),))] == 0
    states = {
        labels[0][1]: v for (name, labels), v in found.items() if name == "mailroom_mailboxes"
    }
    assert sum(states.values()) >= 1 and set(states) >= {"live", "polling", "failing"}
