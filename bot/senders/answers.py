"""What the sender services answer (a /dkim-check run, a /mail-verify start), as the Slack
messages (bot/blocks/senders.py) draw them: plain data, so builders and services both
depend on this module and not on each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.domain_checks import DomainReport
from providers.ses import AccountStatus, VerificationStart
from storage.models import Mailbox, SenderVerification

# How the domain stands in Amazon SES: "off" (SES not configured here), "missing" (no domain
# identity yet: "Set up DKIM with SES" is offered), "pending", "verified", "error" (SES could
# not be asked; the SES line says "could not check").
SesState = Literal["off", "missing", "pending", "verified", "failed", "error"]


@dataclass
class DomainCheck:
    """One /dkim-check run, as the Slack answer needs it."""

    report: DomainReport
    selectors: list[str]
    ses_state: SesState
    watching: bool
    ses_records: list[str] = field(default_factory=list)
    report_id: int | None = None

    @property
    def verdict(self) -> str:
        return self.report.verdict


@dataclass
class VerifyAnswer:
    """What /mail-verify did, for the answer in Slack."""

    start: VerificationStart
    row: SenderVerification
    mailbox: Mailbox | None
    account: AccountStatus | None
