"""The sign-in buttons and the channel picker after a sign-in, through signed requests (security
issue 9, item 11): a channel the person may not use is never recorded."""

from __future__ import annotations

from tests.bot.signin.flows import add_mail_user, channel_picker, pick_channel, sign_in
from tests.support.harness import Harness
from tests.support.identity_fakes import IdentityFakes
from tests.support.wait import wait_until


def test_the_sign_in_click_does_not_record_a_private_channel_the_person_is_not_in(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    h.slack.add_channel("G_BOARD", "board", is_private=True, is_member=True, members=["UADMIN"])
    add_mail_user(h, identity.google.person.email)
    run = sign_in(h, identity, "google", channel="G_BOARD")
    assert run.page.status_code == 200, run.page.text
    refusal = wait_until(
        lambda: (
            [e for e in h.slack.ephemerals("UALICE") if "not one you are in" in e["text"]]
            or [m for m in h.slack.messages("UALICE") if "not one you are in" in m["text"]]
        ),
        message="refusal of the channel",
    )
    assert refusal
    mailbox = h.mailbox_by_address(identity.google.person.email)
    assert mailbox is not None and mailbox.channel_id is None and not mailbox.active
    assert not h.slack.messages("G_BOARD")
    channel_picker(h)  # asked for a channel instead


def test_the_channel_picker_refuses_a_user_id_and_a_private_channel_the_person_is_not_in(
    signin_harness: Harness, identity: IdentityFakes
) -> None:
    h = signin_harness
    h.slack.add_channel("G_BOARD", "board", is_private=True, is_member=True, members=["UADMIN"])
    add_mail_user(h, identity.google.person.email)
    sign_in(h, identity, "google", channel=None)
    mailbox = h.mailbox_by_address(identity.google.person.email)
    picker = channel_picker(h)
    for forged, words in (("UBOB", "not a person"), ("G_BOARD", "not one you are in")):
        pick_channel(h, picker, forged)
        wait_until(
            lambda words=words: (
                [e for e in h.slack.ephemerals("UALICE") if words in e["text"]]
                or [m for m in h.slack.messages("UALICE") if words in m["text"]]
            ),
            message=f"refusal of {forged}",
        )
        saved = h.ctx.mailboxes.get(mailbox.id)
        assert saved.channel_id is None and not saved.active
    # A private channel she is in works.
    h.slack.add_channel(
        "G_TEAM", "team", is_private=True, is_member=True, members=["UALICE", "UBOB"]
    )
    pick_channel(h, picker, "G_TEAM")
    wait_until(
        lambda: (m := h.ctx.mailboxes.get(mailbox.id)) and m.active and m.channel_id == "G_TEAM",
        message="channel saved",
    )
