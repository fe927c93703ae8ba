"""Amazon SES Easy DKIM: the three CNAMEs SES asks for, and whether each points right."""

from __future__ import annotations

from collections.abc import Mapping

from bot.domain_checks.report import (
    DEFAULT_SES_DKIM_ZONE,
    SES_DKIM,
    CheckLine,
    SesDomainInfo,
    could_not_check,
    render_record_fix,
)
from locales import _
from providers.dns import Lookup


def ses_dkim_name(token: str, domain: str) -> str:
    return f"{token}._domainkey.{domain}"


def ses_dkim_target(token: str, ses: SesDomainInfo) -> str:
    zone = (ses.signing_hosted_zone or DEFAULT_SES_DKIM_ZONE).strip().rstrip(".").lower()
    return f"{token}.dkim.{zone}".lower()


def judge_ses_dkim(
    domain: str, ses: SesDomainInfo, results: Mapping[str, Lookup]
) -> list[CheckLine]:
    if not ses.dkim_tokens:
        return [
            CheckLine(
                SES_DKIM,
                f"_domainkey.{domain}",
                "warn",
                _(
                    "Amazon SES has no Easy DKIM tokens for {domain} yet, so there are no records "
                    "to check. Create the domain identity in SES (or set it up again) to get them."
                ).format(domain=domain),
            )
        ]
    return [judge_ses_token(domain, token, ses, results[token]) for token in ses.dkim_tokens]


def judge_ses_token(domain: str, token: str, ses: SesDomainInfo, result: Lookup) -> CheckLine:
    name = ses_dkim_name(token, domain)
    target = ses_dkim_target(token, ses)
    fix = render_record_fix(name, "CNAME", target)
    if result.status == "error":
        return CheckLine(SES_DKIM, name, "unknown", could_not_check(result, name))
    if result.status == "missing":
        return CheckLine(
            SES_DKIM,
            name,
            "fail",
            _(
                "There is no CNAME record at {name}, so SES cannot finish verifying {domain} "
                "for Easy DKIM. Publish the record below."
            ).format(name=name, domain=domain),
            fix,
        )
    actual = result.records[0]
    if actual == target:
        return CheckLine(
            SES_DKIM,
            name,
            "pass",
            _("{name} points at {target}, as SES expects.").format(name=name, target=target),
        )
    return CheckLine(
        SES_DKIM,
        name,
        "fail",
        _(
            "{name} points at {actual}, but it must point at {target}. Change the CNAME record "
            "to the one below."
        ).format(name=name, actual=actual, target=target),
        fix,
    )
