"""Text formatting at Mailroom's two borders: email in (inbound), email out (outbound),
and the Slack side of both (slack_text, the project's one escaping utility)."""

from __future__ import annotations
