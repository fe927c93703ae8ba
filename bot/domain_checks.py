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

import base64
import binascii
import contextlib
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import dns.resolver
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from providers.dns import Lookup, lookup
from providers.errors import UserError

Status = Literal["pass", "warn", "fail", "unknown"]

SES_DKIM = "SES DKIM"
DKIM = "DKIM"
SPF = "SPF"
DMARC = "DMARC"
MX = "MX"
MAIL_FROM = "MAIL FROM"

# Selectors tried when the admin does not name theirs. A selector is just a label the
# sending service picks, so there is no way to list a domain's keys; these are the ones the
# common services publish by default. All are looked up in parallel, so the list is cheap.
DEFAULT_SELECTORS: tuple[str, ...] = (
    "google",  # Google Workspace
    "selector1",  # Microsoft 365 (both selectors are published; one is active at a time)
    "selector2",
    "default",  # cPanel/Plesk hosting, many self-hosted setups (OpenDKIM's example)
    "dkim",  # generic
    "mail",  # generic
    "smtp",  # generic
    "k1",  # Mailchimp
    "k2",
    "s1",  # SendGrid
    "s2",
    "mandrill",  # Mailchimp Transactional (Mandrill)
    "everlytickey1",  # Everlytic
    "everlytickey2",
    "zoho",  # Zoho Mail's suggested selector
    "protonmail",  # Proton Mail
    "fm1",  # Fastmail
)

SPF_LOOKUP_LIMIT = 10
# Stop walking nested includes past this many lookups: the verdict (fail) is already known
# and a hostile or broken chain must not make us query the DNS forever.
SPF_WALK_CAP = 40
SES_SPF_INCLUDE = "include:amazonses.com"
DEFAULT_SES_DKIM_ZONE = "amazonses.com"
STATUS_ORDER: tuple[Status, ...] = ("fail", "unknown", "warn", "pass")
MAX_LOOKUP_THREADS = 64

DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
)
TAG_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass
class CheckLine:
    """One finding: ``fix`` is the exact record to publish (zone-file form), when known."""

    check: str
    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class DomainReport:
    domain: str
    lines: list[CheckLine]
    checked_at: datetime

    @property
    def verdict(self) -> Status:
        statuses = {line.status for line in self.lines}
        for status in STATUS_ORDER:
            if status in statuses:
                return status
        return "pass"

    def lines_for(self, check: str) -> list[CheckLine]:
        return [line for line in self.lines if line.check == check]

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "checked_at": self.checked_at.isoformat(),
            "verdict": self.verdict,  # stored for convenience; from_dict recomputes it
            "lines": [asdict(line) for line in self.lines],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainReport:
        return cls(
            domain=data["domain"],
            lines=[CheckLine(**line) for line in data["lines"]],
            checked_at=datetime.fromisoformat(data["checked_at"]),
        )


@dataclass
class SesDomainInfo:
    """What SES knows about the domain identity, as far as the DNS checks need it."""

    dkim_tokens: list[str]
    signing_hosted_zone: str | None = None
    sends_for_domain: bool = True
    mail_from_domain: str | None = None
    region: str = "us-east-1"

    @classmethod
    def from_identity(
        cls, state: Any, region: str, *, sends_for_domain: bool = True
    ) -> SesDomainInfo:
        """From a ``providers.ses.IdentityState`` (duck-typed: this module stays SES-free)."""
        return cls(
            dkim_tokens=list(state.dkim_tokens),
            signing_hosted_zone=state.signing_hosted_zone,
            sends_for_domain=sends_for_domain,
            mail_from_domain=state.mail_from_domain,
            region=region,
        )


# ---------------------------------------------------------------------------- rendering


def fqdn(name: str) -> str:
    return name.rstrip(".") + "."


def quote_txt(value: str) -> str:
    """A TXT value as zone-file character-strings (each at most 255 bytes)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def render_record_fix(name: str, rtype: str, value: str) -> str:
    """``name. TYPE value`` as one would paste it into a zone file."""
    if rtype == "TXT":
        value = quote_txt(value)
    elif rtype == "CNAME":
        value = fqdn(value)
    elif rtype == "MX":
        preference, host = value.split(None, 1)
        value = f"{preference} {fqdn(host)}"
    return f"{fqdn(name)} {rtype} {value}"


def could_not_check(result: Lookup, name: str) -> str:
    return (
        f"Could not check {name}: {result.error}. This says nothing about the record itself; "
        "try again in a few minutes, and if it keeps happening check that the domain's DNS "
        "servers are up."
    )


def normalise_domain(domain: str) -> str:
    """Lowercase, no trailing dot, IDNA-encoded; accepts an address and takes its domain."""
    text = domain.strip().rstrip(".").lower()
    text = text.rsplit("@", 1)[-1]
    # A name IDNA cannot encode stays as it is; the regex below rejects it readably.
    with contextlib.suppress(UnicodeError):
        text = text.encode("idna").decode("ascii")
    if not DOMAIN_RE.match(text):
        raise UserError(
            f"{domain.strip()!r} is not a domain name; give one like example.com.", field="domain"
        )
    return text


# ---------------------------------------------------------------------------- orchestration


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
    workers = min(MAX_LOOKUP_THREADS, len(selector_list) + len(tokens) + 5)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dns") as pool:

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


# ---------------------------------------------------------------------------- SES Easy DKIM


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
                f"Amazon SES has no Easy DKIM tokens for {domain} yet, so there are no records to "
                "check. Create the domain identity in SES (or set it up again) to get them.",
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
            f"There is no CNAME record at {name}, so SES cannot finish verifying {domain} "
            "for Easy DKIM. Publish the record below.",
            fix,
        )
    actual = result.records[0]
    if actual == target:
        return CheckLine(SES_DKIM, name, "pass", f"{name} points at {target}, as SES expects.")
    return CheckLine(
        SES_DKIM,
        name,
        "fail",
        f"{name} points at {actual}, but it must point at {target}. Change the CNAME record "
        "to the one below.",
        fix,
    )


# ---------------------------------------------------------------------------- DKIM


def judge_dkim(
    domain: str, results: Mapping[str, Lookup], *, explicit: bool, ses_dkim_passes: bool
) -> list[CheckLine]:
    if explicit:
        return [judge_selector(domain, selector, result) for selector, result in results.items()]
    found = [
        judge_dkim_record(domain, sel, result.records)
        for sel, result in results.items()
        if result.status == "ok"
    ]
    if found:
        return found
    name = f"_domainkey.{domain}"
    tried = ", ".join(results)
    if ses_dkim_passes:
        return [
            CheckLine(
                DKIM,
                name,
                "pass",
                f"No other DKIM key was found at the usual selectors ({tried}). That is fine: "
                f"SES signs mail for {domain} with Easy DKIM, checked above.",
            )
        ]
    errors = [result for result in results.values() if result.status == "error"]
    if errors:
        return [
            CheckLine(
                DKIM, name, "unknown", could_not_check(errors[0], f"the DKIM selectors of {domain}")
            )
        ]
    return [
        CheckLine(
            DKIM,
            name,
            "fail",
            f"No DKIM key was found at the usual selectors ({tried}), so receivers cannot "
            f"confirm mail from {domain} is genuine. Turn on DKIM in your mail provider and "
            "publish the TXT record it gives you; if it uses another selector, check that "
            "selector by name.",
        )
    ]


def judge_selector(domain: str, selector: str, result: Lookup) -> CheckLine:
    name = f"{selector}._domainkey.{domain}"
    if result.status == "error":
        return CheckLine(DKIM, name, "unknown", could_not_check(result, name))
    if result.status == "missing":
        return CheckLine(
            DKIM,
            name,
            "fail",
            f"There is no DKIM record at {name}. Publish the TXT record your mail provider "
            f"gives you for the selector {selector!r}.",
        )
    return judge_dkim_record(domain, selector, result.records)


def judge_dkim_record(domain: str, selector: str, records: Sequence[str]) -> CheckLine:
    name = f"{selector}._domainkey.{domain}"

    def line(status: Status, detail: str) -> CheckLine:
        return CheckLine(DKIM, name, status, detail)

    if len(records) > 1:
        return line(
            "fail",
            f"There are {len(records)} TXT records at {name}; a DKIM selector must hold exactly "
            "one, or receivers may pick the wrong key. Remove all but the current key.",
        )
    tags = parse_tag_list(records[0])
    if tags is None:
        return line(
            "fail",
            f"The record at {name} is not valid DKIM syntax (tags must be name=value pairs "
            "separated by ';'). Publish the record exactly as your mail provider gives it.",
        )
    problem = dkim_tag_problem(tags, name)
    if problem:
        return line("fail", problem)
    values = dict(tags)
    key_type = values.get("k", "rsa").lower()
    key_text = values["p"]
    if not key_text:
        return line(
            "fail",
            f"The DKIM key at {name} is revoked (its p= tag is empty), so mail signed with this "
            "selector fails DKIM. Publish the current key from your mail provider, or stop "
            "signing with this selector.",
        )
    try:
        key_bytes = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError):
        return line(
            "fail",
            f"The p= key at {name} is not valid base64, so receivers cannot read it. Copy the "
            "key again from your mail provider; it often gets cut or gains stray characters.",
        )
    if key_type == "ed25519":
        return judge_ed25519(name, key_bytes)
    return judge_rsa(name, key_bytes)


def dkim_tag_problem(tags: list[tuple[str, str]], name: str) -> str | None:
    """The first structural problem of a DKIM key record, as a sentence, or None."""
    values = dict(tags)
    if "v" in values and (tags[0][0] != "v" or values["v"] != "DKIM1"):
        return (
            f"The DKIM record at {name} has v={values['v']} not as its first tag; when v= is "
            "present it must be first and read v=DKIM1. Publish the record as your mail "
            "provider gives it."
        )
    key_type = values.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        return (
            f"The DKIM record at {name} uses the key type k={key_type}, which receivers do not "
            "support. Use an RSA (k=rsa) or Ed25519 (k=ed25519) key."
        )
    if "p" not in values:
        return (
            f"The DKIM record at {name} has no p= tag, so it holds no key. Publish the record "
            "exactly as your mail provider gives it."
        )
    return None


def judge_rsa(name: str, key_bytes: bytes) -> CheckLine:
    try:
        key = load_der_public_key(key_bytes)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, rsa.RSAPublicKey):
        return CheckLine(
            DKIM,
            name,
            "fail",
            f"The p= value at {name} is not an RSA public key, so receivers cannot verify "
            "signatures. Copy the key again from your mail provider.",
        )
    bits = key.key_size
    if bits < 1024:
        return CheckLine(
            DKIM,
            name,
            "fail",
            f"The DKIM key at {name} is a {bits}-bit RSA key; receivers ignore keys under "
            "1024 bits, so mail signed with it fails DKIM. Generate a 2048-bit key with your "
            "mail provider and publish it.",
        )
    if bits < 2048:
        return CheckLine(
            DKIM,
            name,
            "warn",
            f"The DKIM key at {name} is a {bits}-bit RSA key. It works today but is weak; "
            "generate a 2048-bit key with your mail provider and publish it.",
        )
    return CheckLine(DKIM, name, "pass", f"The DKIM key at {name} is a {bits}-bit RSA key.")


def judge_ed25519(name: str, key_bytes: bytes) -> CheckLine:
    if len(key_bytes) != 32:
        return CheckLine(
            DKIM,
            name,
            "fail",
            f"The Ed25519 key at {name} is {len(key_bytes)} bytes long instead of 32, so "
            "receivers cannot use it. Copy the key again from your mail provider.",
        )
    return CheckLine(
        DKIM,
        name,
        "pass",
        f"The DKIM key at {name} is an Ed25519 key. Not every receiver checks Ed25519 yet, so "
        "keep an RSA key at another selector as well.",
    )


def parse_tag_list(text: str) -> list[tuple[str, str]] | None:
    """DKIM/DMARC ``tag=value;`` lists (RFC 6376 3.2); None when malformed or duplicated."""
    tags: list[tuple[str, str]] = []
    for part in text.split(";"):
        if not part.strip():
            continue  # a trailing ';' is allowed
        tag, sep, value = part.partition("=")
        tag = tag.strip()
        if not sep or not TAG_NAME_RE.match(tag) or tag in dict(tags):
            return None
        # Folding whitespace inside values (long keys split over lines) is not part of them.
        value = re.sub(r"\s+", "", value) if tag == "p" else value.strip()
        tags.append((tag, value))
    return tags


# ---------------------------------------------------------------------------- SPF


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


# ---------------------------------------------------------------------------- DMARC


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


# ---------------------------------------------------------------------------- MX


def judge_mx(domain: str, result: Lookup) -> list[CheckLine]:
    if result.status == "error":
        return [CheckLine(MX, domain, "unknown", could_not_check(result, domain))]
    if result.status == "missing":
        return [
            CheckLine(
                MX,
                domain,
                "fail",
                f"{domain} has no MX record, so replies to mail sent as {domain} would bounce. "
                "Publish the MX records your mailbox provider gives you (for Google Workspace "
                f"'{domain}. MX 1 smtp.google.com.'; for Microsoft 365 the "
                "<name>.mail.protection.outlook.com host shown in the admin center).",
            )
        ]
    hosts = sorted((int(pref), host) for pref, host in (r.split(None, 1) for r in result.records))
    if hosts == [(0, ".")]:
        return [
            CheckLine(
                MX,
                domain,
                "fail",
                f"{domain} publishes a null MX ('0 .'), which declares it accepts no mail, so "
                "replies would bounce. Replace it with your mailbox provider's MX records.",
            )
        ]
    listed = ", ".join(f"{host} ({pref})" for pref, host in hosts)
    return [CheckLine(MX, domain, "pass", f"Mail for {domain} is delivered to {listed}.")]


# ---------------------------------------------------------------------------- MAIL FROM


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
            f"The custom MAIL FROM domain {mail_from} has no MX record, so SES falls back to "
            "amazonses.com (or refuses to send, depending on its setting). Publish the record below.",
            fix,
        )
    exchanges = [r.split(None, 1)[1] for r in result.records]
    if host in exchanges:
        return CheckLine(
            MAIL_FROM, mail_from, "pass", f"{mail_from} sends bounces to {host}, as SES expects."
        )
    return CheckLine(
        MAIL_FROM,
        mail_from,
        "fail",
        f"The MX record of {mail_from} points at {', '.join(exchanges)}, but it must point at "
        f"{host} for SES in {region}. Publish the record below instead.",
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
            MAIL_FROM, mail_from, "pass", f"The SPF record of {mail_from} includes amazonses.com."
        )
    if not records:
        said = f"{mail_from} has no SPF record"
    elif len(records) > 1:
        said = f"{mail_from} has {len(records)} SPF records (exactly one is allowed)"
    else:
        said = f"the SPF record of {mail_from} does not include amazonses.com"
    return CheckLine(
        MAIL_FROM,
        mail_from,
        "fail",
        f"For the custom MAIL FROM domain, {said}, so mail SES sends fails SPF there. Publish "
        "the record below.",
        fix,
    )
