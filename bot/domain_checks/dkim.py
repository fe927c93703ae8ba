"""DKIM: selector records, their tags and their keys (RSA size, Ed25519)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from bot.domain_checks.report import DKIM, TAG_NAME_RE, CheckLine, Status, could_not_check
from locales import _, ngettext
from providers.dns import Lookup


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
                _(
                    "No other DKIM key was found at the usual selectors ({tried}). That is fine: "
                    "SES signs mail for {domain} with Easy DKIM, checked above."
                ).format(tried=tried, domain=domain),
            )
        ]
    errors = [result for result in results.values() if result.status == "error"]
    if errors:
        return [
            CheckLine(
                DKIM,
                name,
                "unknown",
                _(
                    "Could not check the DKIM selectors of {domain}: {error}. This says nothing "
                    "about the record itself; try again in a few minutes, and if it keeps "
                    "happening check that the domain's DNS servers are up."
                ).format(domain=domain, error=errors[0].error),
            )
        ]
    return [
        CheckLine(
            DKIM,
            name,
            "fail",
            _(
                "No DKIM key was found at the usual selectors ({tried}), so receivers cannot "
                "confirm mail from {domain} is genuine. Turn on DKIM in your mail provider and "
                "publish the TXT record it gives you; if it uses another selector, check that "
                "selector by name."
            ).format(tried=tried, domain=domain),
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
            _(
                "There is no DKIM record at {name}. Publish the TXT record your mail provider "
                "gives you for the selector {selector}."
            ).format(name=name, selector=repr(selector)),
        )
    return judge_dkim_record(domain, selector, result.records)


def judge_dkim_record(domain: str, selector: str, records: Sequence[str]) -> CheckLine:
    name = f"{selector}._domainkey.{domain}"

    def line(status: Status, detail: str) -> CheckLine:
        return CheckLine(DKIM, name, status, detail)

    if len(records) > 1:
        return line(
            "fail",
            ngettext(
                "There is {n} TXT record at {name}; a DKIM selector must hold exactly one, or "
                "receivers may pick the wrong key. Remove all but the current key.",
                "There are {n} TXT records at {name}; a DKIM selector must hold exactly one, or "
                "receivers may pick the wrong key. Remove all but the current key.",
                len(records),
            ).format(n=len(records), name=name),
        )
    tags = parse_tag_list(records[0])
    if tags is None:
        return line(
            "fail",
            _(
                "The record at {name} is not valid DKIM syntax (tags must be name=value pairs "
                "separated by ';'). Publish the record exactly as your mail provider gives it."
            ).format(name=name),
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
            _(
                "The DKIM key at {name} is revoked (its p= tag is empty), so mail signed with "
                "this selector fails DKIM. Publish the current key from your mail provider, or "
                "stop signing with this selector."
            ).format(name=name),
        )
    try:
        key_bytes = base64.b64decode(key_text, validate=True)
    except (binascii.Error, ValueError):
        return line(
            "fail",
            _(
                "The p= key at {name} is not valid base64, so receivers cannot read it. Copy the "
                "key again from your mail provider; it often gets cut or gains stray characters."
            ).format(name=name),
        )
    if key_type == "ed25519":
        return judge_ed25519(name, key_bytes)
    return judge_rsa(name, key_bytes)


def dkim_tag_problem(tags: list[tuple[str, str]], name: str) -> str | None:
    """The first structural problem of a DKIM key record, as a sentence, or None."""
    values = dict(tags)
    if "v" in values and (tags[0][0] != "v" or values["v"] != "DKIM1"):
        return _(
            "The DKIM record at {name} has v={version} not as its first tag; when v= is "
            "present it must be first and read v=DKIM1. Publish the record as your mail "
            "provider gives it."
        ).format(name=name, version=values["v"])
    key_type = values.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        return _(
            "The DKIM record at {name} uses the key type k={key_type}, which receivers do not "
            "support. Use an RSA (k=rsa) or Ed25519 (k=ed25519) key."
        ).format(name=name, key_type=key_type)
    if "p" not in values:
        return _(
            "The DKIM record at {name} has no p= tag, so it holds no key. Publish the record "
            "exactly as your mail provider gives it."
        ).format(name=name)
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
            _(
                "The p= value at {name} is not an RSA public key, so receivers cannot verify "
                "signatures. Copy the key again from your mail provider."
            ).format(name=name),
        )
    bits = key.key_size
    if bits < 1024:
        return CheckLine(
            DKIM,
            name,
            "fail",
            _(
                "The DKIM key at {name} is a {bits}-bit RSA key; receivers ignore keys under "
                "1024 bits, so mail signed with it fails DKIM. Generate a 2048-bit key with your "
                "mail provider and publish it."
            ).format(name=name, bits=bits),
        )
    if bits < 2048:
        return CheckLine(
            DKIM,
            name,
            "warn",
            _(
                "The DKIM key at {name} is a {bits}-bit RSA key. It works today but is weak; "
                "generate a 2048-bit key with your mail provider and publish it."
            ).format(name=name, bits=bits),
        )
    return CheckLine(
        DKIM,
        name,
        "pass",
        _("The DKIM key at {name} is a {bits}-bit RSA key.").format(name=name, bits=bits),
    )


def judge_ed25519(name: str, key_bytes: bytes) -> CheckLine:
    if len(key_bytes) != 32:
        return CheckLine(
            DKIM,
            name,
            "fail",
            ngettext(
                "The Ed25519 key at {name} is {n} byte long instead of 32, so receivers cannot "
                "use it. Copy the key again from your mail provider.",
                "The Ed25519 key at {name} is {n} bytes long instead of 32, so receivers cannot "
                "use it. Copy the key again from your mail provider.",
                len(key_bytes),
            ).format(name=name, n=len(key_bytes)),
        )
    return CheckLine(
        DKIM,
        name,
        "pass",
        _(
            "The DKIM key at {name} is an Ed25519 key. Not every receiver checks Ed25519 yet, so "
            "keep an RSA key at another selector as well."
        ).format(name=name),
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
