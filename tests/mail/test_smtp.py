"""The SMTP client against a real aiosmtpd server: reuse, the per-connection cap, 421."""

from __future__ import annotations

import pytest

from mailer.mail.messages import make_template
from mailer.mail.smtp import PermanentSMTPError, SMTPConnection, TemporarySMTPError

# Domain code, views and commands in this thread only: each test is rolled back.
pytestmark = pytest.mark.rolled_back


def _message(to: str):
    template = make_template(
        from_name="Europakontoret",
        from_address="nyhetsbrev@europakontor.example.no",
        subject="Prøve – æøå",
        text="Hei",
        html_body="<p>Hei</p>",
    )
    return template.personalise(to_name="", to_address=to, values={})


def test_one_connection_carries_many_messages_up_to_the_cap(rt, smtp_sink):
    smtp_sink.clear()
    with SMTPConnection(rt.settings, max_messages=100) as smtp:
        for i in range(250):
            smtp.send(_message(f"leser{i}@example.no"))
        opened = smtp.connections_opened
    assert len(smtp_sink.wait_for(250)) == 250
    assert opened == 3


def test_421_drops_the_connection_and_the_next_message_reconnects(rt, smtp_sink):
    smtp_sink.clear()
    smtp_sink.handler.reject["travel@example.no"] = "421 4.3.2 Service shutting down"
    with SMTPConnection(rt.settings) as smtp:
        smtp.send(_message("a@example.no"))
        with pytest.raises(TemporarySMTPError) as info:
            smtp.send(_message("travel@example.no"))
        smtp.send(_message("b@example.no"))
        opened = smtp.connections_opened
    assert info.value.code == 421
    assert opened == 2
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["a@example.no"], ["b@example.no"]]


def test_5xx_is_permanent_and_keeps_the_connection(rt, smtp_sink):
    smtp_sink.clear()
    smtp_sink.handler.reject["nei@example.no"] = "550 5.1.1 No such user"
    with SMTPConnection(rt.settings) as smtp:
        with pytest.raises(PermanentSMTPError) as info:
            smtp.send(_message("nei@example.no"))
        smtp.send(_message("ja@example.no"))
        opened = smtp.connections_opened
    assert (info.value.code, opened) == (550, 1)
    assert "5.1.1" in info.value.text


def test_unreachable_server_is_temporary(rt):
    import dataclasses

    from tests.harness.processes import free_port

    settings = dataclasses.replace(rt.settings, smtp_port=free_port())
    with SMTPConnection(settings) as smtp, pytest.raises(TemporarySMTPError, match="connect"):
        smtp.send(_message("x@example.no"))


def test_smtp_errors_survive_pickling_for_celery():
    import pickle

    error = pickle.loads(pickle.dumps(PermanentSMTPError(550, "5.1.1 nope")))
    assert (type(error), error.code, error.text) == (PermanentSMTPError, 550, "5.1.1 nope")
