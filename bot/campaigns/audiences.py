"""Audiences: named recipient lists, CSV import from Slack files, single add/remove.

A CSV import never guesses silently: every row that is not added is reported with its line
number and the reason (invalid address, duplicate, suppressed), and a file that cannot be
read at all (not UTF-8, no address column, too big) is refused with what to do instead.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import insert
from sqlmodel import col, func, select

from bot.slack_files import download_slack_file, file_url, is_remote_file
from locales import N_, _, format_number, ngettext, speaking
from providers.errors import ServiceError, UserError
from storage.models import Audience, AudienceMember, Suppression, saved_id, utcnow

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
ADDRESS_HEADERS = frozenset(
    {
        "email",
        "e_mail",
        "mail",
        "email_address",
        "e_mail_address",
        "address",
        "correo",
        "correo_electronico",
        "correo_electrónico",
        "courriel",
    }
)
FIELD_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
AUDIENCE_NAME_RE = re.compile(r"^[\w .-]{1,60}$")


# --- Addresses -----------------------------------------------------------------------------


def normalise_address(value: str) -> str:
    """The address email-validator accepts, lower-cased; raises ValueError with its reason."""
    value = value.strip().strip("<>").removeprefix("mailto:")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    # The ASCII form (punycode domain) when there is one: no SMTPUTF8 needed to send to it.
    return (result.ascii_email or result.normalized).lower()


def field_name(header: str) -> str:
    """``First Name`` → ``first_name``; "" when nothing usable is left."""
    name = re.sub(r"[^a-z0-9_]+", "_", header.strip().lower()).strip("_")
    return name if FIELD_NAME_RE.match(name) else ""


# --- CSV parsing ---------------------------------------------------------------------------


@dataclass
class ParsedRow:
    line: int
    address: str
    fields: dict[str, str]


@dataclass
class CsvResult:
    rows: list[ParsedRow] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)  # line, value, why
    duplicates: list[tuple[int, str]] = field(default_factory=list)  # line, address
    empty_lines: int = 0


def too_large(max_bytes: int) -> UserError:
    size = (
        f"{max_bytes // (1024 * 1024)} MB"
        if max_bytes >= 1024 * 1024
        else ngettext("{n} byte", "{n} bytes", max_bytes).format(n=format_number(max_bytes))
    )
    return UserError(
        _(
            "That file is larger than {size}. Split it into smaller CSV files and import them "
            "one at a time into the same audience."
        ).format(size=size)
    )


def decode_csv(data: bytes) -> str:
    if len(data) > MAX_CSV_BYTES:
        raise too_large(MAX_CSV_BYTES)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(
            _(
                "The file is not UTF-8 text (the first unreadable byte is on line {line}), so "
                'nothing was imported. Export it again as "CSV UTF-8" (Excel: Save As → CSV '
                "UTF-8; Google Sheets exports UTF-8 already) and share it again."
            ).format(line=line)
        ) from None


def parse_audience_csv(data: bytes) -> CsvResult:
    """Rows with a valid address and their merge fields; everything else with its reason."""
    text = decode_csv(data)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:8192], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    if len(rows) > MAX_ROWS + 1:
        raise UserError(
            _(
                "That file has {rows} rows; Mailroom imports up to {most} at a time. "
                "Split it and import the parts into the same audience."
            ).format(rows=format_number(len(rows)), most=format_number(MAX_ROWS))
        )
    header = rows[0] if rows and not any("@" in cell for cell in rows[0]) else None
    data_rows = rows[1:] if header is not None else rows
    first_line = 2 if header is not None else 1
    column = address_column(header, data_rows)
    if column is None:
        raise UserError(
            _(
                "I could not find the email address column in that file: no header is called "
                "email (or e-mail, mail, correo) and no column holds addresses. Add a header "
                "row with an `email` column and share the file again. Nothing was imported."
            )
        )
    names = [field_name(h) for h in header] if header is not None else []
    merge = [
        (i, n)
        for i, n in enumerate(names)
        if i != column and n and n != "email" and names.index(n) == i
    ]
    result = CsvResult(fields=[n for _i, n in merge])
    seen: dict[str, int] = {}
    for offset, row in enumerate(data_rows):
        line = first_line + offset
        if not any(cell.strip() for cell in row):
            result.empty_lines += 1
            continue
        value = row[column].strip() if column < len(row) else ""
        try:
            address = normalise_address(value)
        except ValueError as exc:
            result.invalid.append((line, value, str(exc) if value else _("no address")))
            continue
        if address in seen:
            result.duplicates.append((line, address))
            continue
        seen[address] = line
        fields = {n: row[i].strip() for i, n in merge if i < len(row) and row[i].strip()}
        result.rows.append(ParsedRow(line, address, fields))
    return result


def address_column(header: list[str] | None, rows: list[list[str]]) -> int | None:
    """The column named like an address, else the one whose cells are mostly addresses."""
    if header is not None:
        for index, cell in enumerate(header):
            if field_name(cell) in ADDRESS_HEADERS:
                return index
    sample = rows[:200]
    best, best_score = None, 0
    width = max((len(r) for r in sample), default=0)
    for index in range(width):
        cells = [r[index].strip() for r in sample if index < len(r) and r[index].strip()]
        score = sum(1 for c in cells if _looks_like_address(c))
        if cells and score * 2 >= len(cells) and score > best_score:
            best, best_score = index, score
    return best


def _looks_like_address(value: str) -> bool:
    try:
        normalise_address(value)
    except ValueError:
        return False
    return True


# --- Slack file download -------------------------------------------------------------------


def download_csv(ctx: Core, file: dict, *, max_bytes: int = MAX_CSV_BYTES) -> bytes:
    """A CSV shared in Slack, through the one token-safe download (``bot.slack_files``)."""
    name = str(file.get("name") or _("the file"))
    url = file_url(file)
    if url is None or is_remote_file(file):
        raise UserError(
            _(
                "Slack did not share {name} as a file Mailroom can read. Upload the CSV file "
                "itself (not a link to it) and try again."
            ).format(name=name)
        )
    if int(file.get("size") or 0) > max_bytes:
        raise too_large(max_bytes)
    return download_slack_file(
        ctx.settings,
        url,
        name=name,
        max_bytes=max_bytes,
        too_large_hint=N_(  # translated by download_slack_file
            "Split it into smaller CSV files and import them one at a time into the same audience."
        ),
    )


# --- Storage -------------------------------------------------------------------------------


def check_audience_name(name: str) -> str:
    name = " ".join(name.split())
    if not AUDIENCE_NAME_RE.match(name):
        raise UserError(
            _(
                "Audience names are up to 60 letters, digits, spaces, dots, dashes or "
                "underscores, like `newsletter-es`."
            )
        )
    return name


def create_audience(ctx: Core, team_id: str, name: str, user_id: str) -> Audience:
    name = check_audience_name(name)
    if find_audience(ctx, team_id, name) is not None:
        raise UserError(_("There is already an audience called {name}.").format(name=name))
    audience = Audience(team_id=team_id, name=name, created_by=user_id)
    if not ctx.db.insert_once(audience):
        raise UserError(_("There is already an audience called {name}.").format(name=name))
    return audience


def find_audience(ctx: Core, team_id: str, name: str) -> Audience | None:
    with ctx.db.session() as session:
        return session.exec(
            select(Audience).where(
                Audience.team_id == team_id, func.lower(Audience.name) == name.strip().lower()
            )
        ).first()


def require_audience(ctx: Core, team_id: str, name: str) -> Audience:
    audience = find_audience(ctx, team_id, name)
    if audience is None:
        raise UserError(
            _(
                "There is no audience called {quoted}. Create it with "
                "`/mail-audience create {name}` or see them all with `/mail-audience list`."
            ).format(quoted=repr(name), name=name)
        )
    return audience


def list_audiences(ctx: Core, team_id: str) -> list[tuple[Audience, int]]:
    with ctx.db.session() as session:
        counts = dict(
            session.exec(
                select(AudienceMember.audience_id, func.count())
                .join(Audience, col(Audience.id) == AudienceMember.audience_id)
                .where(Audience.team_id == team_id)
                .group_by(col(AudienceMember.audience_id))
            ).all()
        )
        audiences = session.exec(
            select(Audience).where(Audience.team_id == team_id).order_by(col(Audience.name))
        ).all()
    return [(a, counts.get(saved_id(a), 0)) for a in audiences]


def suppressed_addresses(ctx: Core, team_id: str) -> set[str]:
    with ctx.db.session() as session:
        return set(
            session.exec(select(Suppression.address).where(Suppression.team_id == team_id)).all()
        )


def known_fields(ctx: Core, team_id: str) -> set[str]:
    """Merge fields present in any of the workspace's audiences."""
    with ctx.db.session() as session:
        rows = session.exec(
            select(AudienceMember.fields_json)
            .join(Audience, col(Audience.id) == AudienceMember.audience_id)
            .where(Audience.team_id == team_id, AudienceMember.fields_json != "{}")
            .limit(5000)
        ).all()
    names: set[str] = set()
    for raw in rows:
        names.update(json.loads(raw or "{}"))
    return names


@dataclass
class ImportReport:
    audience: str
    added: int = 0
    updated: int = 0
    fields: list[str] = field(default_factory=list)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)
    duplicates: list[tuple[int, str]] = field(default_factory=list)
    suppressed: list[tuple[int, str]] = field(default_factory=list)
    empty_lines: int = 0


IMPORT_CHUNK = 5000


def import_rows(
    ctx: Core,
    audience: Audience,
    parsed: CsvResult,
    user_id: str,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Add the parsed rows (updating the merge fields of addresses already there), committed
    in chunks; ``progress(done, total)`` after each chunk. Importing the same file again
    after an interruption adds nothing twice."""
    report = ImportReport(
        audience=audience.name,
        fields=parsed.fields,
        invalid=parsed.invalid,
        duplicates=parsed.duplicates,
        empty_lines=parsed.empty_lines,
    )
    blocked = suppressed_addresses(ctx, audience.team_id)
    wanted: list[ParsedRow] = []
    for row in parsed.rows:
        if row.address in blocked:
            report.suppressed.append((row.line, row.address))
        else:
            wanted.append(row)
    with ctx.db.session() as session:
        existing = dict(
            session.exec(
                select(AudienceMember.address, AudienceMember.id).where(
                    AudienceMember.audience_id == audience.id
                )
            ).all()
        )
    for start in range(0, len(wanted), IMPORT_CHUNK):
        chunk = wanted[start : start + IMPORT_CHUNK]
        new_rows = [
            {
                "audience_id": audience.id,
                "address": row.address,
                "fields_json": json.dumps(row.fields, ensure_ascii=False),
                "added_by": user_id,
                "created_at": utcnow(),
            }
            for row in chunk
            if row.address not in existing
        ]
        with ctx.db.session() as session:
            if new_rows:
                session.execute(insert(AudienceMember.__table__), new_rows)  # type: ignore[attr-defined]
            for row in chunk:
                if row.address not in existing:
                    continue
                member = session.get(AudienceMember, existing[row.address])
                if member is not None and row.fields:
                    merged = {**json.loads(member.fields_json or "{}"), **row.fields}
                    member.fields_json = json.dumps(merged, ensure_ascii=False)
                    session.add(member)
        report.added += len(new_rows)
        report.updated += len(chunk) - len(new_rows)
        if progress is not None:
            progress(min(start + IMPORT_CHUNK, len(wanted)), len(wanted))
    return report


@dataclass
class MemberChanges:
    done: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)


def add_members(
    ctx: Core, audience: Audience, values: Iterable[str], user_id: str
) -> MemberChanges:
    changes = MemberChanges()
    blocked = suppressed_addresses(ctx, audience.team_id)
    for value in values:
        try:
            address = normalise_address(value)
        except ValueError as exc:
            changes.invalid.append((value, str(exc)))
            continue
        if address in blocked:
            changes.suppressed.append(address)
            continue
        added = ctx.db.insert_once(
            AudienceMember(audience_id=audience.id, address=address, added_by=user_id)  # type: ignore[arg-type]
        )
        (changes.done if added else changes.unchanged).append(address)
    return changes


def add_mailbox_contacts(
    ctx: Core, audience: Audience, mailbox_address: str | None, user_id: str, channel_id: str
) -> tuple[MemberChanges, int]:
    """Add the contacts (addresses, not @domains) of a mailbox the person can see; returns the
    changes and how many domain contacts were left out."""
    from bot.preferences.contacts import list_contacts
    from bot.roles import choose_mailbox

    mailbox = choose_mailbox(
        ctx.roles,
        ctx.mailboxes,
        user_id,
        audience.team_id,
        address=mailbox_address,
        channel_id=channel_id,
    )
    patterns = [c.pattern for c in list_contacts(ctx, mailbox.id)]  # type: ignore[arg-type]
    addresses = [p for p in patterns if not p.startswith("@")]
    return add_members(ctx, audience, addresses, user_id), len(patterns) - len(addresses)


def import_files(
    ctx: Core, user_id: str, audience_id: int, team_id: str, files: list[dict]
) -> None:
    """Background job: download, parse and store each shared CSV; DM what happened."""
    with ctx.db.session() as session:
        audience = session.get(Audience, audience_id)
    if audience is None or audience.team_id != team_id:
        return
    # A DM from a job: in the language of the person who shared the file.
    with speaking(ctx.languages.of(user_id)):
        _import_each(ctx, user_id, audience, files)


def _import_each(ctx: Core, user_id: str, audience: Audience, files: list[dict]) -> None:
    from bot.blocks.campaigns import import_report_text
    from bot.formatting.slack_text import escape

    for file in files:
        name = escape(str(file.get("name") or _("the file")))
        try:
            parsed = parse_audience_csv(download_csv(ctx, file))
            report = import_rows(
                ctx,
                audience,
                parsed,
                user_id,
                progress=_progress_dm(ctx, user_id, name, len(parsed.rows)),
            )
            ctx.slack.dm(user_id, f"{name}: " + import_report_text(report))
        except (UserError, ServiceError) as exc:
            ctx.slack.dm(user_id, f"{name}: {escape(exc.message)}")
        except Exception:
            log.exception("audience import failed")
            ctx.slack.dm(
                user_id,
                _(
                    "{file}: Mailroom could not import that file because of an error on its "
                    "side; nothing was added. Try again in a minute."
                ).format(file=name),
            )


def _progress_dm(
    ctx: Core, user_id: str, name: str, total: int
) -> Callable[[int, int], None] | None:
    """For big files, one DM updated as chunks are stored ("40,000 of 100,000 rows")."""
    if total <= IMPORT_CHUNK:
        return None
    posted: dict[str, str] = {}

    def report(done: int, wanted: int) -> None:
        text = ngettext(
            "{file}: stored {done} of {n} address…",
            "{file}: stored {done} of {n} addresses…",
            wanted,
        ).format(file=name, done=format_number(done), n=format_number(wanted))
        try:
            if "ts" not in posted:
                channel = ctx.slack.client.conversations_open(users=user_id)["channel"]["id"]
                posted["channel"] = channel
                posted["ts"] = ctx.slack.post(channel, text)
            else:
                ctx.slack.client.chat_update(channel=posted["channel"], ts=posted["ts"], text=text)
        except Exception as exc:  # progress is a courtesy; the import goes on
            log.info("import progress message failed: %s", type(exc).__name__)

    return report


def remove_members(ctx: Core, audience: Audience, values: Iterable[str]) -> MemberChanges:
    changes = MemberChanges()
    with ctx.db.session() as session:
        for value in values:
            try:
                address = normalise_address(value)
            except ValueError as exc:
                changes.invalid.append((value, str(exc)))
                continue
            member = session.exec(
                select(AudienceMember).where(
                    AudienceMember.audience_id == audience.id, AudienceMember.address == address
                )
            ).first()
            if member is None:
                changes.unchanged.append(address)
            else:
                session.delete(member)
                changes.done.append(address)
    return changes


def members(ctx: Core, audience_id: int, limit: int | None = None) -> list[AudienceMember]:
    with ctx.db.session() as session:
        query = (
            select(AudienceMember)
            .where(AudienceMember.audience_id == audience_id)
            .order_by(col(AudienceMember.id))
        )
        if limit:
            query = query.limit(limit)
        return list(session.exec(query))
