"""Block builders speak the current language: words, counts (plural forms) and hostile text."""

from __future__ import annotations

import json

from bot.blocks.contacts import contacts_changed_text
from bot.blocks.email import email_post_blocks
from bot.blocks.inbox import triage_blocks
from bot.preferences.contacts import ContactChanges
from locales import speaking
from storage.models import Mailbox, ThreadStatus
from tests.bot.blocks.test_email_blocks import inbound, mailbox


def test_builders_render_in_spanish_under_speaking() -> None:
    box = Mailbox(id=1, team_id="T", kind="shared", owner_id="U", address="ventas@acme.test")
    one = ContactChanges(done=["ana@cliente.test"], unchanged=[], invalid=[])
    three = ContactChanges(
        done=["a@x.test", "b@x.test", "@y.test"], unchanged=["c@x.test"], invalid=[]
    )
    parsed = inbound(from_name="Carla <!channel>", from_address="carla@customer.test")
    with speaking("es"):
        added_one = contacts_changed_text("Added", box, one)
        added_three = contacts_changed_text("Added", box, three, skipped_rows=2)
        triage = triage_blocks(ThreadStatus.OPEN, "U123")
        text, blocks = email_post_blocks(parsed, mailbox(), show_full_ref="1.x", root=True)
    assert added_one == "Se añadió 1 contacto a ventas@acme.test: ana@cliente.test."
    assert added_three == (
        "Se añadieron 3 contactos a ventas@acme.test: a@x.test, b@x.test, @y.test. "
        "1 ya estaba. 2 filas no tenían dirección."
    )
    state = triage[0]["elements"][0]["text"]
    assert (
        state
        == ":large_orange_circle: *Abierta*: el cliente espera una respuesta · Asignada a <@U123>"
    )
    labels = [e["text"]["text"] for e in triage[1]["elements"]]
    assert labels[:2] == ["Asignármela", "Asignar…"]
    assert [e["action_id"] for e in triage[1]["elements"]][:2] == [
        "triage_assign_me",
        "triage_assign",
    ]
    assert text.startswith("Correo de Carla") and "<!channel>" not in text
    assert "Las respuestas en este hilo van a carla@customer.test" in json.dumps(blocks)
    # Outside the block, English again.
    assert contacts_changed_text("Removed", box, one).startswith("Removed 1 contact for")
