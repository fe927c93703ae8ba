"""What every listener shares: where to answer, and turning errors into sentences."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.context import AppContext
from bot.formatting.slack_text import escape
from locales import _
from providers.errors import UNEXPECTED, MailroomError

log = logging.getLogger(__name__)


def user_of(body: dict[str, Any]) -> str:
    return body.get("user_id") or (body.get("user") or {}).get("id", "")


def team_of(body: dict[str, Any]) -> str:
    return (
        body.get("team_id")
        or (body.get("team") or {}).get("id", "")
        or (body.get("user") or {}).get("team_id", "")
    )


def channel_of(body: dict[str, Any]) -> str:
    return (
        body.get("channel_id")
        or (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or ""
    )


def tell(
    ctx: AppContext, body: dict[str, Any], text: str, *, blocks: list[dict[str, Any]] | None = None
) -> None:
    """An ephemeral answer where the person is, or a DM when there is no channel."""
    user, channel = user_of(body), channel_of(body)
    thread_ts = (body.get("container") or {}).get("thread_ts")
    if channel:
        ctx.slack.ephemeral(channel, user, text, blocks=blocks, thread_ts=thread_ts)
    else:
        ctx.slack.dm(user, text, blocks=blocks)


def user_facing(ctx: AppContext) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a listener so that any failure reaches the person as a clear sentence."""

    def decorate(listener: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(listener)
        def run(*args: Any, **kwargs: Any) -> Any:
            body = kwargs.get("body") or {}
            try:
                return listener(*args, **kwargs)
            except MailroomError as exc:
                # The sentence can quote a mail server's answer ("550 <bob@x>: rejected"):
                # remote text, so it is escaped before Slack parses it.
                tell(ctx, body, escape(exc.message))
            except SlackApiError as exc:
                log.warning(
                    "Slack API error in %s: %s", listener.__name__, exc.response.get("error")
                )
                tell(ctx, body, _(UNEXPECTED))
            except Exception:
                log.exception("listener %s failed", listener.__name__)
                tell(ctx, body, _(UNEXPECTED))
            return None

        return run

    return decorate
