"""providers.imap against a real Dovecot: logins, errors, cheap polls, safe fetches."""

from __future__ import annotations

import time
import uuid
from datetime import date

import pytest

from locales import speaking
from providers.errors import ServiceError, UserError
from providers.imap import (
    ImapSession,
    ImapSettings,
    check_login,
    choose_sent_folder,
    classify_imap_error,
    plan_batches,
)
from tests.support.harness import SilentServer
from tests.support.mail_servers import DovecotServer, IntrospectionServer, MailUser, free_port


def settings_for(server: DovecotServer, user: MailUser, **overrides: object) -> ImapSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "username": user.address,
        "password": user.password,
        "timeout": 5.0,
    }
    values.update(overrides)
    return ImapSettings(**values)  # type: ignore[arg-type]


def make_message(subject: str, body: str = "Hello.", message_id: str | None = None) -> bytes:
    message_id = message_id or f"<{uuid.uuid4().hex}@customer.example>"
    return (
        "From: Customer <customer@customer.example>\r\n"
        "To: support@example.com\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Date: Mon, 03 Mar 2025 10:00:00 +0000\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


# -- login and errors ---------------------------------------------------------------------


def test_check_login_succeeds_with_right_password(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    check_login(settings_for(dovecot, mail_user))


def test_wrong_password_is_a_user_error_on_the_password_field(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    wrong = "not-the-" + mail_user.password
    with pytest.raises(UserError) as caught:
        check_login(settings_for(dovecot, mail_user, password=wrong))
    assert caught.value.field == "imap_password"
    assert "AUTHENTICATIONFAILED" in caught.value.message
    assert mail_user.address in caught.value.message
    assert wrong not in caught.value.message
    assert mail_user.password not in caught.value.message


def test_closed_port_is_a_user_error_on_the_host_field(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    port = free_port()
    with pytest.raises(UserError) as caught:
        check_login(settings_for(dovecot, mail_user, port=port, security="ssl"))
    assert caught.value.field == "imap_host"
    assert f"127.0.0.1 port {port}: connection refused" in caught.value.message


def test_unknown_host_is_a_user_error_on_the_host_field(mail_user: MailUser) -> None:
    settings = ImapSettings("no-such-host.invalid", 993, "ssl", mail_user.address, "pw", timeout=5)
    with pytest.raises(UserError) as caught:
        check_login(settings)
    assert caught.value.field == "imap_host"
    assert "no-such-host.invalid" in caught.value.message


def test_ssl_against_a_plain_port_is_a_tls_user_error(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(dovecot, mail_user, security="ssl"))
    assert caught.value.field == "imap_security"
    assert "TLS" in caught.value.message
    assert "STARTTLS" in caught.value.message  # suggests the other mode


def test_starttls_when_the_server_offers_none_is_a_security_user_error(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with pytest.raises(UserError) as caught:
        check_login(settings_for(dovecot, mail_user, security="starttls"))
    assert caught.value.field == "imap_security"
    assert "STARTTLS" in caught.value.message


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_silent_server_is_a_quick_service_error(
    silent_server: SilentServer, mail_user: MailUser, security: str
) -> None:
    settings = ImapSettings(
        "127.0.0.1",
        silent_server.port,
        security,
        mail_user.address,
        "pw",
        timeout=0.3,  # type: ignore[arg-type]
    )
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        check_login(settings)
    assert time.monotonic() - started < 3
    assert caught.value.field == "imap_host"
    assert "did not answer within 0.3 seconds" in caught.value.message


def test_settings_repr_hides_secrets() -> None:
    settings = ImapSettings(
        "imap.example.com", 993, "ssl", "a@example.com", password="hunter2", access_token="tok123"
    )
    assert "hunter2" not in repr(settings)
    assert "tok123" not in repr(settings)


def test_classified_errors_never_repeat_secrets() -> None:
    settings = ImapSettings("imap.example.com", 993, "ssl", "a@example.com", password="hunter2")
    error = classify_imap_error(RuntimeError("server echoed hunter2 back"), settings)
    assert isinstance(error, ServiceError)
    assert "hunter2" not in error.message
    assert "server echoed *** back" in error.message


# -- polling ------------------------------------------------------------------------------


def test_status_reports_uid_state_and_modseq(dovecot: DovecotServer, mail_user: MailUser) -> None:
    dovecot.append(mail_user.address, make_message("one"))
    dovecot.append(mail_user.address, make_message("two"))
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        status = session.status("INBOX")
    assert status.messages == 2
    assert status.uidnext == 3
    assert status.uidvalidity == dovecot.uidvalidity(mail_user.address)
    assert status.highestmodseq is not None and status.highestmodseq > 0


def test_uids_after_returns_only_newer_uids(dovecot: DovecotServer, mail_user: MailUser) -> None:
    for n in range(3):
        dovecot.append(mail_user.address, make_message(f"m{n}"))
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        assert session.uids_after("INBOX", 0) == [1, 2, 3]
        assert session.uids_after("INBOX", 1) == [2, 3]
        # "4:*" matches the last message on the server; it must not come back.
        assert session.uids_after("INBOX", 3) == []
        dovecot.append(mail_user.address, make_message("late"))
        assert session.uids_after("INBOX", 3) == [4]


def test_uids_since_finds_todays_mail(dovecot: DovecotServer, mail_user: MailUser) -> None:
    dovecot.append(mail_user.address, make_message("today"))
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        assert session.uids_since("INBOX", date.today()) == [1]
        assert session.uids_since("INBOX", date(2999, 1, 1)) == []


def test_no_new_mail_poll_costs_the_same_round_trips_whatever_the_size(
    dovecot: DovecotServer,
) -> None:
    small = MailUser(f"s{uuid.uuid4().hex[:10]}@example.com", "pw-small")
    big = MailUser(f"b{uuid.uuid4().hex[:10]}@example.com", "pw-big")
    dovecot.add_user(small.address, small.password)
    dovecot.add_user(big.address, big.password)
    dovecot.append(small.address, make_message("only"))
    dovecot.append_many(big.address, [make_message(f"n{n}") for n in range(300)])

    costs: dict[str, tuple[int, int]] = {}
    for user in (small, big):
        with ImapSession(settings_for(dovecot, user)) as session:
            before = session.round_trips
            status = session.status("INBOX")
            after_status = session.round_trips
            assert session.uids_after("INBOX", status.uidnext - 1) == []
            costs[user.address] = (after_status - before, session.round_trips - after_status)
    assert costs[small.address] == costs[big.address]
    assert costs[small.address][0] == 1  # the STATUS poll is one command


def test_round_trips_count_login(dovecot: DovecotServer, mail_user: MailUser) -> None:
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        # LOGIN and ENABLE CONDSTORE: the greeting already carried the capabilities.
        assert session.round_trips == 2


# -- fetching -----------------------------------------------------------------------------


def test_fetch_returns_messages_in_uid_order_and_never_marks_them_read(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    raws = [make_message(f"m{n}", body=f"body {n}") for n in range(3)]
    for raw in raws:
        dovecot.append(mail_user.address, raw)
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        fetched = list(session.fetch("INBOX", [3, 1, 2]))
    assert [m.uid for m in fetched] == [1, 2, 3]
    assert [m.raw for m in fetched] == raws
    assert all(m.size == len(m.raw) for m in fetched)
    assert all(m.internaldate is not None and m.internaldate.tzinfo for m in fetched)
    flags = dovecot.flags(mail_user.address)
    assert set(flags) == {1, 2, 3}
    assert not any("\\Seen" in f for f in flags.values())


def test_fetch_skips_uids_that_do_not_exist(dovecot: DovecotServer, mail_user: MailUser) -> None:
    dovecot.append(mail_user.address, make_message("only"))
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        assert [m.uid for m in session.fetch("INBOX", [1, 99])] == [1]
        assert list(session.fetch("INBOX", [])) == []


def fetch_commands(session: ImapSession, folder: str, uids: list[int], **bounds: int) -> int:
    """How many commands a full fetch took."""
    before = session.round_trips
    got = [m.uid for m in session.fetch(folder, uids, **bounds)]
    assert got == sorted(uids)
    return session.round_trips - before


def test_fetch_batches_are_bounded_by_bytes(dovecot: DovecotServer, mail_user: MailUser) -> None:
    # Five messages of about 2 KB and one of about 9 KB.
    for n in range(5):
        dovecot.append(mail_user.address, make_message(f"m{n}", body="x" * 2000))
    dovecot.append(mail_user.address, make_message("big", body="y" * 9000))
    uids = [1, 2, 3, 4, 5, 6]
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        # SELECT, one RFC822.SIZE command, then the body batches.
        assert fetch_commands(session, "INBOX", uids) == 2 + 1
        # 5 KB bound: [1,2] [3,4] [5] [6 alone, above the bound].
        assert fetch_commands(session, "INBOX", uids, max_batch_bytes=5000) == 2 + 4
        # Count bound alone.
        assert fetch_commands(session, "INBOX", uids, max_batch_count=4) == 2 + 2


def test_plan_batches_respects_both_bounds() -> None:
    sizes = [(3, 100), (1, 100), (2, 900), (4, 50), (5, 50), (6, 50)]
    assert plan_batches(sizes, max_batch_bytes=200, max_batch_count=10) == [
        [1],
        [2],
        [3, 4, 5],
        [6],
    ]
    assert plan_batches(sizes, max_batch_bytes=10_000, max_batch_count=2) == [
        [1, 2],
        [3, 4],
        [5, 6],
    ]


# -- folders, append, search --------------------------------------------------------------


def test_find_sent_folder_uses_special_use(dovecot: DovecotServer, mail_user: MailUser) -> None:
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        assert "SPECIAL-USE" in session.capabilities()
        assert session.find_sent_folder() == "Sent"


def test_flagged_sent_folder_wins_over_a_usual_name(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with dovecot.client(mail_user.address) as imap:
        imap.create_folder("Sent Items")
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        assert session.find_sent_folder() == "Sent"


def test_choose_sent_folder_falls_back_to_usual_names_case_insensitively() -> None:
    unflagged = [
        ((b"\\HasNoChildren",), b".", "INBOX"),
        ((b"\\HasNoChildren",), b".", "INBOX.sent items"),
        ((b"\\HasNoChildren",), b".", "Archive"),
    ]
    assert choose_sent_folder(unflagged) == "INBOX.sent items"
    gmail = [
        ((b"\\HasNoChildren",), b"/", "INBOX"),
        ((b"\\HasNoChildren", b"\\Sent"), b"/", "[Gmail]/Enviados"),
        ((b"\\HasNoChildren",), b"/", "Sent"),
    ]
    assert choose_sent_folder(gmail) == "[Gmail]/Enviados"
    assert choose_sent_folder([((), b"/", "INBOX")]) is None


def test_append_then_find_by_message_id(dovecot: DovecotServer, mail_user: MailUser) -> None:
    message_id = f"<{uuid.uuid4().hex}@mailroom.example>"
    with ImapSession(settings_for(dovecot, mail_user)) as session:
        sent = session.find_sent_folder()
        assert sent is not None
        uid = session.append(sent, make_message("Re: help", message_id=message_id))
        assert uid == 1
        assert session.find_by_message_id(sent, message_id) == [1]
        assert session.find_by_message_id(sent, "<nobody@nowhere>") == []
    flags = dovecot.flags(mail_user.address, "Sent")
    assert list(flags) == [1]
    assert "\\Seen" in flags[1]  # our own sent copy must not show as unread


def test_unknown_folder_is_a_service_error_with_the_server_words(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with (
        ImapSession(settings_for(dovecot, mail_user)) as session,
        pytest.raises(ServiceError) as caught,
    ):
        session.status("No Such Folder")
    assert "Mailbox doesn't exist" in caught.value.message


def test_uidvalidity_change_is_seen_by_status(dovecot: DovecotServer, mail_user: MailUser) -> None:
    dovecot.append(mail_user.address, make_message("before"))
    settings = settings_for(dovecot, mail_user)
    with ImapSession(settings) as session:
        before = session.status("INBOX")
    new_value = dovecot.set_uidvalidity_changed(mail_user.address)
    with ImapSession(settings) as session:
        after = session.status("INBOX")
    assert after.uidvalidity == new_value
    assert after.uidvalidity != before.uidvalidity
    assert after.messages == 1


# -- XOAUTH2 ------------------------------------------------------------------------------


def oauth_settings(server: DovecotServer, address: str, token: str) -> ImapSettings:
    return ImapSettings(server.host, server.port, "none", address, access_token=token, timeout=5.0)


def test_xoauth2_login_with_an_active_token(
    oauth_dovecot: DovecotServer, introspection: IntrospectionServer
) -> None:
    address = f"o{uuid.uuid4().hex[:10]}@example.com"
    token = uuid.uuid4().hex
    introspection.tokens[token] = address
    with ImapSession(oauth_settings(oauth_dovecot, address, token)) as session:
        assert session.status("INBOX").messages == 0
    assert introspection.requests  # Dovecot really asked the identity provider


def test_xoauth2_with_an_inactive_token_is_a_user_error(
    oauth_dovecot: DovecotServer, introspection: IntrospectionServer
) -> None:
    address = f"o{uuid.uuid4().hex[:10]}@example.com"
    token = "revoked-" + uuid.uuid4().hex
    with pytest.raises(UserError) as caught:
        check_login(oauth_settings(oauth_dovecot, address, token))
    assert caught.value.field == "imap_password"
    assert "Reconnect" in caught.value.message
    assert token not in caught.value.message


def test_xoauth2_token_for_another_user_is_refused(
    oauth_dovecot: DovecotServer, introspection: IntrospectionServer
) -> None:
    token = uuid.uuid4().hex
    introspection.tokens[token] = "someone-else@example.com"
    with pytest.raises(UserError):
        check_login(oauth_settings(oauth_dovecot, f"o{uuid.uuid4().hex[:10]}@example.com", token))


def test_xoauth2_on_a_server_without_it_says_use_a_password(
    dovecot: DovecotServer, mail_user: MailUser
) -> None:
    with pytest.raises(UserError) as caught:
        check_login(oauth_settings(dovecot, mail_user.address, "whatever"))
    assert caught.value.field == "imap_password"
    assert "password instead" in caught.value.message


def refused(port: int) -> UserError:
    settings = ImapSettings("127.0.0.1", port, "ssl", "ana@example.com", "pw", timeout=5)
    with pytest.raises(UserError) as caught:
        check_login(settings)
    return caught.value


def test_imap_connection_refused_in_spanish_and_english() -> None:
    port = free_port()
    with speaking("es"):
        spanish = refused(port)
    assert spanish.field == "imap_host"
    assert spanish.message == (
        f"No se pudo conectar con 127.0.0.1 puerto {port}: conexión rechazada. Revisa el "
        "servidor y el puerto (normalmente 993 con SSL, o 143 con STARTTLS)."
    )
    english = refused(port)
    assert english.message == (
        f"Could not connect to 127.0.0.1 port {port}: connection refused. Check the host and "
        "port (usually 993 with SSL, or 143 with STARTTLS)."
    )
