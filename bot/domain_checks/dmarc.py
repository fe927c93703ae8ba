"""DMARC: the policy, alignment with the sending identities, and where reports go."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bot.domain_checks.dkim import parse_tag_list
from bot.domain_checks.report import (
    DMARC,
    CheckLine,
    SesDomainInfo,
    could_not_check,
    render_record_fix,
)
from locales import _, ngettext
from providers.dns import Lookup


def render_tags(tags: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{tag}={value}" for tag, value in tags)


def with_tag(tags: Sequence[tuple[str, str]], tag: str, value: str) -> list[tuple[str, str]]:
    """Tags with ``tag`` set: replaced in place, or added right after v= and p=."""
    if any(t == tag for t, _value in tags):
        return [(t, value if t == tag else v) for t, v in tags]
    head = [(t, v) for t, v in tags if t in ("v", "p")]
    rest = [(t, v) for t, v in tags if t not in ("v", "p")]
    return [*head, (tag, value), *rest]


def with_reporting(domain: str, tags: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Tags with a reporting address added when there is none (kept when there is one)."""
    if dict(tags).get("rua"):
        return list(tags)
    return with_tag(tags, "rua", f"mailto:dmarc-reports@{domain}")


def judge_dmarc(
    domain: str, result: Lookup, *, ses: SesDomainInfo | None = None
) -> list[CheckLine]:
    name = f"_dmarc.{domain}"
    if result.status == "error":
        return [CheckLine(DMARC, name, "unknown", could_not_check(result, name))]
    starter = f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"
    records = [r for r in result.records if re.match(r"^v\s*=\s*DMARC1\s*(;|$)", r.strip())]
    if not records:
        return [
            CheckLine(
                DMARC,
                name,
                "fail",
                _(
                    "{domain} has no DMARC record, so receivers have no policy for mail that "
                    "fails SPF and DKIM, and you get no reports. Publish the record below to "
                    "start with monitoring (p=none); once the reports show your own mail passes, "
                    "move to p=quarantine."
                ).format(domain=domain),
                render_record_fix(name, "TXT", starter),
            )
        ]
    if len(records) > 1:
        return [
            CheckLine(
                DMARC,
                name,
                "fail",
                ngettext(
                    "There is {n} DMARC record at {name}; receivers ignore DMARC when there is "
                    "more than one. Keep exactly one.",
                    "There are {n} DMARC records at {name}; receivers ignore DMARC when there is "
                    "more than one. Keep exactly one.",
                    len(records),
                ).format(n=len(records), name=name),
            )
        ]
    tags = parse_tag_list(records[0])
    policy = dict(tags or []).get("p", "").lower()
    if tags is None or policy not in ("none", "quarantine", "reject"):
        fixed = with_tag(tags, "p", "none") if tags else None
        return [
            CheckLine(
                DMARC,
                name,
                "fail",
                _(
                    "The DMARC record at {name} has no valid policy (p= must be none, quarantine "
                    "or reject), so receivers ignore it. Publish the record below."
                ).format(name=name),
                render_record_fix(name, "TXT", render_tags(fixed) if fixed else starter),
            )
        ]
    return [
        dmarc_policy_line(domain, name, tags, policy, ses),
        dmarc_reports_line(domain, name, tags),
    ]


def dmarc_policy_line(
    domain: str, name: str, tags: list[tuple[str, str]], policy: str, ses: SesDomainInfo | None
) -> CheckLine:
    # Each sentence is a message of its own; the line is those sentences in a row.
    note = alignment_note(domain, dict(tags), ses)
    pct = dict(tags).get("pct", "100")
    if policy == "none":
        said = _(
            "The DMARC policy is p=none: it only monitors, and mail that fails the checks is "
            "delivered as usual. Once the reports show your own mail passes, move to "
            "p=quarantine as below."
        )
        return CheckLine(
            DMARC,
            name,
            "warn",
            f"{said} {note}",
            render_record_fix(
                name, "TXT", render_tags(with_reporting(domain, with_tag(tags, "p", "quarantine")))
            ),
        )
    if policy == "quarantine":
        said = _(
            "The DMARC policy is p=quarantine: receivers quarantine (usually the spam folder) "
            "mail that fails SPF and DKIM alignment."
        )
    else:
        said = _(
            "The DMARC policy is p=reject: receivers reject mail that fails SPF and DKIM alignment."
        )
    if pct != "100":
        partial = _("It applies to only {percent} of failing mail (pct={pct}).").format(
            percent=f"{pct}%", pct=pct
        )
        said = f"{said} {partial}"
    return CheckLine(DMARC, name, "pass", f"{said} {note}")


def alignment_note(domain: str, tags: Mapping[str, str], ses: SesDomainInfo | None) -> str:
    """Two sentences: the alignment modes, then what a DKIM signature aligns with."""
    dkim_strict = tags.get("adkim", "r").lower() == "s"
    spf_strict = tags.get("aspf", "r").lower() == "s"
    if dkim_strict and spf_strict:
        modes = _("Alignment: DKIM is strict (adkim=s) and SPF is strict (aspf=s).")
    elif dkim_strict:
        modes = _("Alignment: DKIM is strict (adkim=s) and SPF is relaxed (aspf=r).")
    elif spf_strict:
        modes = _("Alignment: DKIM is relaxed (adkim=r) and SPF is strict (aspf=s).")
    else:
        modes = _("Alignment: DKIM is relaxed (adkim=r) and SPF is relaxed (aspf=r).")
    if ses is not None and dkim_strict:
        signed = _(
            "Mail that Amazon SES signs with Easy DKIM for {domain} carries d={domain}, so it "
            "aligns when the From address is at exactly that domain."
        )
    elif ses is not None:
        signed = _(
            "Mail that Amazon SES signs with Easy DKIM for {domain} carries d={domain}, so it "
            "aligns when the From address is at {domain} or a subdomain."
        )
    elif dkim_strict:
        signed = _(
            "Mail that is signed with a DKIM key for {domain} carries d={domain}, so it aligns "
            "when the From address is at exactly that domain."
        )
    else:
        signed = _(
            "Mail that is signed with a DKIM key for {domain} carries d={domain}, so it aligns "
            "when the From address is at {domain} or a subdomain."
        )
    return f"{modes} {signed.format(domain=domain)}"


def dmarc_reports_line(domain: str, name: str, tags: list[tuple[str, str]]) -> CheckLine:
    rua = dict(tags).get("rua", "")
    if rua:
        return CheckLine(
            DMARC, name, "pass", _("DMARC aggregate reports go to {rua}.").format(rua=rua)
        )
    return CheckLine(
        DMARC,
        name,
        "warn",
        _(
            "The DMARC record has no reporting address (rua=), so you never see who sends mail "
            "as {domain} or whether it passes. Add one as below."
        ).format(domain=domain),
        render_record_fix(name, "TXT", render_tags(with_reporting(domain, tags))),
    )
