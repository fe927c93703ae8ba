"""Shared fixtures live in tests/support/ as pytest plugins, one module per real part."""

pytest_plugins = [
    "tests.support.mail_servers",
    "tests.support.fake_slack",
    "tests.support.dns_ses",
    "tests.support.harness",
    "tests.support.identity_fakes",
    "tests.support.senders_app",
]
