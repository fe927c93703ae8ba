"""The compose modal's To/Cc suggestions (external select options): only the contacts of
the mailboxes one may send from, or a new address typed in full."""

from __future__ import annotations

from tests.support.harness import Harness, make_email
from tests.support.inbox import compose_values, open_compose, submit, suggest
from tests.support.threads import CHANNEL
from tests.support.wait import wait_until


def test_to_and_cc_suggest_only_contacts_of_mailboxes_one_may_send_from(
    harness: Harness,
) -> None:
    h = harness
    alice_account = h.new_account()
    alice_box = h.connect(alice_account, user="UALICE", kind="personal", channel=CHANNEL)
    bob_account = h.new_account()
    bob_box = h.connect(bob_account, user="UBOB", kind="personal", channel="C_BOB")
    h.deliver(
        alice_account,
        make_email(sender='"Carla <C&C>" <carla@customer.example.com>', to=alice_account.address),
    )
    h.deliver(
        alice_account,
        make_email(
            sender="Dave Davies <dave@customer.example.com>",
            to=alice_account.address,
            subject="Another question",
        ),
    )
    h.deliver(
        bob_account,
        make_email(sender="Carlos Secret <carlos@rival.example.com>", to=bob_account.address),
    )
    h.sync(alice_box.id)
    h.sync(bob_box.id)
    wait_until(
        lambda: len(h.slack.top_level(CHANNEL)) >= 2 and h.slack.top_level("C_BOB"),
        message="the mails in Slack",
    )

    # By address or by name; Bob's customer never shows up for Alice (and vice versa).
    options = suggest(h, "UALICE", "carl")
    assert [o["value"] for o in options] == ["carla@customer.example.com"]
    assert options[0]["text"]["text"] == "Carla &lt;C&amp;C&gt; &lt;carla@customer.example.com&gt;"
    assert [o["value"] for o in suggest(h, "UALICE", "davies")] == ["dave@customer.example.com"]
    assert sorted(o["value"] for o in suggest(h, "UALICE", "customer.example.com")) == [
        "carla@customer.example.com",
        "dave@customer.example.com",
    ]
    assert suggest(h, "UALICE", "rival") == []
    assert [o["value"] for o in suggest(h, "UBOB", "carl")] == ["carlos@rival.example.com"]
    assert suggest(h, "UCAROL", "carl") == []  # no mailbox to send from: no contacts
    # A new, valid address typed in full is offered as it is.
    assert [o["value"] for o in suggest(h, "UALICE", "new.person@elsewhere.example")] == [
        "new.person@elsewhere.example"
    ]
    assert suggest(h, "UALICE", "not an address") == []

    # What is picked is exactly where the mail goes.
    view = open_compose(h, "UALICE")
    to = [suggest(h, "UALICE", "carla")[0]["value"]]
    cc = [suggest(h, "UALICE", "dave")[0]["value"], "new.person@elsewhere.example"]
    assert submit(h, view, "UALICE", compose_values(alice_box.id, to, cc=cc)) == {}
    sent = wait_until(
        lambda: next((m for m in h.smtp.messages if m.message["Subject"] == "Our offer"), None),
        message="the new email",
    )
    assert sorted(sent.recipients) == [
        "carla@customer.example.com",
        "dave@customer.example.com",
        "new.person@elsewhere.example",
    ]
    assert sent.message["To"].addresses[0].addr_spec == "carla@customer.example.com"
    assert [a.addr_spec for a in sent.message["Cc"].addresses] == [
        "dave@customer.example.com",
        "new.person@elsewhere.example",
    ]
