"""The awkward-mail corpus, delivered into Dovecot and synced: every mail reaches Slack within
Slack's limits, nothing escapes as an exception, and the mailboxes keep working afterwards."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import select

from bot.formatting.inbound import parse_email
from storage.models import Message
from tests.support.corpus import awkward_messages
from tests.support.harness import Harness, make_email

# Slack takes about one post per second per channel (and Mailroom paces itself to that), so
# the corpus is spread over four mailboxes, each with its own channel, synced side by side.
USERS = ("UALICE", "UBOB", "USALES", "UADMIN")


def test_every_awkward_mail_is_posted_within_slack_limits(harness: Harness) -> None:
    h = harness
    accounts = [h.new_account() for _ in USERS]
    mailboxes = [
        h.connect(account, user=user, channel=f"C_CORPUS{n}")
        for n, (account, user) in enumerate(zip(accounts, USERS, strict=True))
    ]
    corpus = awkward_messages()
    assert len(corpus) >= 30
    expected_ids: dict[str, str] = {}  # name -> Message-ID, for mail that carries one
    synthetic = 0
    for n, (name, raw) in enumerate(corpus):
        if not raw:
            continue  # IMAP cannot store a zero-byte message; no server hands one over
        h.deliver(accounts[n % len(accounts)], raw)
        parsed = parse_email(raw)
        if parsed.synthetic_id:
            synthetic += 1  # its id is derived from the bytes the server hands back
        else:
            expected_ids[name] = parsed.message_id

    with ThreadPoolExecutor(len(mailboxes)) as pool:
        results = list(pool.map(lambda m: h.sync(m.id, timeout=120), mailboxes))
    for result in results:
        assert result.error is None, result
    for mailbox in mailboxes:
        assert h.ctx.mailboxes.get(mailbox.id).health == "ok"

    with h.ctx.db.session() as session:
        rows = list(session.exec(select(Message)))
    by_id = {row.message_id: row for row in rows}
    for name, message_id in expected_ids.items():
        row = by_id.get(message_id)
        assert row is not None, f"{name} was not recorded"
        assert row.state == "posted" and row.slack_ts, (name, row.state, row.error)
    made_up = [r for r in rows if r.message_id.endswith("@mailroom.invalid>")]
    assert len(made_up) == synthetic
    assert all(r.state == "posted" for r in made_up)
    posted_ts = {m["ts"] for n in range(len(USERS)) for m in h.slack.messages(f"C_CORPUS{n}")}
    assert {r.slack_ts for r in rows} <= posted_ts

    posts = h.slack.calls_to("chat.postMessage")
    # Slack took every post as built: none needed the plain-text fallback.
    refused = [(c.response or {}).get("error") for c in posts if not (c.response or {}).get("ok")]
    assert refused == []
    for call in posts:
        blocks = call.params.get("blocks") or []
        assert len(blocks) <= 50
        for block in blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
        payload = json.dumps({"text": call.params.get("text"), "blocks": blocks})
        for needle in ("<!channel>", "<!here>", "<!everyone>", "<https://evil"):
            assert needle not in payload, needle

    # The next sync (the worker's next round) still works and brings new mail in.
    h.deliver(accounts[0], make_email(to=accounts[0].address, subject="Plain mail afterwards"))
    after = h.sync(mailboxes[0].id)
    assert (after.posted, after.error) == (1, None)
    assert h.ctx.mailboxes.get(mailboxes[0].id).health == "ok"
