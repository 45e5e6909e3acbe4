"""The listener over real SMTP and LMTP on loopback: stored before 250, 451 (never 5xx)
when it cannot store, and no input that crashes it or changes a reader."""

from __future__ import annotations

import dataclasses
import os
import smtplib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailer.bounces import service
from mailer.bounces.listener import PeerLimiter, ReportListener, database_store, listener_for
from mailer.bounces.models import BounceReport
from mailer.subscribers.models import Subscription
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness.processes import free_port

# More examples with the large hypothesis profile (.ci/run), as every property here.
IN_CI = os.environ.get("MAILER_HYPOTHESIS_PROFILE", "").strip() == "large"


def _listener(store, lmtp: bool = False, max_bytes: int = 10 * 1024 * 1024) -> ReportListener:
    listener = ReportListener(store, "127.0.0.1", free_port(), lmtp=lmtp, max_bytes=max_bytes)
    listener.start()
    return listener


@pytest.fixture
def db_listener(rt) -> Iterator[ReportListener]:
    listener = _listener(database_store(rt.db, rt.settings, "smtp"))
    yield listener
    listener.stop()


def _count(rt) -> int:
    with rt.db.session() as s:
        return s.scalar(select(func.count()).select_from(BounceReport)) or 0


def test_a_report_is_stored_and_queued_before_the_250(session, rt, db_listener, queued_tasks):
    raw = reports.dsn(to="bounces+1.abcdefghijklmnop@b.example.no")
    with smtplib.SMTP("127.0.0.1", db_listener.port) as client:
        refused = client.sendmail("", ["bounces+1.abcdefghijklmnop@b.example.no"], raw)
    assert refused == {}
    with rt.db.session() as s:
        row = s.scalars(select(BounceReport)).one()
        assert (row.source, row.status, row.envelope_to) == (
            "smtp",
            "stored",
            "bounces+1.abcdefghijklmnop@b.example.no",
        )
        assert queued_tasks == [("mailer.process_bounce_report", (row.id,))]


def test_the_same_report_twice_is_stored_once(session, rt, db_listener):
    raw = reports.dsn(to="x@b.example.no")
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", db_listener.port) as client:
            client.sendmail("", ["x@b.example.no"], raw)
    assert _count(rt) == 1


def test_when_it_cannot_store_it_answers_451_so_the_mta_keeps_the_mail(session):
    def broken(raw: bytes, envelope_to: str) -> None:
        raise OSError("database unreachable")

    listener = _listener(broken)
    try:
        with smtplib.SMTP("127.0.0.1", listener.port) as client:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.sendmail("", ["x@b.example.no"], reports.dsn(to="x@b.example.no"))
        assert refused.value.smtp_code == 451
    finally:
        listener.stop()


def test_lmtp_answers_once_per_recipient(session, rt):
    listener = _listener(database_store(rt.db, rt.settings, "lmtp"), lmtp=True)
    try:
        client = smtplib.LMTP("127.0.0.1", listener.port)
        client.sendmail("", ["a@b.example.no", "c@b.example.no"], reports.dsn(to="a@b.example.no"))
        client.quit()
    finally:
        listener.stop()
    with rt.db.session() as s:
        stored = s.scalars(select(BounceReport.envelope_to).order_by(BounceReport.id)).all()
    assert stored == ["a@b.example.no", "c@b.example.no"]


def test_a_report_over_the_size_cap_is_refused_and_not_stored(session, rt):
    listener = _listener(database_store(rt.db, rt.settings, "smtp"), max_bytes=2000)
    try:
        with smtplib.SMTP("127.0.0.1", listener.port) as client:
            with pytest.raises(smtplib.SMTPException):
                client.sendmail("", ["x@b.example.no"], b"Subject: big\r\n\r\n" + b"x" * 5000)
    finally:
        listener.stop()
    assert _count(rt) == 0


@settings(
    max_examples=300 if IN_CI else 40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=3000),
        st.builds(
            lambda prefix, tail: reports.dsn(to="x@y")[:prefix] + tail,
            st.integers(0, 1500),
            st.binary(max_size=300),
        ),
        st.builds(
            lambda prefix, tail: reports.arf_yahoo(message_id="<m@x>")[:prefix] + tail,
            st.integers(0, 1500),
            st.binary(max_size=300),
        ),
    ),
    rcpt=st.sampled_from(["x@b.example.no", "bounces+1.AAAAAAAAAAAAAAAA@b.example.no"]),
)
def test_arbitrary_bytes_never_crash_the_listener_nor_change_a_reader(
    session, rt, smtp_sink, db_listener, body, rcpt
):
    if not session.scalar(select(func.count()).select_from(Subscription)):
        # Real readers with real deliveries (ids 1…) for the fuzzed reports to aim at.
        send_digest(session, rt, smtp_sink, ["her@example.no", "der@example.no"])
    data = body.replace(b"\r\n.", b"\r\n..")
    with smtplib.SMTP("127.0.0.1", db_listener.port) as client:
        code, _ = client.ehlo()
        assert code == 250
        client.mail("")
        client.rcpt(rcpt)
        code, _ = client.data(data)
    assert code == 250
    with rt.db.session() as s:
        for report_id in s.scalars(select(BounceReport.id).where(BounceReport.status == "stored")):
            service.process_report(s, rt.settings, rt.tokens, report_id)
        assert set(s.scalars(select(Subscription.status))) == {"active"}


def test_fuzzed_reports_about_real_deliveries_change_nothing_without_a_signature(
    session, rt, smtp_sink
):
    _, copies = send_digest(session, rt, smtp_sink, ["her@example.no"])
    copy = copies["her@example.no"]
    # A well-formed hard bounce about her, but to an unsigned VERP address.
    raw = reports.dsn(to="bounces+1.AAAAAAAAAAAAAAAA@b.example.no", recipient="her@example.no")
    stored = service.store_report(
        session, rt.settings, "smtp", raw, envelope_to="bounces+1.AAAAAAAAAAAAAAAA@b.example.no"
    )
    service.process_report(session, rt.settings, rt.tokens, stored.report_id)
    session.refresh(copy.subscription)
    assert copy.subscription.status == "active"


def test_a_flood_from_one_host_is_told_to_come_back_later(session, rt):
    frozen = PeerLimiter(burst=2, rate=1.0, clock=lambda: 1000.0)  # no refill: time stands
    listener = ReportListener(
        database_store(rt.db, rt.settings, "smtp"),
        "127.0.0.1",
        free_port(),
        max_bytes=10_000_000,
        limiter=frozen,
    )
    listener.start()
    codes = []
    try:
        with smtplib.SMTP("127.0.0.1", listener.port) as client:
            client.ehlo()
            for i in range(3):
                client.mail("")
                client.rcpt(f"x{i}@b.example.no")
                codes.append(client.data(reports.dsn(to=f"x{i}@b.example.no"))[0])
    finally:
        listener.stop()
    assert codes == [250, 250, 451]
    assert _count(rt) == 2


def test_a_report_with_nul_bytes_is_stored_on_both_backends(session, rt, db_listener):
    """Found by the fuzzing on PostgreSQL, whose text cannot hold NUL: such a report was
    answered 451 for ever."""
    with smtplib.SMTP("127.0.0.1", db_listener.port) as client:
        refused = client.sendmail("", ["x\x00y@b.example.no"], b"Subject: a\x00b\r\n\r\n\x00\r\n")
    assert refused == {}
    with rt.db.session() as s:
        [row] = s.scalars(select(BounceReport)).all()
        service.process_report(s, rt.settings, rt.tokens, row.id)
        s.refresh(row)
        assert "\x00" not in row.content and row.status == "unrecognised"


def _exactly(size: int) -> bytes:
    """A mail of exactly ``size`` bytes on the wire (CRLF lines of at most 1000 bytes, none
    starting with a dot: nothing to stuff), as the listener counts it."""
    head = b"Subject: stor rapport\r\n\r\n"
    body = size - len(head)
    lines = [b"x" * 998 + b"\r\n"] * (body // 1000)
    rest = body % 1000
    if rest:
        assert rest >= 2
        lines.append(b"y" * (rest - 2) + b"\r\n")
    raw = head + b"".join(lines)
    assert len(raw) == size
    return raw


def test_the_configured_listener_takes_10_mb_and_refuses_a_byte_more(session, rt):
    """The 10 MB cap of issue 11, through ``listener_for`` as `mailer bounces serve` builds
    it. Pins the mutants: ``max_bytes`` not passed on (aiosmtpd's own 32 MB default), and
    off by one either way."""
    limit = rt.settings.bounces.max_bytes
    assert limit == 10 * 1024 * 1024
    port = free_port()
    settings = dataclasses.replace(
        rt.settings, bounces=dataclasses.replace(rt.settings.bounces, listen_port=port)
    )
    listener = listener_for(rt.db, settings)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", port) as client:
            assert client.sendmail("", ["x@b.example.no"], _exactly(limit)) == {}
            with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # SIZE=… at MAIL
                client.sendmail("", ["y@b.example.no"], _exactly(limit + 1))
            assert refused.value.smtp_code == 552
            client.rset()
            # A client that does not announce the size is cut off at DATA all the same.
            client.mail("")
            client.rcpt("z@b.example.no")
            code, _ = client.data(_exactly(limit + 1))
            assert code == 552
    finally:
        listener.stop()
    with rt.db.session() as s:
        assert s.scalars(select(BounceReport.size)).all() == [limit]
