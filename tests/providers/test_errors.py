"""providers.errors: a failure carries one sentence for people, and the field it is about."""

from __future__ import annotations

import pytest

from locales import _, speaking
from providers.errors import UNEXPECTED, MailroomError, ServiceError, UserError


def test_the_sentence_is_what_the_error_shows_and_says() -> None:
    with pytest.raises(MailroomError) as caught:
        raise UserError("Wrong password for ana@x.test.", field="imap_password")
    assert isinstance(caught.value, UserError)
    assert str(caught.value) == caught.value.message == "Wrong password for ana@x.test."
    assert caught.value.field == "imap_password"
    error = ServiceError("The server did not answer.")
    assert error.field is None and error.args == ("The server did not answer.",)
    assert not isinstance(error, UserError)


def test_the_unexpected_failure_sentence_is_translated_where_it_is_shown() -> None:
    assert UNEXPECTED.startswith("Something went wrong on Mailroom's side")
    with speaking("es"):
        spanish = _(UNEXPECTED)
    assert spanish != UNEXPECTED and "Mailroom" in spanish
