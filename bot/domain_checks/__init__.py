"""Domain authentication checks (SES Easy DKIM, DKIM, SPF, DMARC, MX, MAIL FROM).

Pure logic over a dnspython resolver: ``check_domain`` asks the DNS and returns a
``DomainReport`` whose lines each say what was found, in a plain sentence, and, when
something must change, the exact record to publish in zone-file form.

Ground rules:
- A DNS failure (timeout, SERVFAIL) makes a line "unknown" ("could not check: ..."), never
  "fail": telling an admin a correct record is missing because their DNS was slow would send
  them to "fix" something that works.
- Lookups run concurrently, so a domain whose DNS does not answer costs about one timeout,
  not one per record (there are ~20 DKIM selectors, SPF includes, and so on).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from datetime import UTC, datetime

import dns.resolver

from bot.domain_checks.dkim import judge_dkim
from bot.domain_checks.dmarc import judge_dmarc
from bot.domain_checks.mx import judge_mail_from, judge_mx
from bot.domain_checks.report import (
    DEFAULT_SELECTORS,
    DKIM,
    DMARC,
    MAIL_FROM,
    MAX_LOOKUP_THREADS,
    MX,
    SES_DKIM,
    SPF,
    CheckLine,
    DomainReport,
    SesDomainInfo,
    normalise_domain,
    render_record_fix,
)
from bot.domain_checks.ses_dkim import judge_ses_dkim, ses_dkim_name, ses_dkim_target
from bot.domain_checks.spf import check_spf
from locales import ContextExecutor
from providers.dns import Lookup, lookup

__all__ = [
    "DEFAULT_SELECTORS",
    "DKIM",
    "DMARC",
    "MAIL_FROM",
    "MX",
    "SES_DKIM",
    "SPF",
    "CheckLine",
    "DomainReport",
    "SesDomainInfo",
    "check_domain",
    "normalise_domain",
    "render_record_fix",
    "ses_dkim_name",
    "ses_dkim_target",
]


def check_domain(
    domain: str,
    *,
    resolver: dns.resolver.Resolver,
    selectors: Sequence[str] = (),
    ses: SesDomainInfo | None = None,
) -> DomainReport:
    """Run every check for ``domain`` and return the report (lines in a stable order)."""
    domain = normalise_domain(domain)
    explicit = [s.strip().lower().rstrip(".") for s in selectors if s.strip()]
    selector_list = explicit or list(DEFAULT_SELECTORS)

    tokens = list(ses.dkim_tokens) if ses else []
    # One thread per lookup, so a DNS server that never answers costs one timeout in all.
    # The threads run in this context, so the SPF lines are written in the reader's language.
    workers = min(MAX_LOOKUP_THREADS, len(selector_list) + len(tokens) + 5)
    with ContextExecutor(max_workers=workers, thread_name_prefix="dns") as pool:

        def ask(name: str, rdtype: str) -> Future[Lookup]:
            return pool.submit(lookup, resolver, name, rdtype)

        ses_asks = {t: ask(ses_dkim_name(t, domain), "CNAME") for t in tokens}
        dkim_asks = {s: ask(f"{s}._domainkey.{domain}", "TXT") for s in selector_list}
        spf_job = pool.submit(check_spf, resolver, domain, ses)
        dmarc_ask = ask(f"_dmarc.{domain}", "TXT")
        mx_ask = ask(domain, "MX")
        mail_from = (
            ses.mail_from_domain.strip().rstrip(".").lower()
            if ses and ses.mail_from_domain
            else None
        )
        mail_from_asks = (ask(mail_from, "MX"), ask(mail_from, "TXT")) if mail_from else None

        lines: list[CheckLine] = []
        if ses is not None:
            lines += judge_ses_dkim(domain, ses, {t: f.result() for t, f in ses_asks.items()})
        ses_dkim_passes = (
            ses is not None and bool(tokens) and all(line.status == "pass" for line in lines)
        )
        lines += judge_dkim(
            domain,
            {s: f.result() for s, f in dkim_asks.items()},
            explicit=bool(explicit),
            ses_dkim_passes=ses_dkim_passes,
        )
        lines += spf_job.result()
        lines += judge_dmarc(domain, dmarc_ask.result(), ses=ses)
        lines += judge_mx(domain, mx_ask.result())
        if ses is not None and mail_from and mail_from_asks:
            lines += judge_mail_from(mail_from, ses.region, *(f.result() for f in mail_from_asks))
    return DomainReport(domain=domain, lines=lines, checked_at=datetime.now(UTC))
