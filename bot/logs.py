"""Logging that never writes a secret.

Passwords never reach a log call by design (they live only inside provider settings whose
repr hides them); this filter is the second line of defence for tokens that could appear in
library messages or exception text.
"""

from __future__ import annotations

import logging
import re

_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    # HTTP Basic carries the OAuth client id and secret (requests_oauthlib, MSAL).
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(?!basic\s|bearer\s)[^\s\"',}]+"),
    # OAuth authorization codes and PKCE verifiers, in URLs, form bodies and dicts.
    re.compile(r"(?i)((?:\bcode|code_verifier|client_assertion)=)[^\s\"'&,}]+"),
    re.compile(r"(?i)([\"'](?:code|code_verifier|client_assertion)[\"']\s*:\s*[\"'])[^\"']+"),
    re.compile(r"(?i)((?:password|passwd|secret|token|auth)[\"']?\s*[:=]\s*[\"']?)[^\s\"',&]+"),
    re.compile(r"(?i)(AUTHENTICATE\s+\S+\s+)\S+"),
    # Bolt logs the raw body of a request whose signature fails; a modal body can hold a
    # mailbox password, so the body is never printed.
    re.compile(r"(body: ).*", re.DOTALL),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "[redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now, redacted, so the formatter does not print raw text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # imaplib/smtplib debug output would include AUTH lines, and the OAuth libraries log
    # token requests with the client secret, code and verifier at DEBUG: keep them quiet
    # even when LOG_LEVEL=DEBUG (the redacting filter is the second line of defence).
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


QUIET_LOGGERS = (
    "imapclient",
    "imaplib",
    "urllib3",
    "requests_oauthlib",
    "oauthlib",
    "msal",
    "slack_sdk.web.base_client",
    "apscheduler",
)
