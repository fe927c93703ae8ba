"""Pytest fixtures for DNS and Amazon SES: a real DNS server with test zones, moto's SES.

Fixtures
- ``dns_server`` (session): ``TestDnsServer`` on 127.0.0.1 serving every zone in ``ZONES``.
- ``dns_resolver``: a resolver (providers.dns.make_resolver) pointed at it, 0.5 s timeout.
- ``ses_endpoint``: moto's SES over real HTTP, reset for the test, with fake credentials,
  ``AWS_REGION``/``AWS_DEFAULT_REGION`` us-east-1 and ``AWS_ENDPOINT_URL`` set in the
  environment; returns a ``MotoSes`` (``.url``, ``set_identity_status``,
  ``set_dkim_tokens``, ``add_identity``). New identities start PENDING as in real SES.
- ``aws_error_server``: ``AwsErrorServer`` answering with the AWS error you choose.
- ``no_aws_credentials``: an environment where boto3 finds no credentials anywhere.
- ``fake_aws_env``: the fake keys/region/empty shared files the fixtures above rely on.
- ``unreachable_aws_url``: a loopback URL where nothing listens (EndpointConnectionError).

Test zones (all under the reserved .test TLD); each is ``good.test`` with one thing wrong,
so a check's line can be asserted without noise from the others:

=================  ======================================================================
good.test          everything right: 3 SES Easy DKIM CNAMEs, 2048-bit RSA key at
                   ``google``, SPF ``mx include:amazonses.com -all``, DMARC p=reject with
                   rua, two MX hosts, MAIL FROM ``bounce.good.test`` set up for SES
nodkim.test        no DKIM key at any selector and no SES CNAMEs
revoked.test       DKIM record with an empty ``p=`` (revoked)
weak.test          1024-bit RSA key (warn)
tiny.test          512-bit RSA key (fail)
sescname.test      SES tokens: one CNAME right, one pointing at the wrong target (the
                   classic zone-file mistake of a missing final dot), one missing
spfnoses.test      SPF without include:amazonses.com
spfmany.test       SPF needing 13 DNS lookups through nested includes (and an include loop)
twospf.test        two SPF records
softall.test       SPF ending ~all; plusall.test +all; neutral.test ?all; noall.test none
redirect.test      SPF by redirect= to a record ending -all
nodmarc.test       no DMARC record
pnone.test         DMARC p=none without rua
nomx.test          no MX; nullmx.test null MX ("0 .")
badmailfrom.test   MAIL FROM with an MX for another region and no SPF
dkimodd.test       selectors ``ed`` (Ed25519), ``badb64``, ``vlate`` (v= not first),
                   ``dsa`` (unknown k=), ``notkey`` (base64 that is no key), ``two``
                   (two TXT records); ``absent`` has nothing
slow.test          never answers (every name below it times out)
broken.test        answers SERVFAIL (every name below it)
=================  ======================================================================

``amazonses.com`` is served too (its SPF record, ip4 ranges only) so include:amazonses.com
resolves on loopback exactly as on the Internet.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from bot.domain_checks import SesDomainInfo
from providers.dns import make_resolver
from tests.support.dns_server import TestDnsServer
from tests.support.ses_server import (
    INTERNAL,
    REGION,
    AwsErrorServer,
    MotoSes,
    closed_port_url,
    start_moto_server,
)

DNS_TIMEOUT = 0.5
DKIM_SELECTOR = "google"
SES_SPF = "v=spf1 ip4:199.255.192.0/22 ip4:199.127.232.0/22 ip4:54.240.0.0/18 ip4:69.169.224.0/20 ip4:23.249.208.0/20 ip4:23.251.224.0/19 ip4:76.223.176.0/20 ip4:54.240.64.0/19 ip4:54.240.96.0/19 ip4:76.223.128.0/19 ip4:216.221.160.0/19 ip4:206.55.144.0/20 -all"
GOOD_SPF = "v=spf1 mx include:amazonses.com -all"


def tokens_for(label: str) -> list[str]:
    """Three SES-like DKIM tokens (32 characters), readable in test output."""
    return [f"{label}{n}".ljust(32, "x")[:32] for n in (1, 2, 3)]


SES_TOKENS: dict[str, list[str]] = {
    "good.test": tokens_for("goodtoken"),
    "sescname.test": tokens_for("cnametoken"),
    "spfnoses.test": tokens_for("spfnosestoken"),
    "badmailfrom.test": tokens_for("mailfromtoken"),
}
MAIL_FROM = {"good.test": "bounce.good.test", "badmailfrom.test": "bounce.badmailfrom.test"}


def ses_info(domain: str, **changes: object) -> SesDomainInfo:
    """What SES would report for a test domain (tokens above, us-east-1)."""
    info = SesDomainInfo(
        dkim_tokens=list(SES_TOKENS.get(domain, [])),
        signing_hosted_zone=None,
        sends_for_domain=True,
        mail_from_domain=MAIL_FROM.get(domain),
        region=REGION,
    )
    for name, value in changes.items():
        setattr(info, name, value)
    return info


# ---------------------------------------------------------------------------- keys


def der_base64(public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@cache
def rsa_key_text(bits: int) -> str:
    """A freshly generated RSA public key of ``bits`` bits, base64 DER, as DKIM's p=."""
    if bits >= 1024:
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        # cryptography refuses to generate keys under 1024 bits; build one from two primes.
        half = bits // 2
        key = rsa.RSAPublicNumbers(
            65537, random_prime(half) * random_prime(bits - half)
        ).public_key()
    return der_base64(key)


def random_prime(bits: int) -> int:
    while True:
        candidate = secrets.randbits(bits) | (1 << (bits - 1)) | (1 << (bits - 2)) | 1
        if is_probable_prime(candidate):
            return candidate


def is_probable_prime(n: int, rounds: int = 32) -> bool:
    """Miller-Rabin; only used to build a real (deliberately weak) 512-bit test key."""
    if n < 4:
        return n in (2, 3)
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def dkim_record(bits: int = 2048) -> str:
    return f"v=DKIM1; k=rsa; p={rsa_key_text(bits)}"


# ---------------------------------------------------------------------------- zones


@dataclass
class Zone:
    """A test domain: correct by default; set a field to break one thing."""

    domain: str
    dkim: str | None = "default"  # "default" = 2048-bit key at the google selector
    spf: tuple[str, ...] = (GOOD_SPF,)
    dmarc: str | None = "default"
    mx: tuple[str, ...] = ("10 mx1.{d}", "20 mx2.{d}")
    ses_cnames: bool = True

    def publish(self, server: TestDnsServer) -> None:
        d = self.domain
        server.add(d, "A", "192.0.2.10")
        server.add(d, "TXT", f"google-site-verification={d}-not-spf")
        for value in self.spf:
            server.add(d, "TXT", value)
        for value in self.mx:
            server.add(d, "MX", value.format(d=d))
        server.add(f"mx1.{d}", "A", "192.0.2.11")
        server.add(f"mx2.{d}", "A", "192.0.2.12")
        if self.dkim:
            value = dkim_record() if self.dkim == "default" else self.dkim
            server.add(f"{DKIM_SELECTOR}._domainkey.{d}", "TXT", value)
        if self.dmarc:
            value = (
                f"v=DMARC1; p=reject; rua=mailto:dmarc@{d}"
                if self.dmarc == "default"
                else self.dmarc
            )
            server.add(f"_dmarc.{d}", "TXT", value)
        if self.ses_cnames:
            for token in SES_TOKENS.get(d, []):
                server.add(f"{token}._domainkey.{d}", "CNAME", f"{token}.dkim.amazonses.com")


def ses_mail_from(server: TestDnsServer, name: str, region: str = REGION) -> None:
    server.add(name, "MX", f"10 feedback-smtp.{region}.amazonses.com")
    server.add(name, "TXT", "v=spf1 include:amazonses.com ~all")


def build_zones() -> list[Zone]:
    return [
        Zone("good.test"),
        Zone("nodkim.test", dkim=None, ses_cnames=False),
        Zone("revoked.test", dkim="v=DKIM1; k=rsa; p="),
        Zone("weak.test", dkim=dkim_record(1024)),
        Zone("tiny.test", dkim=dkim_record(512)),
        Zone("sescname.test", ses_cnames=False),
        Zone("spfnoses.test", spf=("v=spf1 mx -all",)),
        Zone(
            "spfmany.test",
            spf=(
                "v=spf1 mx a include:one.spfmany.test include:two.spfmany.test include:amazonses.com -all",
            ),
        ),
        Zone("twospf.test", spf=("v=spf1 include:amazonses.com -all", "v=spf1 mx ~all")),
        Zone("softall.test", spf=("v=spf1 mx include:amazonses.com ~all",)),
        Zone("plusall.test", spf=("v=spf1 mx include:amazonses.com +all",)),
        Zone("neutral.test", spf=("v=spf1 mx include:amazonses.com ?all",)),
        Zone("noall.test", spf=("v=spf1 mx include:amazonses.com",)),
        Zone("redirect.test", spf=("v=spf1 redirect=_spf.redirect.test",)),
        Zone("nodmarc.test", dmarc=None),
        Zone("pnone.test", dmarc="v=DMARC1; p=none"),
        Zone("nomx.test", mx=()),
        Zone("nullmx.test", mx=("0 .",)),
        Zone("badmailfrom.test"),
        Zone("dkimodd.test", dkim=None),
        Zone("slow.test"),
        Zone("broken.test"),
    ]


def publish_extras(server: TestDnsServer) -> None:
    """Records that do not fit the one-defect-per-domain pattern."""
    server.add("amazonses.com", "TXT", SES_SPF)
    # sescname.test: first token right, second the classic missing-final-dot mistake (the
    # zone's origin got appended), third not published.
    first, second, _third = SES_TOKENS["sescname.test"]
    server.add(f"{first}._domainkey.sescname.test", "CNAME", f"{first}.dkim.amazonses.com")
    server.add(
        f"{second}._domainkey.sescname.test", "CNAME", f"{second}.dkim.amazonses.com.sescname.test"
    )
    # spfmany.test: 5 lookups at the top, 3 in one, 4 in two, 1 in three (which loops back).
    server.add("one.spfmany.test", "TXT", "v=spf1 a mx include:three.spfmany.test ~all")
    server.add("two.spfmany.test", "TXT", "v=spf1 a mx ptr exists:%{i}._spf.spfmany.test -all")
    server.add("three.spfmany.test", "TXT", "v=spf1 include:spfmany.test ip4:192.0.2.0/24 -all")
    server.add("_spf.redirect.test", "TXT", "v=spf1 mx include:amazonses.com -all")
    ses_mail_from(server, MAIL_FROM["good.test"])
    server.add(MAIL_FROM["badmailfrom.test"], "MX", "10 feedback-smtp.eu-west-1.amazonses.com")
    odd = "dkimodd.test"
    ed_key = der_base64(ed25519.Ed25519PrivateKey.generate().public_key())
    server.add(f"ed._domainkey.{odd}", "TXT", f"v=DKIM1; k=ed25519; p={ed_key}")
    server.add(f"badb64._domainkey.{odd}", "TXT", "v=DKIM1; k=rsa; p=MIIB!!notbase64")
    server.add(f"vlate._domainkey.{odd}", "TXT", f"k=rsa; v=DKIM1; p={rsa_key_text(2048)}")
    server.add(f"dsa._domainkey.{odd}", "TXT", f"v=DKIM1; k=dsa; p={rsa_key_text(2048)}")
    server.add(f"notkey._domainkey.{odd}", "TXT", "v=DKIM1; k=rsa; p=aGVsbG8gd29ybGQ=")
    server.add(f"two._domainkey.{odd}", "TXT", dkim_record())
    server.add(f"two._domainkey.{odd}", "TXT", dkim_record(1024))
    server.timeout_name("slow.test")
    server.servfail_name("broken.test")


def publish_test_zones(server: TestDnsServer) -> TestDnsServer:
    for zone in build_zones():
        zone.publish(server)
    publish_extras(server)
    return server


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def dns_server() -> Iterator[TestDnsServer]:
    server = publish_test_zones(TestDnsServer()).start()
    yield server
    server.stop()


@pytest.fixture
def dns_resolver(dns_server: TestDnsServer) -> dns.resolver.Resolver:
    return make_resolver([dns_server.address], timeout=DNS_TIMEOUT)


@pytest.fixture(scope="session")
def moto_ses_server() -> Iterator[str]:
    server, url = start_moto_server()
    yield url
    server.stop()


def set_fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake keys, us-east-1, and no shared files or instance metadata to fall back on."""
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_ENDPOINT_URL_SESV2",
    ):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "aws-empty"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake keys and us-east-1; the other AWS fixtures build on this one."""
    set_fake_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def ses_endpoint(
    moto_ses_server: str, fake_aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MotoSes]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_ses_server)
    ses = MotoSes(moto_ses_server)
    ses.reset()
    yield ses
    ses.reset()


@pytest.fixture(scope="session")
def aws_error_server_session() -> Iterator[AwsErrorServer]:
    server = AwsErrorServer().start()
    yield server
    server.stop()


@pytest.fixture
def aws_error_server(
    aws_error_server_session: AwsErrorServer, fake_aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> AwsErrorServer:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    aws_error_server_session.respond_with(default=INTERNAL)
    return aws_error_server_session


@pytest.fixture
def no_aws_credentials(fake_aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 finds no keys: env cleared, empty shared files, instance metadata disabled."""
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


@pytest.fixture
def unreachable_aws_url() -> str:
    """An endpoint URL where nothing listens, for EndpointConnectionError."""
    return closed_port_url()
