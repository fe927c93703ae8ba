"""Mailroom entry point: `python app.py` runs the web app, Slack listeners and scheduler.

Everything runs in one process on SQLite by default; point DATABASE_URL at PostgreSQL to run
several processes against one database, and MAILROOM_ROLE (web / worker) to split them.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

import uvicorn
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.factory import Mailroom, create_mailroom
from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from handlers import register_listeners
from storage.lockfile import AlreadyRunning, lock_sqlite

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
        lock_sqlite(settings.resolved_database_url)
    except AlreadyRunning as exc:
        print(
            f"Mailroom cannot start: another Mailroom process already uses the SQLite database "
            f"{exc}; SQLite is for one process only, so to run several processes set "
            "DATABASE_URL to a PostgreSQL database.",
            file=sys.stderr,
        )
        return 4
    try:
        mailroom: Mailroom = create_mailroom(settings, register_listeners)
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
    # A worker-role process takes no Slack requests (the web processes do).
    slack_side = settings.socket_mode and settings.mailroom_role != "worker"
    socket_mode = start_socket_mode(mailroom, settings.slack_app_token) if slack_side else None
    log.info(
        "Mailroom (role %s) listening on %s:%s",
        settings.mailroom_role,
        settings.host,
        settings.port,
    )
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
        if socket_mode is not None:
            socket_mode.close()
        mailroom.stop()
    return 0


# slack_sdk's built-in Socket Mode client notices a dead socket only by its pings (five
# failures in a row, or four intervals without a pong); a short interval brings a dropped
# connection back in about 15 s rather than Bolt's default of nearly a minute.
SOCKET_PING_SECONDS = 3
# Slack's answers to apps.connections.open that no retry can fix: the token is wrong.
TOKEN_ERRORS = {"invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked"}


def start_socket_mode(mailroom: Mailroom, app_token: str) -> SocketModeHandler:
    """Receive Slack's requests over Socket Mode (the HTTP server still serves /healthz and
    the OAuth routes, and signed requests to /slack/events).

    Each request is acknowledged once Bolt has dispatched it, so whatever a listener's
    middleware stores before the ack (a reply's intent) is stored under Socket Mode too.
    Once connected, the client reconnects by itself when the socket drops; until then we
    keep trying in the background, so a Slack outage at start does not leave us deaf.
    """
    handler = SocketModeHandler(mailroom.bolt, app_token, ping_interval=SOCKET_PING_SECONDS)

    def connect() -> None:
        delay = 1.0
        while not handler.client.closed:
            try:
                # A fresh URL each try: Slack's are single use.
                handler.client.connect_to_new_endpoint(force=True)
                log.info("Socket Mode connected")
                return
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error in TOKEN_ERRORS:
                    log.error(
                        "Slack refused SLACK_APP_TOKEN for Socket Mode (%s): create an app-level "
                        "token with the connections:write scope and set it as SLACK_APP_TOKEN.",
                        error,
                    )
                    return
                log.warning("Socket Mode could not connect (%s); retrying in %.0f s", error, delay)
            except Exception as exc:
                log.warning(
                    "Socket Mode could not connect (%s); retrying in %.0f s",
                    type(exc).__name__,
                    delay,
                )
            time.sleep(delay)
            delay = min(delay * 2, 60.0)

    threading.Thread(target=connect, name="socket-mode-connect", daemon=True).start()
    return handler


if __name__ == "__main__":
    sys.exit(main())
