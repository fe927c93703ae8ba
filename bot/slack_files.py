"""Downloading files people share in Slack, without handing the bot token to anyone else.

A file object in a Slack event says where its bytes are (``url_private_download``), and
Mailroom must send the bot token to fetch them. That URL is only trusted when it points at
Slack's own file host (or the configured ``SLACK_API_URL`` host, which is what tests and
proxies use): a remote file (``mode`` "external"/"remote", ``is_external``, an
``external_url``) is a link to somebody else's server, and a redirect could lead anywhere,
so neither is ever fetched with the token. Bytes are streamed with a size cap, so one huge
file cannot fill the memory of the process.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from slack_sdk.errors import SlackApiError

from bot.settings import Settings
from locales import N_, _
from providers.errors import ServiceError, UserError

# Where Slack serves ``url_private`` / ``url_private_download`` for every workspace.
SLACK_FILE_ORIGINS = frozenset({("https", "files.slack.com", 443)})
CHUNK_BYTES = 64 * 1024
TIMEOUT_SECONDS = 30


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host or parts.username or parts.password:
        return None
    return scheme, host, port or (443 if scheme == "https" else 80)


def allowed_origins(settings: Settings) -> frozenset[tuple[str, str, int]]:
    """Slack's file host, plus the origin of ``SLACK_API_URL`` (scheme, host and port)."""
    configured = _origin(settings.slack_api_url)
    return SLACK_FILE_ORIGINS | ({configured} if configured else set())


def is_slack_hosted(settings: Settings, url: str) -> bool:
    origin = _origin(url)
    return origin is not None and origin in allowed_origins(settings)


def is_remote_file(file: dict[str, Any]) -> bool:
    """A link to a file kept outside Slack (Google Drive, Dropbox, a remote file added by an
    app): its URL is not Slack's to vouch for."""
    mode = str(file.get("mode") or "").lower()
    return bool(file.get("is_external") or file.get("external_url")) or mode in (
        "external",
        "remote",
    )


def file_url(file: dict[str, Any]) -> str | None:
    return file.get("url_private_download") or file.get("url_private") or None


def stored_file(file: dict[str, Any]) -> dict[str, Any]:
    """What an outgoing mail needs to know of a Slack file (kept with the message, in
    ``Message.files_json``, so the exactly-once send path attaches it even after a crash)."""
    return {
        "id": file.get("id"),
        "name": file.get("name") or file.get("title") or "file",
        "mimetype": file.get("mimetype") or "application/octet-stream",
        "url": file_url(file),
        "size": file.get("size", 0),
        # A link to a file kept outside Slack: never fetched with the bot token.
        "remote": is_remote_file(file),
    }


def own_files(client: Any, file_ids: list[str], user_id: str) -> list[dict[str, Any]]:
    """The Slack files ``file_ids`` names (asked of Slack, never taken from the request),
    each one uploaded by ``user_id``: an id is untrusted, and a file somebody else uploaded
    must not leave by email because its id was put in a form. Raises UserError naming the
    refused file, ServiceError when Slack does not answer."""
    files: list[dict[str, Any]] = []
    for file_id in file_ids:
        try:
            file = client.files_info(file=file_id)["file"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("file_not_found", "file_deleted"):
                raise UserError(
                    _("One of the files is no longer in Slack. Remove it and upload it again.")
                ) from None
            raise ServiceError(
                _(
                    "Mailroom could not ask Slack about your files ({error}). Try again in a "
                    "minute."
                ).format(error=exc.response.get("error"))
            ) from None
        if not user_id or file.get("user") != user_id:
            raise UserError(
                _(
                    "{name} was not uploaded by you, so Mailroom will not send it. Attach only "
                    "files you uploaded yourself."
                ).format(name=file.get("name") or file_id)
            )
        files.append(file)
    return files


TOO_LARGE_HINT = N_("Share a link to it instead.")


def download_slack_file(
    settings: Settings,
    url: str,
    *,
    name: str,
    max_bytes: int,
    too_large_hint: str = TOO_LARGE_HINT,
) -> bytes:
    """The bytes of a Slack-hosted file, fetched with the bot token; at most ``max_bytes``.

    Raises UserError when the URL is not Slack's or the file is too large, ServiceError when
    Slack does not hand it over. Redirects are never followed: the token goes to one URL,
    checked first.
    """
    if not is_slack_hosted(settings, url):
        raise UserError(
            _(
                "{name} is not stored in Slack, so Mailroom did not download it. Upload the "
                "file itself to Slack (not a link to it), or put the link in your message."
            ).format(name=name)
        )
    try:
        response = requests.get(
            url,
            headers={"Authorization": f"Bearer {settings.slack_bot_token}"},
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
            stream=True,
        )
    except requests.RequestException as exc:
        raise ServiceError(
            _(
                "Mailroom could not reach Slack to download {name} ({error}). Try again in a "
                "minute."
            ).format(name=name, error=type(exc).__name__)
        ) from None
    with response:
        if response.status_code != 200:
            raise ServiceError(
                _(
                    "Slack did not let Mailroom download {name} (HTTP {status}). Check the app "
                    "has the files:read scope."
                ).format(name=name, status=response.status_code)
            )
        return _read_capped(response, name, max_bytes, too_large_hint)


def _read_capped(
    response: requests.Response, name: str, max_bytes: int, too_large_hint: str
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise UserError(
                _("The file {name} is larger than the {limit} limit.").format(
                    name=name, limit=size_limit_text(max_bytes)
                )
                + " "
                + _(too_large_hint)
            )
        chunks.append(chunk)
    return b"".join(chunks)


def size_limit_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size // (1024 * 1024)} MB"
    return f"{max(1, size // 1024)} KB"
