"""Following a pending SES verification over time (the clock is passed in, never slept on):
the check cadence, the final statuses, and notifications that go out exactly once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.senders import Senders
from bot.senders.verification import aware
from storage.models import SenderVerification
from tests.support.channel_posts import posts_saying
from tests.support.harness import Harness
from tests.support.senders_app import ADMIN_CHANNEL
from tests.support.ses_server import MotoSes
from tests.support.wait import wait_until

ADDRESS = "sales@good.test"


def start(h: Harness, address: str = ADDRESS) -> tuple[Senders, datetime]:
    h.client.command("/mail-verify", f"{address} Ana", "UADMIN")
    wait_until(lambda: h.slack.ephemerals("UADMIN"), timeout=15)
    senders: Senders = h.ctx.senders
    return senders, aware(senders.verifications.row("T1", address).started_at)


def row(senders: Senders, identity: str = ADDRESS) -> SenderVerification:
    found = senders.verifications.row("T1", identity)
    assert found is not None
    return found


def test_follow_job_is_registered_on_start(senders_harness: Harness) -> None:
    jobs = senders_harness.ctx.scheduler.job_ids()
    assert "ses-verify-follow" in jobs and "dkim-watch" in jobs


def test_checks_every_minute_then_every_ten_minutes_until_expiry(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    senders, t0 = start(senders_harness)
    assert aware(row(senders).next_check_at) == t0 + timedelta(minutes=1)
    assert senders.follow_due_verifications(now=t0 + timedelta(seconds=30)) == []
    assert aware(row(senders).checked_at) == t0  # not due yet: SES was not asked

    senders.follow_due_verifications(now=t0 + timedelta(minutes=1))
    assert aware(row(senders).next_check_at) == t0 + timedelta(minutes=2)
    senders.follow_due_verifications(now=t0 + timedelta(minutes=11))
    assert aware(row(senders).next_check_at) == t0 + timedelta(minutes=21)
    senders.follow_due_verifications(now=t0 + timedelta(hours=23, minutes=55))
    assert aware(row(senders).next_check_at) == t0 + timedelta(hours=24)  # never past expiry
    assert row(senders).status == "PENDING"


def announced(h: Harness, channel: str, words: str) -> list[dict]:
    """The announcements in ``channel``, once there is one: the app's own scheduled run may
    be announcing the same outcome at that moment (once per key: it finishes the posts)."""
    return wait_until(lambda: posts_saying(h, channel, words), message=f"{words} in {channel}")


def test_verified_is_announced_once_to_the_admin_and_the_admin_channel(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    senders, t0 = start(h)
    senders.follow_due_verifications(now=t0 + timedelta(minutes=1))
    assert not posts_saying(h, "UADMIN", "is verified")

    ses_endpoint.set_identity_status(ADDRESS, "SUCCESS")  # the link was clicked
    later = t0 + timedelta(minutes=2)
    assert senders.follow_due_verifications(now=later) == [(ADDRESS, "SUCCESS")]
    assert senders.follow_due_verifications(now=later + timedelta(hours=1)) == []
    senders.verifications.announce(row(senders))  # a repeated announcement is harmless
    for channel in ("UADMIN", ADMIN_CHANNEL):
        sent = announced(h, channel, "is verified in Amazon SES")
        assert len(sent) == 1, channel
        assert "Mailroom can now send as *Ana* &lt;sales@good.test&gt;" in sent[0]["text"]
    assert (row(senders).status, row(senders).notified_status) == ("SUCCESS", "SUCCESS")


def test_failed_is_announced_once_with_send_again(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    senders, t0 = start(h)
    ses_endpoint.set_identity_status(ADDRESS, "FAILED")
    assert senders.follow_due_verifications(now=t0 + timedelta(minutes=1)) == [(ADDRESS, "FAILED")]
    senders.follow_due_verifications(now=t0 + timedelta(minutes=30))
    sent = announced(h, "UADMIN", "Amazon SES could not verify sales@good.test")
    assert len(sent) == 1
    button = sent[0]["blocks"][1]["elements"][0]
    assert (button["text"]["text"], button["action_id"], button["value"]) == (
        "Send again",
        "ses_verify_again",
        ADDRESS,
    )
    assert len(announced(h, ADMIN_CHANNEL, "could not verify")) == 1


def test_unclicked_link_expires_after_24_hours(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    senders, t0 = start(h)
    senders.follow_due_verifications(now=t0 + timedelta(hours=23, minutes=59))
    assert row(senders).status == "PENDING"
    assert senders.follow_due_verifications(now=t0 + timedelta(hours=24)) == [(ADDRESS, "EXPIRED")]
    senders.follow_due_verifications(now=t0 + timedelta(hours=48))
    sent = posts_saying(h, "UADMIN", "was not clicked within 24 hours and has expired")
    assert len(sent) == 1
    assert "Send again" in json.dumps(sent[0]["blocks"])


def test_send_again_after_expiry_starts_a_new_round_with_its_own_news(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    h = senders_harness
    senders, t0 = start(h)
    senders.follow_due_verifications(now=t0 + timedelta(hours=24))
    assert row(senders).status == "EXPIRED"
    before = len(h.slack.ephemerals("UADMIN"))
    h.client.action("ses_verify_again", ADDRESS, "UADMIN", channel_id="DUADMIN")
    wait_until(lambda: h.slack.ephemerals("UADMIN")[before:], timeout=15)
    fresh = row(senders)
    assert fresh.status == "PENDING" and aware(fresh.started_at) > t0
    ses_endpoint.set_identity_status(ADDRESS, "SUCCESS")
    senders.follow_due_verifications(now=aware(fresh.started_at) + timedelta(minutes=1))
    assert len(posts_saying(h, "UADMIN", "is verified in Amazon SES")) == 1


def test_a_domain_verified_meanwhile_covers_the_address(
    senders_harness: Harness, ses_endpoint: MotoSes
) -> None:
    senders, t0 = start(senders_harness)
    ses_endpoint.add_identity("good.test", "SUCCESS")
    assert senders.follow_due_verifications(now=t0 + timedelta(minutes=1)) == [(ADDRESS, "SUCCESS")]


def test_ses_trouble_during_follow_up_retries_later(
    senders_harness: Harness, ses_endpoint: MotoSes, unreachable_aws_url: str
) -> None:
    h = senders_harness
    senders, t0 = start(h)
    # SES becomes unreachable: the job neither fails nor gives up; it asks again later.
    h.ctx.settings.aws_endpoint_url = unreachable_aws_url
    assert senders.follow_due_verifications(now=t0 + timedelta(minutes=1)) == []
    assert row(senders).status == "PENDING"
    assert aware(row(senders).next_check_at) == t0 + timedelta(minutes=2)
    h.ctx.settings.aws_endpoint_url = ses_endpoint.url
    ses_endpoint.set_identity_status(ADDRESS, "SUCCESS")
    assert senders.follow_due_verifications(now=t0 + timedelta(minutes=2)) == [(ADDRESS, "SUCCESS")]
