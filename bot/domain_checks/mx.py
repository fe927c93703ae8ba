"""MX of the domain, and the MX + SPF of an SES custom MAIL FROM domain."""

from __future__ import annotations

from bot.domain_checks.report import (
    MAIL_FROM,
    MX,
    SES_SPF_INCLUDE,
    CheckLine,
    could_not_check,
    render_record_fix,
)
from bot.domain_checks.spf import spf_records, spf_terms
from locales import _, ngettext
from providers.dns import Lookup


def judge_mx(domain: str, result: Lookup) -> list[CheckLine]:
    if result.status == "error":
        return [CheckLine(MX, domain, "unknown", could_not_check(result, domain))]
    if result.status == "missing":
        return [
            CheckLine(
                MX,
                domain,
                "fail",
                _(
                    "{domain} has no MX record, so replies to mail sent as {domain} would bounce. "
                    "Publish the MX records your mailbox provider gives you (for Google Workspace "
                    "'{domain}. MX 1 smtp.google.com.'; for Microsoft 365 the "
                    "<name>.mail.protection.outlook.com host shown in the admin center)."
                ).format(domain=domain),
            )
        ]
    hosts = sorted((int(pref), host) for pref, host in (r.split(None, 1) for r in result.records))
    if hosts == [(0, ".")]:
        return [
            CheckLine(
                MX,
                domain,
                "fail",
                _(
                    "{domain} publishes a null MX ('0 .'), which declares it accepts no mail, so "
                    "replies would bounce. Replace it with your mailbox provider's MX records."
                ).format(domain=domain),
            )
        ]
    listed = ", ".join(f"{host} ({pref})" for pref, host in hosts)
    return [
        CheckLine(
            MX,
            domain,
            "pass",
            _("Mail for {domain} is delivered to {hosts}.").format(domain=domain, hosts=listed),
        )
    ]


def judge_mail_from(mail_from: str, region: str, mx: Lookup, txt: Lookup) -> list[CheckLine]:
    return [mail_from_mx_line(mail_from, region, mx), mail_from_spf_line(mail_from, txt)]


def mail_from_mx_line(mail_from: str, region: str, result: Lookup) -> CheckLine:
    host = f"feedback-smtp.{region}.amazonses.com"
    fix = render_record_fix(mail_from, "MX", f"10 {host}")
    if result.status == "error":
        return CheckLine(MAIL_FROM, mail_from, "unknown", could_not_check(result, mail_from))
    if result.status == "missing":
        return CheckLine(
            MAIL_FROM,
            mail_from,
            "fail",
            _(
                "The custom MAIL FROM domain {mail_from} has no MX record, so SES falls back to "
                "amazonses.com (or refuses to send, depending on its setting). Publish the "
                "record below."
            ).format(mail_from=mail_from),
            fix,
        )
    exchanges = [r.split(None, 1)[1] for r in result.records]
    if host in exchanges:
        return CheckLine(
            MAIL_FROM,
            mail_from,
            "pass",
            _("{mail_from} sends bounces to {host}, as SES expects.").format(
                mail_from=mail_from, host=host
            ),
        )
    return CheckLine(
        MAIL_FROM,
        mail_from,
        "fail",
        _(
            "The MX record of {mail_from} points at {exchanges}, but it must point at "
            "{host} for SES in {region}. Publish the record below instead."
        ).format(mail_from=mail_from, exchanges=", ".join(exchanges), host=host, region=region),
        fix,
    )


def mail_from_spf_line(mail_from: str, result: Lookup) -> CheckLine:
    fix = render_record_fix(mail_from, "TXT", f"v=spf1 {SES_SPF_INCLUDE} ~all")
    if result.status == "error":
        return CheckLine(MAIL_FROM, mail_from, "unknown", could_not_check(result, mail_from))
    records = spf_records(result.records)
    if len(records) == 1 and SES_SPF_INCLUDE in [
        t.lower().lstrip("+") for t in spf_terms(records[0])
    ]:
        return CheckLine(
            MAIL_FROM,
            mail_from,
            "pass",
            _("The SPF record of {mail_from} includes amazonses.com.").format(mail_from=mail_from),
        )
    if not records:
        detail = _(
            "For the custom MAIL FROM domain, {mail_from} has no SPF record, so mail SES sends "
            "fails SPF there. Publish the record below."
        ).format(mail_from=mail_from)
    elif len(records) > 1:
        detail = ngettext(
            "For the custom MAIL FROM domain, {mail_from} has {n} SPF record (exactly one is "
            "allowed), so mail SES sends fails SPF there. Publish the record below.",
            "For the custom MAIL FROM domain, {mail_from} has {n} SPF records (exactly one is "
            "allowed), so mail SES sends fails SPF there. Publish the record below.",
            len(records),
        ).format(mail_from=mail_from, n=len(records))
    else:
        detail = _(
            "For the custom MAIL FROM domain, the SPF record of {mail_from} does not include "
            "amazonses.com, so mail SES sends fails SPF there. Publish the record below."
        ).format(mail_from=mail_from)
    return CheckLine(MAIL_FROM, mail_from, "fail", detail, fix)
