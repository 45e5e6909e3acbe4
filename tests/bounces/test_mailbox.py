"""`mailer bounces poll` against a real Dovecot: each mail stored, then moved to the done
folder (created if missing); nothing unprocessed deleted; a second poll doubles nothing;
imaps:// with the server's certificate checked (against the test's own CA); and a real
`celery beat` that has a real worker poll the mailbox without anyone calling poll."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailer.bounces.mailbox import MailboxError, tls_context
from mailer.bounces.models import BounceReport
from mailer.subscribers.models import Subscription
from tests.bounces import reports
from tests.bounces.scenario import send_digest
from tests.bounces.signing import ServerPKI, server_pki
from tests.harness.dovecot import PrivateDovecot
from tests.harness.processes import ROOT, wait_until
from tests.harness.workers import CeleryBeat, CeleryWorker


@pytest.fixture
def dovecot() -> Iterator[PrivateDovecot]:
    server = PrivateDovecot().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> ServerPKI:
    return server_pki(tmp_path_factory.mktemp("imap-pki"))


@pytest.fixture
def tls_dovecot(pki) -> Iterator[PrivateDovecot]:
    server = PrivateDovecot(tls=(pki.cert_file, pki.key_file)).start()
    yield server
    server.stop()


def _poll(env: dict[str, str], url: str) -> subprocess.CompletedProcess[str]:
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


def _stored(rt) -> list[int]:
    with rt.db.session() as s:
        return list(s.scalars(select(BounceReport.id)))


def test_imaps_checks_the_certificate_against_the_configured_ca(
    session, rt, test_env, tls_dovecot, pki, tmp_path
):
    """Failed before: imaplib's IMAP4_SSL without a context checks no certificate at all,
    so any server (or anyone on the path) could be the mailbox."""
    tls_dovecot.append(b"From: x@example.net\r\nSubject: Re: nyhetsbrev\r\n\r\nTakk!\r\n")
    url = tls_dovecot.imaps_url()
    unknown = _poll(test_env, url)  # the system's trust store knows no test CA
    other = server_pki(tmp_path / "other", "another test CA")
    wrong = _poll({**test_env, "MAILER_BOUNCE_IMAP_CA": str(other.ca_file)}, url)
    for refused in (unknown, wrong):
        assert refused.returncode == 1, refused.stdout
        assert "the certificate of 127.0.0.1 is not trusted" in refused.stderr
    assert tls_dovecot.count("INBOX") == 1 and _stored(rt) == []

    good = _poll({**test_env, "MAILER_BOUNCE_IMAP_CA": str(pki.ca_file)}, url)
    assert good.returncode == 0, good.stderr + tls_dovecot.log_text()[-2000:]
    assert "1 stored, 1 moved to Processed" in good.stdout
    assert tls_dovecot.count("INBOX") == 0 and len(_stored(rt)) == 1


def test_an_unreadable_ca_file_names_its_variable(tmp_path: Path):
    with pytest.raises(MailboxError, match="MAILER_BOUNCE_IMAP_CA"):
        tls_context(str(tmp_path / "missing.pem"))


def test_beat_has_the_mailbox_polled_without_anyone_calling_poll(
    session, app, rt, smtp_sink, test_env, dovecot, tmp_path
):
    """A real `celery beat` (Procfile's line) with MAILER_BOUNCE_IMAP_URL and a one-second
    MAILER_BOUNCE_IMAP_INTERVAL_SECONDS, and a real worker for the same settings (its own
    queue, so the suite's worker, which has no mailbox, takes none of it). Pins the mutant
    of beat_schedule that ignores MAILER_BOUNCE_IMAP_INTERVAL_SECONDS (no poll in time)."""
    _, copies = send_digest(session, rt, smtp_sink, ["borte@example.no", "her@example.no"])
    gone = copies["borte@example.no"]
    dovecot.append(
        b"Delivered-To: "
        + gone.verp.encode()
        + b"\r\n"
        + reports.dsn(to="bounces@europakontor.example.no", recipient="borte@example.no")
    )
    env = {
        **test_env,
        "MAILER_BOUNCE_IMAP_URL": dovecot.url(),
        "MAILER_BOUNCE_IMAP_INTERVAL_SECONDS": "1",
        "MAILER_QUEUE": test_env["MAILER_QUEUE"] + "-beat",
    }
    worker = CeleryWorker(env, tmp_path / "worker.log", concurrency=1).start()
    beat = CeleryBeat(env, tmp_path / "beat.log", tmp_path / "beat-schedule").start()
    try:
        worker.wait_ready()
        try:
            wait_until(
                lambda: _status(rt, gone.subscription.id) == "bounced",
                "beat's poll and the worker to bounce the reader",
                timeout=120,
            )
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n--- beat:\n{beat.log_tail()}\n--- worker:\n{worker.log_tail()}"
            ) from None
    finally:
        beat.stop()
        worker.stop()
        # What beat sent after the worker's last task: no later run finds it.
        with app.extensions["celery"].connection_for_write() as conn:
            conn.default_channel.queue_purge(env["MAILER_QUEUE"])
    assert dovecot.count("INBOX") == 0 and dovecot.count("Processed") == 1
    assert _status(rt, copies["her@example.no"].subscription.id) == "active"
    assert "mailer.poll_bounce_mailbox" in beat.log_text()
