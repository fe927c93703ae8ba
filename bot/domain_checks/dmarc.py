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
from providers.dns import Lookup


def render_tags(tags: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{tag}={value}" for tag, value in tags)


def with_tag(tags: Sequence[tuple[str, str]], tag: str, value: str) -> list[tuple[str, str]]:
    """Tags with ``tag`` set: replaced in place, or added right after v= and p=."""
    if any(t == tag for t, _ in tags):
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
                f"{domain} has no DMARC record, so receivers have no policy for mail that fails "
                "SPF and DKIM, and you get no reports. Publish the record below to start with "
                "monitoring (p=none); once the reports show your own mail passes, move to "
                "p=quarantine.",
                render_record_fix(name, "TXT", starter),
            )
        ]
    if len(records) > 1:
        return [
            CheckLine(
                DMARC,
                name,
                "fail",
                f"There are {len(records)} DMARC records at {name}; receivers ignore DMARC when "
                "there is more than one. Keep exactly one.",
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
                f"The DMARC record at {name} has no valid policy (p= must be none, quarantine "
                "or reject), so receivers ignore it. Publish the record below.",
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
    note = alignment_note(domain, dict(tags), ses)
    pct = dict(tags).get("pct", "100")
    partial = f" It applies to only {pct}% of failing mail (pct={pct})." if pct != "100" else ""
    if policy == "none":
        return CheckLine(
            DMARC,
            name,
            "warn",
            f"The DMARC policy is p=none: it only monitors, and mail that fails the checks is "
            f"delivered as usual. Once the reports show your own mail passes, move to "
            f"p=quarantine as below. {note}",
            render_record_fix(
                name, "TXT", render_tags(with_reporting(domain, with_tag(tags, "p", "quarantine")))
            ),
        )
    effect = "quarantine (usually the spam folder)" if policy == "quarantine" else "reject"
    return CheckLine(
        DMARC,
        name,
        "pass",
        f"The DMARC policy is p={policy}: receivers {effect} mail that fails SPF and DKIM "
        f"alignment.{partial} {note}",
    )


def alignment_note(domain: str, tags: Mapping[str, str], ses: SesDomainInfo | None) -> str:
    def mode(tag: str) -> str:
        return "strict" if tags.get(tag, "r").lower() == "s" else "relaxed"

    dkim_mode, spf_mode = mode("adkim"), mode("aspf")
    signer = "Amazon SES signs with Easy DKIM" if ses is not None else "is signed with a DKIM key"
    scope = "exactly that domain" if dkim_mode == "strict" else f"{domain} or a subdomain"
    return (
        f"Alignment: DKIM is {dkim_mode} (adkim={dkim_mode[0]}) and SPF is {spf_mode} "
        f"(aspf={spf_mode[0]}). Mail that {signer} for {domain} carries d={domain}, so it "
        f"aligns when the From address is at {scope}."
    )


def dmarc_reports_line(domain: str, name: str, tags: list[tuple[str, str]]) -> CheckLine:
    rua = dict(tags).get("rua", "")
    if rua:
        return CheckLine(DMARC, name, "pass", f"DMARC aggregate reports go to {rua}.")
    return CheckLine(
        DMARC,
        name,
        "warn",
        "The DMARC record has no reporting address (rua=), so you never see who sends mail "
        f"as {domain} or whether it passes. Add one as below.",
        render_record_fix(name, "TXT", render_tags(with_reporting(domain, tags))),
    )
