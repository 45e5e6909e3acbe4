"""SMTP PIPELINING (RFC 2920): the reply bookkeeping on every reply stream hypothesis can
think of, and the connection against a real aiosmtpd server that offers PIPELINING and
refuses, defers and hangs up as told (tests.harness.smtp_faults).

The rules kept from the unpipelined client: a reply that never came for a mail whose
content went out makes that mail in doubt (never lost, never retried); a refusal of one
mail's envelope fails that mail alone; a mail none of whose content went out is never in
doubt; nothing is sent to a server that does not offer PIPELINING in one flight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer.mail.messages import Outgoing, make_template
from mailer.mail.pipelining import Verdict, settle_content, settle_envelope, settle_flight
from mailer.mail.smtp import (
    InDoubtSMTPError,
    PermanentSMTPError,
    SMTPConnection,
    SMTPFailure,
    TemporarySMTPError,
)
from mailer.runtime import Runtime
from tests.harness.smtp_faults import FaultSMTP

CODES = [250, 251, 354, 421, 450, 451, 452, 503, 550, 552, 554]
replies = st.lists(st.tuples(st.sampled_from(CODES), st.just(b"text")), max_size=3)

# ----------------------------------------------------------------- the bookkeeping alone


@given(replies)
def test_an_envelope_is_accepted_only_by_250_250_354(got: list[tuple[int, bytes]]) -> None:
    settled = settle_envelope(got)
    codes = [c for c, _ in got]
    accepted = len(codes) == 3 and codes[0] == 250 and codes[1] in (250, 251) and codes[2] == 354
    assert (settled.verdict is Verdict.ACCEPTED) == accepted
    # No content went out at this stage: never in doubt, never sent.
    assert settled.verdict not in (Verdict.IN_DOUBT, Verdict.SENT)


@given(replies)
def test_the_first_refusal_is_the_reason_and_a_missing_reply_is_temporary(
    got: list[tuple[int, bytes]],
) -> None:
    settled = settle_envelope(got)
    allowed = [(250,), (250, 251), (354,)]
    first = next(
        ((step, code) for step, (code, _) in enumerate(got) if code not in allowed[step]), None
    )
    if first is None:
        if len(got) < 3:
            assert (settled.verdict, settled.code, settled.drop) == (Verdict.TEMPORARY, None, True)
        return
    step, code = first
    assert settled.code == code
    assert settled.verdict is (Verdict.PERMANENT if code >= 500 else Verdict.TEMPORARY)
    # The connection is kept unless it cannot be: 421, a lost reply, or a server left
    # waiting for content (354 after a refusal).
    must_drop = code == 421 or len(got) < 3 or got[2][0] == 354
    assert settled.drop == must_drop
    assert not (settled.drop and settled.reset)
    assert settled.reset == (step > 0 and not must_drop)


@given(st.sampled_from(CODES))
def test_a_5xx_to_one_rcpt_fails_that_mail_alone(code: int) -> None:
    if not 500 <= code < 600:
        return
    settled = settle_envelope([(250, b"ok"), (code, b"no such user"), (554, b"no valid rcpt")])
    assert (settled.verdict, settled.code, settled.drop, settled.reset) == (
        Verdict.PERMANENT,
        code,
        False,
        True,
    )


@given(replies, st.integers(min_value=0, max_value=4), st.booleans())
def test_a_flight_cut_anywhere(got: list[tuple[int, bytes]], cut: int, announced: bool) -> None:
    """A content reply that never came is in doubt, and then the announced envelope is
    temporary (none of that mail went out); a content reply that came decides alone."""
    stream = ([(250, b"ok")] + got)[:cut]
    outcome = settle_flight(stream, content_sent=True, envelope_sent=announced)
    assert outcome.content is not None
    if not stream:
        assert outcome.content.verdict is Verdict.IN_DOUBT
    else:
        assert outcome.content == settle_content(stream[0])
        assert outcome.content.verdict is Verdict.SENT
    if not announced:
        assert outcome.envelope is None
    elif not stream:
        assert outcome.envelope is not None
        assert (outcome.envelope.verdict, outcome.envelope.code) == (Verdict.TEMPORARY, None)
    else:
        assert outcome.envelope == settle_envelope(stream[1:4])


@given(st.one_of(st.none(), st.tuples(st.sampled_from(CODES), st.just(b"t"))))
def test_content_replies(reply: tuple[int, bytes] | None) -> None:
    settled = settle_content(reply)
    if reply is None:
        assert (settled.verdict, settled.drop) == (Verdict.IN_DOUBT, True)
    elif reply[0] == 250:
        assert settled.verdict is Verdict.SENT
    else:
        assert settled.verdict in (Verdict.TEMPORARY, Verdict.PERMANENT)
        assert settled.drop == (reply[0] == 421)


# ------------------------------------------------------------ against a real server

FATES = {
    "ok": None,
    "rcpt 550": PermanentSMTPError,
    "rcpt 451": TemporarySMTPError,
    "data 552": PermanentSMTPError,
    "data 451": TemporarySMTPError,
    "mail 421": TemporarySMTPError,
    "hang up": InDoubtSMTPError,
}


@pytest.fixture(scope="module")
def server() -> Iterator[FaultSMTP]:
    smtp = FaultSMTP()
    smtp.handler.pipelining = True
    smtp.start()
    yield smtp
    smtp.stop()


def _fresh(server: FaultSMTP, pipelining: bool = True) -> None:
    h = server.handler
    with h.cond:
        h.log.clear()
        h.refused.clear()
        h.reject_mail.clear()
        h.reject_rcpt.clear()
        h.reject_data.clear()
        h.drop_after_data.clear()
        h.pipelined_flights = 0
    h.pipelining = pipelining


def _mail(i: int) -> Outgoing:
    template = make_template(
        from_name="Europakontoret",
        from_address="nyhetsbrev@europakontor.example.no",
        subject=f"Prøve {i} – æøå",
        text="Hei\n.linje med punktum først\n",
        html_body="<p>Hei</p>",
    )
    message = template.personalise(to_name="", to_address=f"leser{i}@example.no", values={})
    return dataclasses.replace(message, sender=f"avsender{i}@europakontor.example.no")


def _script(server: FaultSMTP, mails: list[Outgoing], fates: list[str]) -> None:
    h = server.handler
    for mail, fate in zip(mails, fates, strict=True):
        if fate == "rcpt 550":
            h.reject_rcpt[mail.recipient] = "550 5.1.1 No such user"
        elif fate == "rcpt 451":
            h.reject_rcpt[mail.recipient] = "451 4.3.0 Try later"
        elif fate == "data 552":
            h.reject_data[mail.recipient] = "552 5.2.2 Mailbox full"
        elif fate == "data 451":
            h.reject_data[mail.recipient] = "451 4.3.0 Try later"
        elif fate == "mail 421":
            h.reject_mail[mail.sender] = "421 4.3.2 Closing"
        elif fate == "hang up":
            h.drop_after_data.add(mail.recipient)


def _send_all(rt: Runtime, server: FaultSMTP, mails: list[Outgoing]) -> list[object]:
    outcome: list[object] = []
    smtp_settings = dataclasses.replace(rt.settings, smtp_port=server.port)
    with SMTPConnection(smtp_settings, timeout=10) as smtp:
        for i, mail in enumerate(mails):
            following = mails[i + 1] if i + 1 < len(mails) else None
            try:
                smtp.send(mail, following=following)
            except SMTPFailure as exc:
                outcome.append(exc)
            else:
                outcome.append(None)
    return outcome


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.sampled_from(list(FATES)), min_size=1, max_size=7))
def test_each_mail_gets_its_own_fate_on_a_pipelined_stream(rt, server, fates):
    _fresh(server)
    mails = [_mail(i) for i in range(len(fates))]
    _script(server, mails, fates)
    outcome = _send_all(rt, server, mails)

    delivered = server.delivered()
    for mail, fate, got in zip(mails, fates, outcome, strict=True):
        expected = FATES[fate]
        assert type(got) is (expected or type(None)), (fate, got)
        # The server has the mail exactly when it was sent or is in doubt (the server got
        # the content and hung up before answering); never twice.
        assert delivered[mail.recipient] == (1 if fate in ("ok", "hang up") else 0), fate
        if isinstance(got, SMTPFailure) and fate != "hang up":
            assert got.code == int(fate.split()[1])


def test_no_pipelining_unless_the_server_offers_it(rt, server):
    _fresh(server, pipelining=False)
    mails = [_mail(i) for i in range(5)]
    assert _send_all(rt, server, mails) == [None] * 5
    assert server.handler.pipelined_flights == 0
    assert sum(server.delivered().values()) == 5

    _fresh(server, pipelining=True)
    assert _send_all(rt, server, mails) == [None] * 5
    assert server.handler.pipelined_flights == 5
    assert sum(server.delivered().values()) == 5


def test_a_5xx_rcpt_in_a_pipelined_stream_keeps_the_connection(rt, server):
    _fresh(server)
    mails = [_mail(i) for i in range(4)]
    _script(server, mails, ["ok", "rcpt 550", "ok", "ok"])
    before = server.handler.connections
    outcome = _send_all(rt, server, mails)
    assert [type(o) for o in outcome] == [
        type(None),
        PermanentSMTPError,
        type(None),
        type(None),
    ]
    assert server.handler.connections - before == 1
    assert set(server.delivered()) == {mails[0].recipient, mails[2].recipient, mails[3].recipient}


def test_an_announced_mail_never_sent_is_not_delivered(rt, server):
    """The next mail's DATA went ahead and the server said 354; the sender stops there
    (paused, lease lost): closing must hang up, since QUIT would be taken as content."""
    _fresh(server)
    first, second = _mail(1), _mail(2)
    smtp_settings = dataclasses.replace(rt.settings, smtp_port=server.port)
    with SMTPConnection(smtp_settings, timeout=10) as smtp:
        smtp.send(first, following=second)
    assert server.seen(lambda h: len(h.log) >= 1, timeout=10)
    assert server.delivered() == {first.recipient: 1}
    assert [e.recipient for e in server.logged()] == [first.recipient]


def test_a_different_mail_after_an_announced_one_goes_on_a_new_connection(rt, server):
    _fresh(server)
    first, second, other = _mail(1), _mail(2), _mail(3)
    before = server.handler.connections
    smtp_settings = dataclasses.replace(rt.settings, smtp_port=server.port)
    with SMTPConnection(smtp_settings, timeout=10) as smtp:
        smtp.send(first, following=second)
        smtp.send(other)
    assert server.delivered() == {first.recipient: 1, other.recipient: 1}
    assert server.handler.connections - before == 2
