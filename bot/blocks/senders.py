"""Block Kit for /mail-verify and /dkim-check: the modal, the answers, the DKIM report.

Everything that came from outside (DNS answers, AWS messages, addresses, sender names) goes
through ``escape`` before it reaches Slack: a TXT record can hold ``<!channel>`` as easily as
an email subject can.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.blocks.common import (
    Block,
    actions,
    button,
    context,
    modal,
    plain,
    section,
    select_input,
    text_input,
)
from bot.blocks.status import when
from bot.domain_checks import DomainReport
from bot.formatting.slack_text import code_span, escape
from locales import N_, _, ngettext
from storage.models import DomainReportRow, Mailbox, SenderVerification

if TYPE_CHECKING:
    from bot.senders.answers import DomainCheck, VerifyAnswer

VERIFY_CALLBACK = "mail_verify"
SEND_AGAIN = "ses_verify_again"
SEND_VIA = "ses_send_via"
CHECK_AGAIN = "dkim_check_again"
SETUP_SES = "dkim_setup_ses"
WATCH = "dkim_watch"
UNWATCH = "dkim_unwatch"
HOME_CHECK = "dkim_check_open"  # App Home's "Check DKIM" button (value: the domain)
NEW_ADDRESS = "new"
MAX_REPORT_LINES = 40  # Slack allows 50 blocks; the rest are the header, notes and buttons

STATUS_LABELS = {
    "pass": (":white_check_mark:", N_("pass")),
    "warn": (":warning:", N_("warn")),
    "fail": (":x:", N_("fail")),
    "unknown": (":grey_question:", N_("could not check")),
}
VERIFICATION_LABELS = {
    "SUCCESS": N_(":white_check_mark: verified"),
    "PENDING": N_(":hourglass_flowing_sand: waiting for the link to be clicked"),
    "FAILED": N_(":x: verification failed"),
    "EXPIRED": N_(":x: link expired"),
}


def status_label(status: str) -> str:
    if status in STATUS_LABELS:
        emoji, label = STATUS_LABELS[status]
        return f"{emoji} {_(label)}"
    return f":grey_question: {status}"


def verification_label(status: str) -> str:
    """A verification's state in words (an unknown one escaped, as it came from SES)."""
    label = VERIFICATION_LABELS.get(status)
    return _(label) if label else escape(status)


def code_block(text: str) -> str:
    """A mrkdwn code block for a record to copy (text escaped first, so it shows as typed)."""
    return "```" + escape(text).replace("```", "`\u200b``") + "```"


# --- /mail-verify ---------------------------------------------------------------------------


def verify_modal(mailboxes: Sequence[Mailbox], *, channel_id: str = "") -> dict[str, Any]:
    """Choose a connected mailbox's address or type another; the sender name; SES sending."""
    blocks: list[Block] = [
        section(
            _(
                "Amazon SES emails a link from *no-reply-aws@amazon.com* to the address. Once "
                "someone who reads that mailbox clicks it (within 24 hours), Mailroom may send "
                "as it."
            )
        )
    ]
    options = [(m.address[:75], f"mailbox:{m.id}") for m in mailboxes[:99]]
    if options:
        options.append((_("Another address (type it below)"), NEW_ADDRESS))
        blocks.append(select_input("mailbox", _("Sender address"), options, initial=options[0][1]))
        blocks.append(
            text_input(
                "address",
                _("Other address"),
                optional=True,
                placeholder="sales@yourcompany.com",
                hint=_("Only when you chose 'Another address' above."),
            )
        )
    else:
        blocks.append(
            text_input("address", _("Sender address"), placeholder="sales@yourcompany.com")
        )
    blocks.append(
        text_input(
            "sender_name",
            _("Sender name"),
            optional=True,
            hint=_("The name customers see, like 'Ana from Acme'."),
        )
    )
    if options:
        blocks.append(
            {
                "type": "input",
                "block_id": "send_via",
                "optional": True,
                "label": plain(_("Sending")),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {
                            "text": plain(_("Send this mailbox's replies through Amazon SES")),
                            "description": plain(
                                _("Replies wait until SES has verified the address.")
                            ),
                            "value": "ses",
                        }
                    ],
                },
            }
        )
    return modal(
        _("Verify a sender"),
        blocks,
        callback_id=VERIFY_CALLBACK,
        submit=_("Verify"),
        private_metadata=json.dumps({"channel_id": channel_id}),
    )


def verify_answer(answer: VerifyAnswer) -> tuple[str, list[Block]]:
    """The answer to /mail-verify: what SES did, and what happens next, in plain words."""
    start, mailbox = answer.start, answer.mailbox
    address = escape(start.address)
    name = escape(answer.row.sender_name)
    lines = [f":incoming_envelope: {escape(start.message)}"]
    if start.outcome in ("sent", "resent"):
        deadline = answer.row.started_at + timedelta(hours=24)
        lines.append(
            _(
                "*What happens next:* open the email from no-reply-aws@amazon.com (check the spam "
                "folder too) and click its link before {deadline}. Mailroom checks with SES "
                "every minute for the next 10 minutes, then every 10 minutes, and tells you in a "
                "direct message as soon as the address is verified, or if the link expires."
            ).format(deadline=when(deadline))
        )
        if name:
            lines.append(
                _(
                    "Once verified, customers see your mail as from *{name}* &lt;{address}&gt;."
                ).format(name=name, address=address)
            )
    elif name:
        lines.append(
            _("Customers see mail from it as *{name}* &lt;{address}&gt;.").format(
                name=name, address=address
            )
        )
    lines += account_notes(answer)
    if mailbox is not None:
        lines.append(send_via_sentence(mailbox, verified=answer.row.status == "SUCCESS"))
    blocks: list[Block] = [section("\n\n".join(lines))]
    buttons = []
    if start.outcome in ("sent", "resent"):
        buttons.append(button(_("Send again"), SEND_AGAIN, start.address))
    if mailbox is not None:
        buttons.append(send_via_button(mailbox))
    buttons.append(
        button(
            _("Check the domain's DKIM"),
            CHECK_AGAIN,
            check_value(start.address.rpartition("@")[2]),
        )
    )
    blocks.append(actions(*buttons, block_id="verify_actions"))
    return start.message, blocks


def account_notes(answer: VerifyAnswer) -> list[str]:
    account = answer.account
    if account is None:
        return []
    notes = []
    if account.sending_enabled is False:
        notes.append(
            ":warning: "
            + _(
                "Sending is paused on this AWS account, so SES will not send anything even "
                "once the address is verified. See the Account dashboard in the Amazon SES "
                "console for the reason and ask AWS to resume sending."
            )
        )
    if account.production_access_enabled is False:
        notes.append(
            ":information_source: "
            + _(
                "This AWS account is in the SES sandbox: it may only send to "
                "verified addresses. Request production access in the SES console before "
                "answering customers through SES."
            )
        )
    return notes


def send_via_sentence(mailbox: Mailbox, *, verified: bool) -> str:
    address = escape(mailbox.address)
    if mailbox.send_via == "ses":
        if verified:
            return _("The mailbox {address} sends its replies through Amazon SES.").format(
                address=address
            )
        return _(
            "The mailbox {address} sends its replies through Amazon SES: replies wait until the "
            "address is verified, and the mailbox cannot be activated before that."
        ).format(address=address)
    return _(
        "The mailbox {address} sends its replies through its own SMTP server. Press *Send "
        "through SES* to send them through Amazon SES instead."
    ).format(address=address)


def send_via_button(mailbox: Mailbox) -> dict[str, Any]:
    if mailbox.send_via == "ses":
        return button(_("Send through SMTP"), SEND_VIA, f"{mailbox.id}:smtp")
    return button(_("Send through SES"), SEND_VIA, f"{mailbox.id}:ses")


def send_via_changed(mailbox: Mailbox, *, verified: bool) -> str:
    if mailbox.send_via == "ses":
        return send_via_sentence(mailbox, verified=verified)
    return _("The mailbox {address} sends its replies through its own SMTP server again.").format(
        address=escape(mailbox.address)
    )


def verification_outcome_message(
    row: SenderVerification, mailbox: Mailbox | None
) -> tuple[str, list[Block]]:
    """The once-only message when a verification is verified, fails or expires."""
    identity = escape(row.identity)
    is_domain = "@" not in row.identity
    buttons: list[dict[str, Any]] = []
    if row.status == "SUCCESS":
        if is_domain:
            text = ":white_check_mark: " + _(
                "Amazon SES has verified {identity}: its Easy DKIM records are "
                "in place, so SES signs mail from every address at it with DKIM."
            ).format(identity=identity)
        else:
            name = escape(row.sender_name)
            shown = f"*{name}* &lt;{identity}&gt;" if name else identity
            text = ":white_check_mark: " + _(
                "{identity} is verified in Amazon SES: Mailroom can now send as {sender}."
            ).format(identity=identity, sender=shown)
            if mailbox is not None and mailbox.send_via == "ses" and not mailbox.active:
                text += " " + _("Activate the mailbox from `/mail-status` to start using it.")
    elif row.status == "EXPIRED":
        if is_domain:
            text = ":x: " + _(
                "Amazon SES did not find the Easy DKIM records of {identity} within {hours} "
                "hours. Publish the three CNAME records and check them with `/dkim-check`."
            ).format(identity=identity, hours=72)
        else:
            text = ":x: " + _(
                "The verification link for {identity} was not clicked within {hours} hours and "
                "has expired. Press *Send again* for a new email, and click its link within 24 "
                "hours."
            ).format(identity=identity, hours=24)
    else:
        if is_domain:
            text = ":x: " + _(
                "Amazon SES could not verify {identity}: it did not find the Easy DKIM CNAME "
                "records. Check them with `/dkim-check`, fix what it reports, then set up DKIM "
                "again."
            ).format(identity=identity)
        else:
            text = ":x: " + _(
                "Amazon SES could not verify {identity} (the verification failed or the "
                "identity was removed from SES). Press *Send again* for a new verification email."
            ).format(identity=identity)
    if is_domain:
        buttons.append(button(_("Check again"), CHECK_AGAIN, check_value(row.identity)))
    elif row.status != "SUCCESS":
        buttons.append(button(_("Send again"), SEND_AGAIN, row.identity, style="primary"))
    blocks: list[Block] = [section(text)]
    if buttons:
        blocks.append(actions(*buttons, block_id="verification_outcome"))
    return text, blocks


def verification_status_line(
    mailbox: Mailbox, row: SenderVerification | None, *, covered_by: SenderVerification | None
) -> str:
    """One /mail-status line about the mailbox's sender in SES."""
    if covered_by is not None:
        state = ":white_check_mark: " + _("verified through its domain {domain}").format(
            domain=escape(covered_by.identity)
        )
    elif row is None:
        state = ":x: " + _("not verified (run `/mail-verify {address}`)").format(
            address=escape(mailbox.address)
        )
    elif row.status == "PENDING":
        state = ":hourglass_flowing_sand: " + _(
            "waiting for the link to be clicked (sent {time})"
        ).format(time=when(row.started_at))
    else:
        state = verification_label(row.status)
    if mailbox.send_via == "ses":
        return _("Sends through Amazon SES · SES sender: {state}").format(state=state)
    return _("Sends through its SMTP server · SES sender: {state}").format(state=state)


def senders_footer_line(rows: Iterable[SenderVerification]) -> str:
    parts = [f"{escape(r.identity)} {verification_label(r.status)}" for r in list(rows)[:15]]
    return _("*SES identities:* {list}").format(list=" · ".join(parts)) if parts else ""


# --- /dkim-check ----------------------------------------------------------------------------


def check_value(domain: str, selectors: Sequence[str] = ()) -> str:
    """Button value carrying what to check again: the domain and the selectors asked for."""
    return json.dumps({"d": domain, "s": list(selectors)}, separators=(",", ":"))


def parse_check_value(value: str) -> tuple[str, list[str]]:
    try:
        data = json.loads(value)
        return str(data["d"]), [str(s) for s in data.get("s") or []]
    except (ValueError, KeyError, TypeError):
        return value, []  # a bare domain (App Home's button)


def count_label(status: str, n: int) -> str:
    """``2 fail``, ``1 could not check``: one complete message per status."""
    if status == "fail":
        return ngettext("{n} fail", "{n} fail", n).format(n=n)
    if status == "unknown":
        return ngettext("{n} could not check", "{n} could not check", n).format(n=n)
    if status == "warn":
        return ngettext("{n} warn", "{n} warn", n).format(n=n)
    return ngettext("{n} pass", "{n} pass", n).format(n=n)


def report_counts(report: DomainReport) -> str:
    counts: dict[str, int] = {}
    for line in report.lines:
        counts[line.status] = counts.get(line.status, 0) + 1
    return " · ".join(
        count_label(s, counts[s]) for s in ("fail", "unknown", "warn", "pass") if counts.get(s)
    )


def dkim_report_message(result: DomainCheck) -> tuple[str, list[Block]]:
    """The /dkim-check answer: a line per check (status, what was found, the record to
    publish when something must change), then what to do next."""
    report = result.report
    domain = escape(report.domain)
    verdict = report.verdict
    headline = {
        "pass": _("every check passes"),
        "warn": _("works, with warnings"),
        "fail": _("needs changes"),
        "unknown": _("some checks could not be done"),
    }[verdict]
    counts = report_counts(report)
    text = _("DKIM, SPF, DMARC and MX for {domain}: {verdict} ({counts})").format(
        domain=report.domain, verdict=_(STATUS_LABELS[verdict][1]), counts=counts
    )
    checked = _("checked {time}").format(time=when(report.checked_at))
    blocks: list[Block] = [
        section(f"{STATUS_LABELS[verdict][0]} *{domain}*: {headline}\n{counts} · {checked}")
    ]
    if result.ses_records:
        n = len(result.ses_records)
        blocks.append(
            section(
                ngettext(
                    "*Amazon SES Easy DKIM for {domain}:* publish this {n} CNAME record exactly "
                    "as shown (the checks below say whether the DNS has each one):",
                    "*Amazon SES Easy DKIM for {domain}:* publish these {n} CNAME records exactly "
                    "as shown (the checks below say whether the DNS has each one):",
                    n,
                ).format(domain=domain, n=n)
                + "\n"
                + code_block("\n".join(result.ses_records))
            )
        )
    shown = report.lines[:MAX_REPORT_LINES]
    for line in shown:
        body = (
            f"{status_label(line.status)} · *{escape(line.check)}* {code_span(escape(line.name))}\n"
            f"{escape(line.detail)}"
        )
        if line.fix:
            body += "\n" + code_block(line.fix)
        blocks.append(section(body))
    notes = []
    if len(report.lines) > len(shown):
        notes.append(
            _("…and {n} more lines not shown; check fewer selectors at a time.").format(
                n=len(report.lines) - len(shown)
            )
        )
    notes.append(ses_note(result))
    notes.append(
        _(
            "DNS changes can take a while to reach every server (up to the record's TTL). "
            "Could not check means the DNS did not answer: it says nothing about the record."
        )
    )
    blocks.append(context(*[n for n in notes if n]))
    buttons = [button(_("Check again"), CHECK_AGAIN, check_value(report.domain, result.selectors))]
    if result.watching:
        buttons.append(button(_("Stop watching"), UNWATCH, report.domain))
    else:
        buttons.append(
            button(_("Watch this domain"), WATCH, check_value(report.domain, result.selectors))
        )
    if result.ses_state == "missing":
        buttons.append(button(_("Set up DKIM with SES"), SETUP_SES, report.domain, style="primary"))
    blocks.append(actions(*buttons, block_id="dkim_actions"))
    return text, blocks


def ses_note(result: DomainCheck) -> str:
    domain = escape(result.report.domain)
    state = result.ses_state
    if state == "off":
        return _(
            "Amazon SES is not configured on this Mailroom server, so Easy DKIM was not checked."
        )
    if state == "missing":
        return _(
            "{domain} is not an Amazon SES identity yet. *Set up DKIM with SES* creates "
            "it and gives you three CNAME records to publish, so SES signs your mail with DKIM."
        ).format(domain=domain)
    if state == "pending":
        return _(
            "Amazon SES is still verifying {domain}: once its three CNAME records "
            "resolve, SES verifies it (it gives up after 72 hours)."
        ).format(domain=domain)
    if state == "failed":
        return _(
            "Amazon SES gave up verifying {domain}: publish the CNAME records, then set up "
            "DKIM with SES again."
        ).format(domain=domain)
    if state == "verified":
        return _("{domain} is verified in Amazon SES.").format(domain=domain)
    return ""


def watch_started(domain: str, verdict: str | None, interval: timedelta) -> str:
    hours = max(1, int(interval.total_seconds() // 3600))
    if hours == 1:
        watching = _("Watching {domain}: Mailroom checks it again every hour.")
    else:
        watching = ngettext(
            "Watching {domain}: Mailroom checks it again every {n} hour.",
            "Watching {domain}: Mailroom checks it again every {n} hours.",
            hours,
        )
    watching = watching.format(domain=escape(domain), n=hours)
    if verdict == "pass":
        rest = _(
            "It passes every check now; you will be told once when every check passes, and "
            "once if a passing domain breaks later. Press *Stop watching* on a report to stop."
        )
    else:
        rest = _(
            "You will be told once when every check passes, and once if a passing domain "
            "breaks later. Press *Stop watching* on a report to stop."
        )
    return f":eyes: {watching} {rest}"


def watch_event_message(event: str, result: DomainCheck) -> tuple[str, list[Block]]:
    """A watch's once-only news: the domain now passes, or a passing domain broke."""
    domain = escape(result.report.domain)
    if event == "passing":
        intro = ":white_check_mark: " + _(
            "Good news: {domain} now passes every DKIM, SPF, DMARC and MX check."
        ).format(domain=domain)
    else:
        intro = ":rotating_light: " + _(
            "{domain} passed every check before, but not anymore ({counts}). The report below "
            "says what changed and what to publish."
        ).format(domain=domain, counts=report_counts(result.report))
    text, blocks = dkim_report_message(result)
    return f"{intro} {text}", [section(intro), *blocks][:50]


def domain_footer_line(rows: Sequence[DomainReportRow], watched: set[str]) -> str:
    """Each domain's latest verdict for /mail-status (admins)."""
    parts = []
    for row in rows[:15]:
        watch = " :eyes:" if row.domain in watched else ""
        parts.append(
            f"{escape(row.domain)} {status_label(row.verdict)} ({when(row.created_at)}){watch}"
        )
    return (
        _("*Domains (latest /dkim-check):* {list}").format(list=" · ".join(parts)) if parts else ""
    )
