"""Scale-out tests share the push tests' Dovecot (many IDLE sessions, fast change checks)."""

from tests.bot.push.conftest import push_dovecot

__all__ = ["push_dovecot"]
