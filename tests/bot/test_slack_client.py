"""Slack Web API access (bot.slack_client) against the fake Slack over HTTP: 429s and 5xx
answers retried, channel posts paced per channel, an ephemeral that cannot be delivered
becomes a DM, and an already-added reaction is no error."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_client import ChannelPacer, Slack, make_web_client
from tests.support.fake_slack import FakeSlack


def slack_for(fake: FakeSlack, pacer: ChannelPacer | None = None) -> Slack:
    return Slack(make_web_client("xoxb-test", fake.base_url), pacer)


def test_a_rate_limited_or_failing_post_is_retried_until_it_goes_through(
    slack_fake: FakeSlack,
) -> None:
    slack = slack_for(slack_fake)
    slack_fake.fail_next("chat.postMessage", status=429, retry_after=0)
    slack_fake.fail_next("chat.postMessage", status=503, retry_after=None, error="fatal_error")
    ts = slack.post("C_SALES", "Hello", thread_ts="1700000000.000100")
    calls = slack_fake.calls_to("chat.postMessage")
    assert [call.failed for call in calls] == [True, True, False]
    assert calls[-1].params["thread_ts"] == "1700000000.000100"
    assert calls[-1].params["unfurl_links"] in (False, "false", "0", 0)
    [posted] = slack_fake.messages("C_SALES")
    assert posted["ts"] == ts and posted["text"] == "Hello"


def test_retries_give_up_after_their_count() -> None:
    with FakeSlack() as fake:
        client = make_web_client("xoxb-test", fake.base_url, max_retries=2)
        fake.fail_next("chat.postMessage", status=429, retry_after=0, count=3)
        with pytest.raises(SlackApiError):
            client.chat_postMessage(channel="C_SALES", text="x")
        assert len(fake.calls_to("chat.postMessage")) == 3  # the first try and two retries


def test_the_pacer_lets_a_burst_through_then_spaces_posts_per_channel() -> None:
    now = [100.0]
    pacer = ChannelPacer(rate=100.0, burst=2, clock=lambda: now[0])
    assert [pacer.wait("C1"), pacer.wait("C1")] == [0.0, 0.0]
    assert pacer.wait("C1") == pytest.approx(0.01)  # one post per 1/rate seconds after it
    assert pacer.wait("C2") == 0.0  # another channel has its own bucket
    now[0] += 1.0  # a quiet second refills the bucket, never beyond the burst
    assert [pacer.wait("C1"), pacer.wait("C1")] == [0.0, 0.0]
    assert pacer.wait("C1") > 0.0


def test_an_ephemeral_the_channel_refuses_becomes_a_dm(slack_fake: FakeSlack) -> None:
    slack = slack_for(slack_fake)
    slack_fake.reject("chat.postEphemeral", lambda params: True, error="channel_not_found")
    slack.ephemeral("C_GONE", "UALICE", "Your mailbox is paused.")
    [dm] = slack_fake.messages("DUALICE")
    assert dm["text"] == "Your mailbox is paused."
    slack_fake.stop_rejecting()
    slack.ephemeral("C_SALES", "UALICE", "Only for you.")
    assert slack_fake.ephemerals("UALICE")[-1]["text"] == "Only for you."
    assert len(slack_fake.messages("DUALICE")) == 1


def test_an_already_added_reaction_is_fine_other_refusals_are_not(
    slack_fake: FakeSlack,
) -> None:
    slack = slack_for(slack_fake)
    ts = slack.post("C_SALES", "Mail")
    slack.react("C_SALES", ts, "lock")
    slack_fake.reject("reactions.add", lambda params: True, error="already_reacted")
    slack.react("C_SALES", ts, "lock")
    slack_fake.stop_rejecting()
    slack_fake.reject("reactions.add", lambda params: True, error="message_not_found")
    with pytest.raises(SlackApiError):
        slack.react("C_SALES", "1.2", "lock")


@pytest.mark.parametrize("in_thread", [False, True])
def test_an_earlier_post_is_found_past_the_first_page(
    slack_fake: FakeSlack, in_thread: bool
) -> None:
    """After a crash, our post is looked for by its metadata: in a busy channel (or thread)
    it is beyond the first page of 200 Slack returns, whichever end Slack starts from
    (history: newest first; a thread: oldest first)."""
    slack = slack_for(slack_fake)
    root = slack.post("C_SALES", "root") if in_thread else None

    def chatter(count: int) -> None:
        for n in range(count):  # straight to the client: Slack.post paces 1 a second
            slack.client.chat_postMessage(channel="C_SALES", text=f"chatter {n}", thread_ts=root)

    chatter(250)
    ours = slack.post(
        "C_SALES",
        "ours",
        thread_ts=root,
        metadata={"event_type": "mailroom_post", "event_payload": {"message": 7}},
    )
    chatter(250)
    oldest = float(ours) - 60
    method = "conversations.replies" if in_thread else "conversations.history"
    found = slack.find_post("C_SALES", oldest, "mailroom_post", {"message": 7}, thread_ts=root)
    assert found == ours
    assert len(slack_fake.calls_to(method)) == 2  # the second page had it
    missing = slack.find_post("C_SALES", oldest, "mailroom_post", {"message": 8}, thread_ts=root)
    assert missing is None
    assert len(slack_fake.calls_to(method)) == 2 + 3  # every page, then no more
