"""`mailer bounces poll` against a real Dovecot: each mail stored, then moved to the done
folder (created if missing); nothing unprocessed deleted; a second poll doubles nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailer.bounces.models import BounceReport
from mailer.subscribers.models import Subscription
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.harness.dovecot import PrivateDovecot
from tests.harness.processes import ROOT, wait_until


@pytest.fixture
def dovecot() -> Iterator[PrivateDovecot]:
    server = PrivateDovecot().start()
    yield server
    server.stop()


def _poll(env: dict[str, str], url: str, max_bytes: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailer", "bounces", "poll"],
        env={**env, "MAILER_BOUNCE_IMAP_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _status(rt, subscription_id: int) -> str:
    with rt.db.session() as s:
        return s.get(Subscription, subscription_id).status


def test_poll_stores_moves_and_the_worker_judges(
    session, rt, smtp_sink, test_env, celery_worker, dovecot
):
    _, copies = send_digest(
        session, rt, smtp_sink, ["borte@example.no", "klager@example.no", "her@example.no"]
    )
    gone, complainer = copies["borte@example.no"], copies["klager@example.no"]
    # A mailbox keeps the envelope recipient in Delivered-To.
    dsn = (
        b"Delivered-To: "
        + gone.verp.encode()
        + b"\r\n"
        + reports.dsn(to="bounces@europakontor.example.no", recipient="borte@example.no")
    )
    dovecot.append(dsn)
    dovecot.append(
        reports.arf_yahoo(message_id=complainer.delivery.message_id, recipient="klager@example.no")
    )
    dovecot.append(b"From: someone@example.net\r\nSubject: Re: nyhetsbrev\r\n\r\nTakk!\r\n")

    result = _poll(test_env, dovecot.url())
    assert result.returncode == 0, result.stderr + dovecot.log_text()[-2000:]
    assert "3 stored, 3 moved to Processed" in result.stdout
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("Processed") == 3

    def judged() -> bool:
        with rt.db.session() as s:
            return not s.scalars(select(BounceReport).where(BounceReport.status == "stored")).all()

    wait_until(judged, "the worker to process the polled reports")
    assert _status(rt, gone.subscription.id) == "bounced"
    assert _status(rt, complainer.subscription.id) == "complained"
    assert _status(rt, copies["her@example.no"].subscription.id) == "active"
    with rt.db.session() as s:
        rows = s.scalars(select(BounceReport.status).order_by(BounceReport.id)).all()
    assert rows == ["processed", "processed", "unrecognised"]

    # The same mails put back: stored once only, moved again.
    dovecot.append(dsn)
    again = _poll(test_env, dovecot.url())
    assert "1 stored, 1 moved" in again.stdout
    with rt.db.session() as s:
        assert len(s.scalars(select(BounceReport.id)).all()) == 3


def test_a_mail_it_cannot_take_stays_in_the_inbox(session, rt, test_env, dovecot):
    dovecot.append(b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n")
    result = _poll({**test_env, "MAILER_BOUNCE_MAX_BYTES": "1000"}, dovecot.url())
    assert result.returncode == 0, result.stderr
    assert dovecot.count("INBOX") == 1
    with rt.db.session() as s:
        assert s.scalars(select(BounceReport.id)).all() == []


def test_a_wrong_password_is_a_clear_error(session, test_env, dovecot):
    result = _poll(test_env, dovecot.url().replace("hemmelig-imap", "feil"))
    assert result.returncode == 1
    assert "cannot log in to 127.0.0.1" in result.stderr
