"""SPF: the record, its policy, SES's include and the 10-lookup limit (walked, not guessed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.resolver

from bot.domain_checks.report import (
    SES_SPF_INCLUDE,
    SPF,
    SPF_LOOKUP_LIMIT,
    SPF_WALK_CAP,
    CheckLine,
    SesDomainInfo,
    could_not_check,
    render_record_fix,
)
from providers.dns import lookup


def spf_records(records: Sequence[str]) -> list[str]:
    return [r for r in records if r.lower() == "v=spf1" or r.lower().startswith("v=spf1 ")]


def spf_terms(record: str) -> list[str]:
    return record.split()[1:]


def split_term(term: str) -> tuple[str, str, str]:
    """(qualifier, name, argument) of an SPF term; modifiers come back as name 'redirect' etc."""
    head, eq, value = term.partition("=")
    if eq and ":" not in head and "/" not in head:
        return "", head.lower(), value
    qualifier = term[0] if term[:1] in ("+", "-", "~", "?") else "+"
    body = term[1:] if term[:1] in ("+", "-", "~", "?") else term
    name, _, arg = body.partition(":")
    return qualifier, name.split("/", 1)[0].lower(), arg


@dataclass
class SpfWalk:
    """What walking the include/redirect tree found."""

    lookups: int = 0
    visited: set[str] = field(default_factory=set)
    fetched: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def walk_spf(resolver: dns.resolver.Resolver, terms: Sequence[str], walk: SpfWalk) -> None:
    """Count DNS-querying terms (RFC 7208 4.6.4), recursing into include and redirect."""
    for term in terms:
        if walk.lookups > SPF_WALK_CAP:
            return
        _, name, arg = split_term(term)
        if name in ("a", "mx", "ptr", "exists"):
            walk.lookups += 1
        elif name in ("include", "redirect"):
            walk.lookups += 1
            follow_spf(resolver, term, arg.strip().rstrip(".").lower(), walk)


def follow_spf(resolver: dns.resolver.Resolver, term: str, target: str, walk: SpfWalk) -> None:
    if not target or "%" in target:
        return  # macros expand per message; nothing to follow ahead of time
    if target in walk.visited:
        # Already counted this tree (or it is a loop); counting it once keeps us finite.
        return
    walk.visited.add(target)
    result = lookup(resolver, target, "TXT")
    if result.status == "error":
        walk.errors.append(f"{target}: {result.error}")
        return
    records = spf_records(result.records)
    if len(records) != 1:
        how = "has no SPF record" if not records else "has more than one SPF record"
        walk.problems.append(
            f"{term} points at {target}, which {how}, so receivers treat the whole SPF check "
            "as a permanent error"
        )
        return
    walk.fetched[target] = spf_terms(records[0])
    walk_spf(resolver, walk.fetched[target], walk)


def all_qualifier(
    terms: Sequence[str], walk: SpfWalk, seen: frozenset[str] = frozenset()
) -> str | None:
    """The qualifier of the final ``all``, following ``redirect=`` when there is none."""
    for term in terms:
        qualifier, name, _ = split_term(term)
        if name == "all":
            return qualifier
    for term in terms:
        _, name, arg = split_term(term)
        target = arg.strip().rstrip(".").lower()
        if name == "redirect" and target in walk.fetched and target not in seen:
            return all_qualifier(walk.fetched[target], walk, seen | {target})
    return None


def suggest_spf(terms: Sequence[str], *, need_ses: bool, qualifier: str | None) -> str:
    """The record with SES included and a sensible ``all`` (kept when already -all/~all)."""
    explicit_all = any(split_term(t)[1] == "all" for t in terms)
    body = [t for t in terms if split_term(t)[1] != "all"]
    if need_ses and SES_SPF_INCLUDE not in [t.lower().lstrip("+") for t in body]:
        modifiers = [t for t in body if split_term(t)[0] == ""]
        mechanisms = [t for t in body if t not in modifiers]
        body = [*mechanisms, SES_SPF_INCLUDE, *modifiers]
    if qualifier in ("-", "~"):
        # Fine as it is; when the all comes from redirect=, leave that chain alone.
        final = [f"{qualifier}all"] if explicit_all else []
    else:
        # An explicit all makes receivers ignore redirect=, so keep what the redirect
        # authorised by turning it into an include.
        body = [
            f"include:{split_term(t)[2]}" if split_term(t)[1] == "redirect" else t for t in body
        ]
        final = ["~all"]
    return " ".join(["v=spf1", *body, *final])


def check_spf(
    resolver: dns.resolver.Resolver, domain: str, ses: SesDomainInfo | None
) -> list[CheckLine]:
    result = lookup(resolver, domain, "TXT")
    if result.status == "error":
        return [CheckLine(SPF, domain, "unknown", could_not_check(result, domain))]
    need_ses = ses is not None and ses.sends_for_domain
    records = spf_records(result.records)
    if not records:
        return [missing_spf_line(domain, need_ses)]
    if len(records) > 1:
        return [two_spf_line(domain, records, need_ses)]
    terms = spf_terms(records[0])
    walk = SpfWalk(visited={domain})
    walk_spf(resolver, terms, walk)
    qualifier = all_qualifier(terms, walk)
    suggestion = suggest_spf(terms, need_ses=need_ses, qualifier=qualifier)
    unchanged = suggestion == " ".join(records[0].split())
    fix = None if unchanged else render_record_fix(domain, "TXT", suggestion)
    lines = [spf_policy_line(domain, qualifier, fix)]
    if need_ses:
        lines.append(spf_ses_line(domain, terms, fix))
    lines.append(spf_lookups_line(domain, walk))
    return lines


def missing_spf_line(domain: str, need_ses: bool) -> CheckLine:
    if need_ses:
        value = f"v=spf1 {SES_SPF_INCLUDE} ~all"
        extra = "Add an include: for every other service that sends as you."
    else:
        value = "v=spf1 mx ~all"
        extra = (
            "Add an include: for the service that sends your mail "
            "(include:_spf.google.com for Google Workspace, include:spf.protection.outlook.com "
            "for Microsoft 365)."
        )
    return CheckLine(
        SPF,
        domain,
        "fail",
        f"{domain} has no SPF record, so receivers cannot tell which servers may send as it. "
        f"Publish one TXT record like the one below. {extra}",
        render_record_fix(domain, "TXT", value),
    )


def two_spf_line(domain: str, records: Sequence[str], need_ses: bool) -> CheckLine:
    merged: list[str] = []
    qualifiers: list[str] = []
    for record in records:
        for term in spf_terms(record):
            qualifier, name, _ = split_term(term)
            if name == "all":
                qualifiers.append(qualifier)
            elif term not in merged:
                merged.append(term)
    qualifier = "-" if "-" in qualifiers else "~"
    suggestion = suggest_spf([*merged, f"{qualifier}all"], need_ses=need_ses, qualifier=qualifier)
    return CheckLine(
        SPF,
        domain,
        "fail",
        f"{domain} has {len(records)} SPF records; exactly one is allowed, and with more "
        "receivers treat SPF as a permanent error. Merge them into the single record below "
        "and delete the others.",
        render_record_fix(domain, "TXT", suggestion),
    )


def spf_policy_line(domain: str, qualifier: str | None, fix: str | None) -> CheckLine:
    if qualifier == "-":
        return CheckLine(
            SPF,
            domain,
            "pass",
            "The SPF record ends with -all: receivers reject mail from servers it does not list.",
        )
    if qualifier == "~":
        return CheckLine(
            SPF,
            domain,
            "pass",
            "The SPF record ends with ~all (soft fail): mail from servers it does not list is "
            "marked suspicious rather than rejected. With DMARC in place that is the usual "
            "choice; -all is stricter.",
        )
    if qualifier == "+":
        return CheckLine(
            SPF,
            domain,
            "fail",
            f"The SPF record ends with +all, which lets every server in the world send as "
            f"{domain}. Replace it with ~all as below.",
            fix,
        )
    said = "ends with ?all (neutral)" if qualifier == "?" else "has no all at the end"
    return CheckLine(
        SPF,
        domain,
        "warn",
        f"The SPF record {said}, so it says nothing about servers it does not list. "
        "End it with ~all as below.",
        fix,
    )


def spf_ses_line(domain: str, terms: Sequence[str], fix: str | None) -> CheckLine:
    if SES_SPF_INCLUDE in [t.lower().lstrip("+") for t in terms]:
        return CheckLine(
            SPF,
            domain,
            "pass",
            f"The SPF record includes amazonses.com, so mail SES sends for {domain} passes SPF.",
        )
    return CheckLine(
        SPF,
        domain,
        "fail",
        f"The SPF record does not include amazonses.com, so mail SES sends for {domain} can "
        "fail SPF. Add include:amazonses.com as below.",
        fix,
    )


def spf_lookups_line(domain: str, walk: SpfWalk) -> CheckLine:
    if walk.problems:
        return CheckLine(
            SPF,
            domain,
            "fail",
            f"In the SPF record of {domain}, {walk.problems[0]}. Fix or remove that include.",
        )
    if walk.lookups > SPF_LOOKUP_LIMIT:
        count = f"more than {SPF_WALK_CAP}" if walk.lookups > SPF_WALK_CAP else str(walk.lookups)
        return CheckLine(
            SPF,
            domain,
            "fail",
            f"The SPF record of {domain} needs {count} DNS lookups (counting nested includes); "
            f"the limit is {SPF_LOOKUP_LIMIT}, and over it receivers treat SPF as a permanent "
            "error. Remove includes you no longer use, or replace some with ip4:/ip6: ranges.",
        )
    if walk.errors:
        return CheckLine(
            SPF,
            domain,
            "unknown",
            f"Could not count the DNS lookups of the SPF record of {domain}: {walk.errors[0]}. "
            "Try again in a few minutes.",
        )
    return CheckLine(
        SPF,
        domain,
        "pass",
        f"The SPF record of {domain} needs {walk.lookups} of the {SPF_LOOKUP_LIMIT} DNS lookups allowed.",
    )
