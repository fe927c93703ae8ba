"""/mail-role, through signed requests: admins grant and revoke roles."""

from __future__ import annotations

from storage.models import Role
from tests.support.ephemerals import ephemeral_to
from tests.support.harness import Harness


def test_mail_role_is_for_admins_only(harness: Harness) -> None:
    h = harness
    h.client.command("/mail-role", "<@UALICE|alice> admin", "UBOB")
    refusal = ephemeral_to(h, "UBOB", "Only Mailroom admins can grant or revoke roles")
    assert "/mail-role" in refusal["text"]
    assert h.ctx.roles.role_of("UALICE") == Role.NONE

    h.client.command("/mail-role", "make alice boss", "UADMIN")
    ephemeral_to(h, "UADMIN", "I could not read that")
    h.client.command("/mail-role", "<@UALICE|alice> admin", "UADMIN")
    ephemeral_to(h, "UADMIN", "now has the admin role")
    assert h.ctx.roles.role_of("UALICE") == Role.ADMIN
    # A granted admin may grant in turn.
    h.client.command("/mail-role", "<@UBOB|bob> sales", "UALICE")
    ephemeral_to(h, "UALICE", "now has the sales role")
    assert h.ctx.roles.role_of("UBOB") == Role.SALES
