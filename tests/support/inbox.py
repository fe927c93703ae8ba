"""Team inbox steps as a person takes them: the triage line of a thread's root post and its
buttons, /mail-send's compose modal and its contact suggestions, /mail-template's modal,
/mail-inbox's answer."""

from __future__ import annotations

from sqlmodel import select

from storage.models import Conversation
from tests.support.harness import Harness
from tests.support.slack_requests import (
    file_input,
    multi_external_select,
    plain_input,
    static_select,
)
from tests.support.threads import CHANNEL
from tests.support.wait import wait_until


def thread_texts(h: Harness, ts: str) -> list[str]:
    return [m.get("text", "") for m in h.slack.thread(CHANNEL, ts)]


def conversation(h: Harness, ts: str) -> Conversation:
    with h.ctx.db.session() as session:
        return session.exec(select(Conversation).where(Conversation.thread_ts == ts)).one()


def root_post(h: Harness, ts: str) -> dict:
    message = h.slack.message(CHANNEL, ts)
    assert message is not None
    return message


def triage_line(h: Harness, ts: str) -> str:
    block = next(b for b in root_post(h, ts)["blocks"] if b.get("block_id") == "triage_state")
    return block["elements"][0]["text"]


def shows(h: Harness, ts: str, *words: str) -> str:
    def current() -> str | None:
        line = triage_line(h, ts)
        return line if all(w in line for w in words) else None

    return wait_until(current, message=f"the root post showing {words}")


def click(h: Harness, action: str, user: str, ts: str) -> None:
    answer = h.client.action(action, None, user, channel_id=CHANNEL, message=root_post(h, ts))
    assert answer.status_code == 200


# --- /mail-send: the compose modal -------------------------------------------------------


def open_compose(h: Harness, user: str) -> dict | None:
    """The compose modal /mail-send opened, or None when the person was told why not."""
    opened, told = len(h.slack.calls_to("views.open")), len(h.slack.ephemerals(user))
    h.client.command("/mail-send", "", user, channel_id=CHANNEL)
    wait_until(
        lambda: (
            len(h.slack.calls_to("views.open")) > opened or len(h.slack.ephemerals(user)) > told
        ),
        message="the compose modal or an answer",
    )
    if len(h.slack.calls_to("views.open")) > opened:
        return h.slack.last_view()
    return None


def from_options(view: dict) -> list[str]:
    return [o["text"]["text"] for o in view["blocks"][0]["element"]["options"]]


def compose_values(
    mailbox_id: int,
    to: list[str],
    cc: list[str] | None = None,
    subject: str = "Our offer",
    files: list[dict] | None = None,
) -> dict:
    """The modal's state as Slack sends it: To/Cc are the options picked in the selects."""
    fields = {
        "from": static_select(str(mailbox_id)),
        "subject": plain_input(subject),
        "body": plain_input("Hello Carla,\n\nhere is *our offer*."),
    }
    values = {key: {"value": value} for key, value in fields.items()}
    values["to"] = {"mail_contacts": multi_external_select(to)}
    values["cc"] = {"mail_contacts": multi_external_select(cc or [])}
    values["files"] = {"files": file_input(files or [])}
    return values


def submit(h: Harness, view: dict, user: str, values: dict) -> dict:
    answer = h.client.submit_view("mail_compose", values, user, view=view)
    assert answer.status_code == 200
    return answer.json() if answer.content else {}


def suggest(h: Harness, user: str, query: str) -> list[dict]:
    answer = h.client.options("mail_contacts", query, user, block_id="to")
    assert answer.status_code == 200, answer.text
    return answer.json()["options"]


# --- /mail-template and /mail-inbox --------------------------------------------------------


def add_template(h: Harness, user: str, scope: str, name: str, body: str) -> dict:
    before = len(h.slack.calls_to("views.open"))
    h.client.command("/mail-template", f"add {scope}".strip(), user, channel_id=CHANNEL)
    wait_until(lambda: len(h.slack.calls_to("views.open")) > before, message="the template modal")
    view = h.slack.last_view()
    values = {"name": {"value": plain_input(name)}, "body": {"value": plain_input(body)}}
    answer = h.client.submit_view("template_save", values, user, view=view)
    return answer.json() if answer.content else {}


def inbox_answer(h: Harness, user: str) -> dict:
    before = len(h.slack.ephemerals(user))
    assert h.client.command("/mail-inbox", "", user, channel_id=CHANNEL).status_code == 200
    return wait_until(lambda: h.slack.ephemerals(user)[before:], message="the /mail-inbox answer")[
        -1
    ]
