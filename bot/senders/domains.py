"""/dkim-check: run the domain checks, keep the reports, and watch domains over time.

The checks themselves are ``bot.domain_checks.check_domain`` (pure DNS logic); this module
adds what only the app knows: the domain's Easy DKIM tokens from Amazon SES (when SES is set
up here), storage of every report (``DomainReportRow``: /mail-status and App Home show each
domain's latest verdict), and watches (``DomainWatch``) that re-check on a schedule and say
once when a domain starts passing and once when a passing domain breaks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.blocks.senders import domain_footer_line, senders_footer_line, watch_event_message
from bot.domain_checks import (
    SES_DKIM,
    CheckLine,
    SesDomainInfo,
    check_domain,
    render_record_fix,
    ses_dkim_name,
    ses_dkim_target,
)
from bot.senders.answers import DomainCheck, SesState
from bot.senders.verification import SenderVerifications
from locales import _, speaking
from providers.dns import make_resolver
from providers.errors import MailroomError, UserError
from storage.models import DomainReportRow, DomainWatch, utcnow

if TYPE_CHECKING:
    from bot.core import Core
    from storage.db import Database

log = logging.getLogger(__name__)

WATCH_JOB = "dkim-watch"
WATCH_TICK_SECONDS = 300
WATCH_INTERVAL = timedelta(hours=1)


def ses_records(domain: str, ses: SesDomainInfo) -> list[str]:
    """The Easy DKIM CNAME records exactly as they must be published (one per SES token)."""
    return [
        render_record_fix(ses_dkim_name(token, domain), "CNAME", ses_dkim_target(token, ses))
        for token in ses.dkim_tokens
    ]


class DomainService:
    def __init__(self, ctx: Core, verifications: SenderVerifications) -> None:
        self.ctx = ctx
        self.verifications = verifications

    # --- Checking ---------------------------------------------------------------------------

    def check(
        self, team_id: str, user_id: str, domain: str, selectors: Sequence[str] = ()
    ) -> DomainCheck:
        """Run every check for ``domain`` now, store the report and return it."""
        settings = self.ctx.settings
        resolver = make_resolver(
            settings.dns_nameservers or None, timeout=settings.dns_timeout_seconds
        )
        ses, ses_state, ses_problem = self.ses_info(domain)
        report = check_domain(domain, resolver=resolver, selectors=selectors, ses=ses)
        if ses_problem is not None:
            # SES could not be asked: say so in the report, like a DNS server that timed out.
            report.lines.insert(0, ses_problem)
        result = DomainCheck(
            report=report,
            selectors=list(selectors),
            ses_state=ses_state,
            watching=self.watch_row(team_id, report.domain) is not None,
            ses_records=ses_records(report.domain, ses) if ses else [],
        )
        result.report_id = self.store(team_id, user_id, result)
        return result

    def ses_info(self, domain: str) -> tuple[SesDomainInfo | None, SesState, CheckLine | None]:
        if not self.ctx.settings.mailroom_ses_enabled:
            return None, "off", None
        try:
            state = self.verifications.provider().get_identity(domain)
        except MailroomError as exc:
            line = CheckLine(
                SES_DKIM,
                domain,
                "unknown",
                _("Could not read {domain}'s Easy DKIM tokens from Amazon SES: {error}").format(
                    domain=domain, error=exc.message
                ),
            )
            return None, "error", line
        if not state.exists:
            return None, "missing", None
        info = SesDomainInfo.from_identity(state, self.ctx.settings.aws_region)
        ses_state: SesState = (
            "verified" if state.verified else "failed" if state.status == "FAILED" else "pending"
        )
        return info, ses_state, None

    def store(self, team_id: str, user_id: str, result: DomainCheck) -> int | None:
        data = result.report.to_dict()
        data.update(
            selectors=result.selectors, ses_state=result.ses_state, ses_records=result.ses_records
        )
        row = DomainReportRow(
            team_id=team_id,
            domain=result.report.domain,
            verdict=result.verdict,
            report_json=json.dumps(data),
            requested_by=user_id,
        )
        with self.ctx.db.session() as session:
            session.add(row)
        # Admins' App Home lists each domain's latest verdict: tell it there is a new one.
        self.ctx.events.domain_checked.emit(team_id, row.domain)
        return row.id

    def setup_ses(self, team_id: str, user_id: str, domain: str) -> DomainCheck:
        """Create the SES domain identity ("Set up DKIM with SES"), then check again."""
        self.verifications.start_domain(team_id, user_id, domain)
        return self.check(team_id, user_id, domain)

    # --- Watching ---------------------------------------------------------------------------

    def watch_row(self, team_id: str, domain: str) -> DomainWatch | None:
        with self.ctx.db.session() as session:
            return session.exec(
                select(DomainWatch).where(
                    DomainWatch.team_id == team_id, DomainWatch.domain == domain
                )
            ).first()

    def watch(
        self, team_id: str, user_id: str, domain: str, selectors: Sequence[str]
    ) -> DomainWatch:
        """Start (or update) a watch; its baseline is the domain's latest verdict."""
        latest = self.latest_verdict(team_id, domain)
        for _attempt in range(2):
            try:
                with self.ctx.db.session() as session:
                    row = session.exec(
                        select(DomainWatch).where(
                            DomainWatch.team_id == team_id, DomainWatch.domain == domain
                        )
                    ).first() or DomainWatch(team_id=team_id, domain=domain)
                    row.selectors = " ".join(selectors)
                    row.requested_by = user_id
                    row.last_verdict = latest
                    row.next_check_at = utcnow() + WATCH_INTERVAL
                    session.add(row)
                    return row
            except IntegrityError:
                continue  # someone else started the same watch a moment ago: update theirs
        raise UserError(
            _("Mailroom could not start watching {domain}; try again.").format(domain=domain)
        )

    def unwatch(self, team_id: str, domain: str) -> bool:
        with self.ctx.db.session() as session:
            row = session.exec(
                select(DomainWatch).where(
                    DomainWatch.team_id == team_id, DomainWatch.domain == domain
                )
            ).first()
            if row is None:
                return False
            session.delete(row)
            return True

    def latest_verdict(self, team_id: str, domain: str) -> str | None:
        with self.ctx.db.session() as session:
            row = session.exec(
                select(DomainReportRow)
                .where(DomainReportRow.team_id == team_id, DomainReportRow.domain == domain)
                .order_by(col(DomainReportRow.created_at).desc(), col(DomainReportRow.id).desc())
            ).first()
            return row.verdict if row else None

    def run_due_watches(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Re-check every watched domain that is due; returns (domain, event) for each
        notification this run sent ("passing" or "broken")."""
        now = now or utcnow()
        with self.ctx.db.session() as session:
            due = list(
                session.exec(
                    select(DomainWatch).where(
                        col(DomainWatch.next_check_at).is_not(None),
                        col(DomainWatch.next_check_at) <= now,
                    )
                )
            )
        events: list[tuple[str, str]] = []
        for watch in due:
            try:
                event = self._recheck(watch, now)
            except MailroomError as exc:
                log.warning("watch of %s failed: %s", watch.domain, exc.message)
                event = None
            except Exception:
                log.exception("watch of %s failed", watch.domain)
                event = None
            if event:
                events.append((watch.domain, event))
        return events

    def _recheck(self, watch: DomainWatch, now: datetime) -> str | None:
        result = self.check(
            watch.team_id, watch.requested_by, watch.domain, watch.selectors.split()
        )
        verdict = result.verdict
        event = None
        if verdict == "pass" and watch.last_verdict != "pass":
            event = "passing"
        elif verdict in ("warn", "fail") and watch.last_verdict == "pass":
            event = "broken"
        # Two processes that pick the same due watch share this key: one message goes out.
        due_at = watch.next_check_at.isoformat() if watch.next_check_at else ""
        if event:
            self.tell_watchers(watch, event, result, key=f"dkim-watch:{watch.id}:{event}:{due_at}")
        with self.ctx.db.session() as session:
            fresh = session.get(DomainWatch, watch.id)
            if fresh is not None:
                if verdict != "unknown":
                    # DNS trouble says nothing about the records: keep the last real verdict.
                    fresh.last_verdict = verdict
                fresh.next_check_at = now + WATCH_INTERVAL
                session.add(fresh)
        return event

    def tell_watchers(
        self, watch: DomainWatch, event: str, result: DomainCheck, *, key: str
    ) -> None:
        recipients = [watch.requested_by] if watch.requested_by else []
        if self.ctx.settings.mailroom_admin_channel:
            recipients.append(self.ctx.settings.mailroom_admin_channel)
        for recipient in recipients:
            # The person who asked reads it in their language; the admin channel in the
            # workspace language.
            language = self.ctx.languages.of(recipient) if recipient == watch.requested_by else None
            with speaking(language):
                text, blocks = watch_event_message(event, result)
            self.ctx.notifier.once(f"{key}:{recipient}", recipient, text, blocks=blocks)

    # --- /mail-status -----------------------------------------------------------------------

    def status_footer(self, team_id: str) -> list[str]:
        """``status_footer`` hook: each domain's latest verdict, and senders not tied to a
        mailbox, for admins."""
        watched = {w.domain for w in self._watches(team_id)}
        lines = [domain_footer_line(latest_verdicts(self.ctx.db, team_id), watched)]
        addresses = {m.address.lower() for m in self.ctx.mailboxes.all(team_id or None)}
        others = [
            r for r in self.verifications.rows(team_id) if r.identity.lower() not in addresses
        ]
        if others:
            lines.append(senders_footer_line(others))
        return [line for line in lines if line]

    def _watches(self, team_id: str) -> list[DomainWatch]:
        with self.ctx.db.session() as session:
            return list(session.exec(select(DomainWatch).where(DomainWatch.team_id == team_id)))


def latest_verdicts(db: Database, team_id: str) -> list[DomainReportRow]:
    """The newest DNS report of each domain of the workspace."""
    with db.session() as session:
        rows = session.exec(
            select(DomainReportRow)
            .where(DomainReportRow.team_id == team_id)
            .order_by(col(DomainReportRow.created_at).desc(), col(DomainReportRow.id).desc())
        ).all()
    latest: dict[str, DomainReportRow] = {}
    for row in rows:
        latest.setdefault(row.domain, row)
    return sorted(latest.values(), key=lambda r: r.domain)
