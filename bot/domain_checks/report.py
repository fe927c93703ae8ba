"""What a domain check reports: one line per finding (verdict, why, the exact fix)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from locales import _
from providers.dns import Lookup
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
    return _(
        "Could not check {name}: {error}. This says nothing about the record itself; "
        "try again in a few minutes, and if it keeps happening check that the domain's DNS "
        "servers are up."
    ).format(name=name, error=result.error)


def normalise_domain(domain: str) -> str:
    """Lowercase, no trailing dot, IDNA-encoded; accepts an address and takes its domain."""
    text = domain.strip().rstrip(".").lower()
    text = text.rsplit("@", 1)[-1]
    # A name IDNA cannot encode stays as it is; the regex below rejects it readably.
    with contextlib.suppress(UnicodeError):
        text = text.encode("idna").decode("ascii")
    if not DOMAIN_RE.match(text):
        raise UserError(
            _("{domain} is not a domain name; give one like example.com.").format(
                domain=repr(domain.strip())
            ),
            field="domain",
        )
    return text
