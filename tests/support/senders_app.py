"""The app wired for /mail-verify and /dkim-check: moto's SES, the test DNS server.

``senders_app(**env)`` (fixture) builds the whole app (tests.support.harness) with SES
switched on, boto3 pointed at moto through AWS_ENDPOINT_URL, the resolver at the test DNS
server (0.5 s timeout) and CADMIN as the admin channel; keyword arguments override or add
environment settings (e.g. ``MAILROOM_SES_ENABLED="false"``, ``AWS_ENDPOINT_URL=...``).
``senders_harness`` is that app with the defaults.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.dns_server import TestDnsServer
from tests.support.harness import Harness, HarnessFactory
from tests.support.ses_server import MotoSes

ADMIN_CHANNEL = "CADMIN"


@pytest.fixture
def senders_app(
    harness_with: HarnessFactory, dns_server: TestDnsServer, ses_endpoint: MotoSes
) -> Callable[..., Harness]:
    def build(**env: str) -> Harness:
        settings = {
            "MAILROOM_SES_ENABLED": "true",
            "AWS_ENDPOINT_URL": ses_endpoint.url,
            "DNS_NAMESERVERS": dns_server.address,
            "DNS_TIMEOUT_SECONDS": "0.5",
            "MAILROOM_ADMIN_CHANNEL": ADMIN_CHANNEL,
        }
        return harness_with(**(settings | env))

    return build


@pytest.fixture
def senders_harness(senders_app: Callable[..., Harness]) -> Harness:
    return senders_app()
