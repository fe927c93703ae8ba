"""Dovecot settings for push tests (appended to the generated dovecot.conf)."""

from __future__ import annotations

# Dovecot for push tests: IDLE sessions are checked every second even when the kernel's
# inotify instances (128 per uid, shared by every Dovecot on the machine) run out, and
# enough imap processes for hundreds of sessions.
PUSH_DOVECOT = """
mailbox_idle_check_interval = 1 secs
default_process_limit = 1200
default_client_limit = 3000
service imap {
  process_limit = 1200
}
service imap-login {
  service_count = 0
  client_limit = 1200
}
"""
# The capability Dovecot 2.3 announces after login, without IDLE: a server that cannot push.
NO_IDLE_DOVECOT = PUSH_DOVECOT + (
    "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE ESEARCH LIST-STATUS MOVE "
    "LITERAL+ SPECIAL-USE\n"
)
