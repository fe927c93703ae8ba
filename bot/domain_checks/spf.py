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
from locales import _, ngettext
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
    name, _colon, arg = body.partition(":")
    return qualifier, name.split("/", 1)[0].lower(), arg


@dataclass
class SpfWalk:
    """What walking the include/redirect tree found."""

    lookups: int = 0
    visited: set[str] = field(default_factory=set)
    fetched: dict[str, list[str]] = field(default_factory=dict)
    # (the include/redirect term, its target, how many SPF records the target has: 0 or 2+)
    problems: list[tuple[str, str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def walk_spf(resolver: dns.resolver.Resolver, terms: Sequence[str], walk: SpfWalk) -> None:
    """Count DNS-querying terms (RFC 7208 4.6.4), recursing into include and redirect."""
    for term in terms:
        if walk.lookups > SPF_WALK_CAP:
            return
        _qualifier, name, arg = split_term(term)
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
        walk.problems.append((term, target, len(records)))
        return
    walk.fetched[target] = spf_terms(records[0])
    walk_spf(resolver, walk.fetched[target], walk)


def all_qualifier(
    terms: Sequence[str], walk: SpfWalk, seen: frozenset[str] = frozenset()
) -> str | None:
    """The qualifier of the final ``all``, following ``redirect=`` when there is none."""
    for term in terms:
        qualifier, name, _arg = split_term(term)
        if name == "all":
            return qualifier
    for term in terms:
        _qualifier, name, arg = split_term(term)
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
        detail = _(
            "{domain} has no SPF record, so receivers cannot tell which servers may send as it. "
            "Publish one TXT record like the one below. Add an include: for every other service "
            "that sends as you."
        )
    else:
        value = "v=spf1 mx ~all"
        detail = _(
            "{domain} has no SPF record, so receivers cannot tell which servers may send as it. "
            "Publish one TXT record like the one below. Add an include: for the service that "
            "sends your mail (include:_spf.google.com for Google Workspace, "
            "include:spf.protection.outlook.com for Microsoft 365)."
        )
    return CheckLine(
        SPF,
        domain,
        "fail",
        detail.format(domain=domain),
        render_record_fix(domain, "TXT", value),
    )


def two_spf_line(domain: str, records: Sequence[str], need_ses: bool) -> CheckLine:
    merged: list[str] = []
    qualifiers: list[str] = []
    for record in records:
        for term in spf_terms(record):
            qualifier, name, _arg = split_term(term)
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
        ngettext(
            "{domain} has {n} SPF record; exactly one is allowed, and with more receivers treat "
            "SPF as a permanent error. Merge them into the single record below and delete the "
            "others.",
            "{domain} has {n} SPF records; exactly one is allowed, and with more receivers treat "
            "SPF as a permanent error. Merge them into the single record below and delete the "
            "others.",
            len(records),
        ).format(domain=domain, n=len(records)),
        render_record_fix(domain, "TXT", suggestion),
    )


def spf_policy_line(domain: str, qualifier: str | None, fix: str | None) -> CheckLine:
    if qualifier == "-":
        return CheckLine(
            SPF,
            domain,
            "pass",
            _(
                "The SPF record ends with -all: receivers reject mail from servers it does not "
                "list."
            ),
        )
    if qualifier == "~":
        return CheckLine(
            SPF,
            domain,
            "pass",
            _(
                "The SPF record ends with ~all (soft fail): mail from servers it does not list is "
                "marked suspicious rather than rejected. With DMARC in place that is the usual "
                "choice; -all is stricter."
            ),
        )
    if qualifier == "+":
        return CheckLine(
            SPF,
            domain,
            "fail",
            _(
                "The SPF record ends with +all, which lets every server in the world send as "
                "{domain}. Replace it with ~all as below."
            ).format(domain=domain),
            fix,
        )
    if qualifier == "?":
        detail = _(
            "The SPF record ends with ?all (neutral), so it says nothing about servers it does "
            "not list. End it with ~all as below."
        )
    else:
        detail = _(
            "The SPF record has no all at the end, so it says nothing about servers it does not "
            "list. End it with ~all as below."
        )
    return CheckLine(SPF, domain, "warn", detail, fix)


def spf_ses_line(domain: str, terms: Sequence[str], fix: str | None) -> CheckLine:
    if SES_SPF_INCLUDE in [t.lower().lstrip("+") for t in terms]:
        return CheckLine(
            SPF,
            domain,
            "pass",
            _(
                "The SPF record includes amazonses.com, so mail SES sends for {domain} passes SPF."
            ).format(domain=domain),
        )
    return CheckLine(
        SPF,
        domain,
        "fail",
        _(
            "The SPF record does not include amazonses.com, so mail SES sends for {domain} can "
            "fail SPF. Add include:amazonses.com as below."
        ).format(domain=domain),
        fix,
    )


def spf_lookups_line(domain: str, walk: SpfWalk) -> CheckLine:
    if walk.problems:
        term, target, found = walk.problems[0]
        if found == 0:
            detail = _(
                "In the SPF record of {domain}, {term} points at {target}, which has no SPF "
                "record, so receivers treat the whole SPF check as a permanent error. Fix or "
                "remove that include."
            )
        else:
            detail = _(
                "In the SPF record of {domain}, {term} points at {target}, which has more than "
                "one SPF record, so receivers treat the whole SPF check as a permanent error. "
                "Fix or remove that include."
            )
        return CheckLine(
            SPF, domain, "fail", detail.format(domain=domain, term=term, target=target)
        )
    if walk.lookups > SPF_LOOKUP_LIMIT:
        if walk.lookups > SPF_WALK_CAP:
            detail = _(
                "The SPF record of {domain} needs more than {cap} DNS lookups (counting nested "
                "includes); the limit is {limit}, and over it receivers treat SPF as a permanent "
                "error. Remove includes you no longer use, or replace some with ip4:/ip6: ranges."
            ).format(domain=domain, cap=SPF_WALK_CAP, limit=SPF_LOOKUP_LIMIT)
        else:
            detail = ngettext(
                "The SPF record of {domain} needs {n} DNS lookup (counting nested includes); "
                "the limit is {limit}, and over it receivers treat SPF as a permanent error. "
                "Remove includes you no longer use, or replace some with ip4:/ip6: ranges.",
                "The SPF record of {domain} needs {n} DNS lookups (counting nested includes); "
                "the limit is {limit}, and over it receivers treat SPF as a permanent error. "
                "Remove includes you no longer use, or replace some with ip4:/ip6: ranges.",
                walk.lookups,
            ).format(domain=domain, n=walk.lookups, limit=SPF_LOOKUP_LIMIT)
        return CheckLine(SPF, domain, "fail", detail)
    if walk.errors:
        return CheckLine(
            SPF,
            domain,
            "unknown",
            _(
                "Could not count the DNS lookups of the SPF record of {domain}: {error}. "
                "Try again in a few minutes."
            ).format(domain=domain, error=walk.errors[0]),
        )
    return CheckLine(
        SPF,
        domain,
        "pass",
        _("The SPF record of {domain} needs {n} of the {limit} DNS lookups allowed.").format(
            domain=domain, n=walk.lookups, limit=SPF_LOOKUP_LIMIT
        ),
    )
