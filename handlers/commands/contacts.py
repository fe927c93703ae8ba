"""/mail-contacts add|remove|list|mode|import: the contacts that partial sync keeps.

A CSV file posted with ``import contacts`` (or shared in Mailroom's DM) imports contacts too;
that listener lives here, registered before the general message listener so it sees those
file shares first.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks.contacts import contacts_changed_text, contacts_list
from bot.context import AppContext
from bot.preferences import contacts
from bot.preferences.panel import mailbox_changed
from bot.roles import choose_mailbox
from bot.slack_files import download_slack_file, file_url, is_remote_file
from handlers.common import tell, user_facing, user_of
from locales import N_, _, ngettext
from providers.errors import ServiceError, UserError
from storage.models import Mailbox

log = logging.getLogger(__name__)

IMPORT_HOW = N_(
    "To import contacts, post the CSV file in the mailbox's channel (as a new message, not in "
    "a thread) with the message `import contacts`, or share it with me in a DM. Every address "
    "or @domain in any column is added. Add `mailbox:<address>` to the message to choose "
    "another mailbox you manage."
)
IMPORT_WORDS = ("import contacts", "mail-contacts import")


def split_mailbox(text: str) -> tuple[list[str], str | None]:
    """The words of a command, and the ``mailbox:<address>`` option when present."""
    words, mailbox = [], None
    for word in (text or "").replace(",", " ").split():
        if word.lower().startswith("mailbox:"):
            mailbox = word.split(":", 1)[1].strip("<>").removeprefix("mailto:").split("|")[0]
        else:
            words.append(word)
    return words, mailbox


def command_values(words: list[str]) -> list[str]:
    # Slack turns typed addresses into <mailto:a@b.com|a@b.com> links.
    return [w.strip("<>").split("|")[-1] for w in words]


def is_csv_share(event: dict[str, Any]) -> bool:
    """A CSV file shared with Mailroom: in its DM, or posted with ``import contacts`` in a
    channel. Thread replies never count: their files are attachments of an email reply."""
    files = event.get("files") or []
    text = (event.get("text") or "").lower()
    asked = event.get("channel_type") == "im" or any(w in text for w in IMPORT_WORDS)
    return (
        asked
        and not event.get("bot_id")
        and not event.get("thread_ts")
        and bool(event.get("user"))
        and any(_is_csv(f) for f in files)
    )


def _is_csv(file: dict[str, Any]) -> bool:
    name = (file.get("name") or file.get("title") or "").lower()
    return (
        name.endswith(".csv")
        or file.get("filetype") == "csv"
        or (file.get("mimetype") or "").startswith("text/csv")
    )


def download(ctx: AppContext, file: dict[str, Any]) -> bytes:
    """The CSV's bytes, only from Slack's own file host (the bot token goes nowhere else)."""
    url = file_url(file)
    if not url or is_remote_file(file):
        name = file.get("name")
        if name is None:
            raise UserError(
                _(
                    "Slack did not share the contents of the file. Upload it again as a file (not a link)."
                )
            )
        raise UserError(
            _(
                "Slack did not share the contents of {name}. Upload it again as a file (not a link)."
            ).format(name=name)
        )
    return download_slack_file(
        ctx.settings,
        url,
        name=file.get("name") or _("the file"),
        max_bytes=contacts.MAX_CSV_BYTES,
        too_large_hint=_("Split it into smaller CSV files and share them one at a time."),
    )


def register(app: App, ctx: AppContext) -> None:
    @app.command("/mail-contacts")
    @user_facing(ctx)
    def mail_contacts(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, team, channel = body["user_id"], body.get("team_id", ""), body.get("channel_id", "")
        words, address = split_mailbox(body.get("text", ""))
        action = words[0].lower() if words else "list"
        if action not in ("add", "remove", "list", "mode", "import"):
            raise UserError(
                _(
                    "I did not understand `{action}`. Use `/mail-contacts add ana@customer.com "
                    "@customer.com`, `/mail-contacts remove ...`, `/mail-contacts list`, "
                    "`/mail-contacts mode partial` (or `full`) or `/mail-contacts import`. Add "
                    "`mailbox:<address>` when you manage several mailboxes."
                ).format(action=action)
            )
        mailbox = choose_mailbox(
            ctx.roles,
            ctx.mailboxes,
            user,
            team,
            address=address,
            channel_id=channel,
            manage=action != "list",
        )
        if action == "list":
            text, blocks = contacts_list(mailbox, contacts.list_contacts(ctx, mailbox.id))  # type: ignore[arg-type]
            tell(ctx, body, text, blocks=blocks)
        elif action == "import":
            tell(ctx, body, _(IMPORT_HOW))
        elif action == "mode":
            _set_mode(ctx, body, mailbox, words[1:])
        else:
            values = command_values(words[1:])
            if not values:
                raise UserError(
                    _(
                        "Name at least one address or @domain. Use `/mail-contacts add "
                        "ana@customer.com @customer.com`, `/mail-contacts remove ...`, "
                        "`/mail-contacts list`, `/mail-contacts mode partial` (or `full`) or "
                        "`/mail-contacts import`. Add `mailbox:<address>` when you manage "
                        "several mailboxes."
                    )
                )
            if action == "add":
                changes = contacts.add_contacts(ctx, mailbox.id, values, user)  # type: ignore[arg-type]
                tell(ctx, body, contacts_changed_text("Added", mailbox, changes))
            else:
                changes = contacts.remove_contacts(ctx, mailbox.id, values)  # type: ignore[arg-type]
                tell(ctx, body, contacts_changed_text("Removed", mailbox, changes))
            if changes.done:
                mailbox_changed(ctx, mailbox.id)  # type: ignore[arg-type]

    @app.event("message", matchers=[lambda event: is_csv_share(event)])
    def import_csv(event: dict[str, Any], body: dict[str, Any]) -> None:
        user = event["user"]
        try:
            _words, address = split_mailbox(event.get("text", ""))
            mailbox = choose_mailbox(
                ctx.roles,
                ctx.mailboxes,
                user,
                body.get("team_id", ""),
                address=address,
                manage=True,
            )
            for file in event.get("files") or []:
                if not _is_csv(file):
                    continue
                found, skipped = contacts.parse_contacts_csv(download(ctx, file))
                changes = contacts.add_contacts(ctx, mailbox.id, found, user)  # type: ignore[arg-type]
                ctx.slack.dm(user, contacts_changed_text("Added", mailbox, changes, skipped))
            mailbox_changed(ctx, mailbox.id)  # type: ignore[arg-type]
        except (UserError, ServiceError) as exc:
            ctx.slack.dm(user, exc.message)
        except Exception:
            log.exception("contacts import failed")
            ctx.slack.dm(
                user,
                _(
                    "Mailroom could not import that file because of an error on its "
                    "side; nothing was added. Try again in a minute."
                ),
            )


def _set_mode(ctx: AppContext, body: dict[str, Any], mailbox: Mailbox, words: list[str]) -> None:
    mode = words[0].lower() if words else ""
    updated = ctx.lifecycle.set_sync_mode(user_of(body), mailbox, mode)
    if mode == "partial":
        count = len(contacts.patterns_of(ctx, mailbox.id))  # type: ignore[arg-type]
        if not count:
            text = _(
                "{address} now syncs in partial mode. Only mail exchanged with its 0 contacts "
                "is posted from now on; other mail is skipped (never posted later). It has no "
                "contacts yet: add some with `/mail-contacts add`."
            ).format(address=updated.address)
        else:
            text = ngettext(
                "{address} now syncs in partial mode. Only mail exchanged with its {n} contact "
                "is posted from now on; other mail is skipped (never posted later).",
                "{address} now syncs in partial mode. Only mail exchanged with its {n} contacts "
                "is posted from now on; other mail is skipped (never posted later).",
                count,
            ).format(address=updated.address, n=count)
    else:
        text = _(
            "{address} now syncs in full mode. Every email is posted from now on (mail skipped "
            "earlier stays skipped)."
        ).format(address=updated.address)
    tell(ctx, body, text)
    mailbox_changed(ctx, mailbox.id)  # type: ignore[arg-type]
