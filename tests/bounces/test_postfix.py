"""Real parts end to end: a digest goes through a private Postfix to a sink that refuses
one reader for good (550 5.1.1) and one for now (452 4.2.2); Postfix itself writes the
DSNs to our VERP addresses and hands them to `mailer bounces serve`, over SMTP
(``smtp:[127.0.0.1]:PORT``) and over LMTP (``lmtp:inet:127.0.0.1:PORT`` with
MAILER_BOUNCE_PROTOCOL=lmtp: Postfix's own LMTP client, not smtplib's); a real worker
judges them.

The LMTP run pins the mutant ``lmtp=False`` in ``listener_for`` (an SMTP server answering
Postfix's LHLO with 500: the DSNs never arrive)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailer.bounces.models import BounceReport
from mailer.events import Event
from mailer.subscribers.models import Subscription
from tests.bounces.listener_process import ListenerProcess
from tests.bounces.scenario import BOUNCE_DOMAIN, send_digest
from tests.harness.postfix import PrivatePostfix
from tests.harness.processes import wait_until


@pytest.fixture(params=["smtp", "lmtp"])
def protocol(request) -> str:
    return str(request.param)


@pytest.fixture
def listener(test_env, tmp_path, protocol) -> Iterator[ListenerProcess]:
    process = ListenerProcess(test_env, tmp_path / "listener.log", protocol).start()
    yield process
    process.stop()


@pytest.fixture
def postfix(smtp_sink, listener, protocol) -> Iterator[PrivatePostfix]:
    transport: int | str = listener.port
    if protocol == "lmtp":
        transport = f"lmtp:inet:127.0.0.1:{listener.port}"
    instance = PrivatePostfix(smtp_sink.port, {BOUNCE_DOMAIN: transport}).start()
    yield instance
    instance.stop()


def _status(rt, subscription_id: int) -> str:
    with rt.db.session() as s:
        return s.get(Subscription, subscription_id).status


def test_postfix_dsns_bounce_one_reader_and_score_the_other(
    session, rt, smtp_sink, celery_worker, postfix, listener, protocol
):
    smtp_sink.handler.reject["borte@example.no"] = (
        "550 5.1.1 <borte@example.no>: Recipient address rejected: User unknown"
    )
    smtp_sink.handler.reject["full@example.no"] = "452 4.2.2 <full@example.no>: Mailbox full"
    issue, copies = send_digest(
        session,
        rt,
        smtp_sink,
        ["borte@example.no", "full@example.no", "her@example.no"],
        smtp_port=postfix.port,
    )
    gone, full, here = (
        copies[e] for e in ("borte@example.no", "full@example.no", "her@example.no")
    )

    def judged() -> list[BounceReport]:
        with rt.db.session() as s:
            rows = s.scalars(select(BounceReport).where(BounceReport.status != "stored")).all()
            return rows if len(rows) >= 2 else []

    try:
        reports = wait_until(judged, "both DSNs stored and processed", timeout=120)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n--- postfix log:\n{postfix.log_text()[-5000:]}\n--- listener log:\n"
            f"{listener.log_path.read_text()[-3000:]}"
        ) from None
    by_sub = {r.subscription_id: r for r in reports}
    assert by_sub[gone.subscription.id].kind == "hard"
    assert by_sub[gone.subscription.id].detail["status"] == "5.1.1"
    assert by_sub[full.subscription.id].kind == "soft"
    assert by_sub[full.subscription.id].detail["status"] == "4.2.2"
    assert {r.source for r in reports} == {protocol}
    assert f"postfix/{protocol}[" in postfix.log_text()  # Postfix's own client for it
    assert all(r.issue_id == issue.id for r in reports)

    assert _status(rt, gone.subscription.id) == "bounced"
    assert _status(rt, full.subscription.id) == "active"
    assert _status(rt, here.subscription.id) == "active"
    with rt.db.session() as s:
        events = {
            (e.kind, e.subscription_id): e.data
            for e in s.scalars(select(Event).where(Event.kind.like("%bounce%")))
        }
    assert events[("subscription.bounced", gone.subscription.id)]["reason"] == "hard"
    assert events[("bounce.soft", full.subscription.id)]["score"] == 0.5
    # Only the reader the sink took got the digest.
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["her@example.no"]]
