"""bot.domain_checks in Spanish: the sentences change, the records to publish do not.

Real DNS on loopback (tests.support.dns_ses); each zone is checked once in English and once
inside ``speaking("es")``, and the two reports are compared line by line.
"""

from __future__ import annotations

import dns.resolver
import pytest

from tests.bot.domain_checks.checks import both

# Zones whose reports between them hold most kinds of line: passes, warnings, failures with a
# fix, plural counts, DNS trouble (slow.test never answers) and the DMARC alignment note.
ZONES = [
    "good.test",
    "nodkim.test",
    "weak.test",
    "tiny.test",
    "sescname.test",
    "spfnoses.test",
    "spfmany.test",
    "twospf.test",
    "neutral.test",
    "nodmarc.test",
    "pnone.test",
    "nomx.test",
    "badmailfrom.test",
    "slow.test",
]


@pytest.mark.parametrize("domain", ZONES)
def test_spanish_report_has_spanish_sentences_and_the_same_records(
    dns_resolver: dns.resolver.Resolver, domain: str
) -> None:
    english, spanish = both(domain, dns_resolver)
    assert len(spanish.lines) == len(english.lines)
    for en, es in zip(english.lines, spanish.lines, strict=True):
        # What a program compares, and what the admin pastes into the zone, stays as it is.
        assert (es.check, es.name, es.status, es.fix) == (en.check, en.name, en.status, en.fix)
        assert es.detail != en.detail, en.detail
        assert es.detail.endswith("."), es.detail
        assert "{" not in es.detail and "}" not in es.detail, es.detail


def test_spanish_sentences_say_the_same_facts(dns_resolver: dns.resolver.Resolver) -> None:
    _en, good = both("good.test", dns_resolver)
    details = [line.detail for line in good.lines]
    assert "es una clave RSA de 2048 bits" in details[3]
    assert "El registro SPF termina en -all" in details[4]
    assert "necesita 2 de las 10 consultas DNS permitidas" in details[6]
    assert "La política DMARC es p=reject" in details[7]
    assert "Alineación: DKIM en modo relajado (adkim=r)" in details[7]
    assert "d=good.test" in details[7]
    assert details[8] == "Los informes agregados de DMARC se envían a mailto:dmarc@good.test."
    assert "mx1.good.test (10), mx2.good.test (20)" in details[9]

    _en, many = both("spfmany.test", dns_resolver)
    lookups = many.lines_for("SPF")[-1]
    assert "necesita 13 consultas DNS" in lookups.detail and "el límite es 10" in lookups.detail

    _en, two = both("twospf.test", dns_resolver)
    assert two.lines_for("SPF")[0].detail.startswith("twospf.test tiene 2 registros SPF;")

    _en, slow = both("slow.test", dns_resolver)
    unknown = [line for line in slow.lines if line.status == "unknown"]
    assert unknown
    assert all(line.detail.startswith("No se pud") for line in unknown), unknown
