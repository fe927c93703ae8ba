"""Mailroom entry point: `python app.py` runs the web app, Slack listeners and scheduler.

Everything runs in one process on SQLite by default; point DATABASE_URL at PostgreSQL to run
several processes against one database.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.factory import Mailroom, create_mailroom
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings

log = logging.getLogger("mailroom")


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print("Mailroom cannot start:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "Set these in the environment or in a .env file (see README.md, 'Settings').",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    try:
        mailroom: Mailroom = create_mailroom(settings)
    except SQLAlchemyError as exc:
        where = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
        reason = type(getattr(exc, "orig", None) or exc).__name__
        print(
            f"Mailroom cannot start: the database at {where} is not reachable ({reason}). "
            "Check DATABASE_URL and that the server is up.",
            file=sys.stderr,
        )
        return 3
    mailroom.start_background()
    if settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        # Socket Mode receives Slack's requests over a websocket; the HTTP server still
        # serves /healthz and the OAuth routes.
        try:
            SocketModeHandler(mailroom.bolt, settings.slack_app_token).connect()
            log.info("Socket Mode connected")
        except Exception as exc:
            # Keep serving HTTP (health, OAuth); Slack requests still work over the
            # request URL if one is configured.
            log.error("Socket Mode could not connect (%s): check SLACK_APP_TOKEN.", exc)
    log.info("Mailroom listening on %s:%s", settings.host, settings.port)
    try:
        uvicorn.run(
            mailroom.web,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
            # No logging config of uvicorn's own: its records reach the root handler and
            # its redacting filter like every other log line.
            log_config=None,
        )
    finally:
        mailroom.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
