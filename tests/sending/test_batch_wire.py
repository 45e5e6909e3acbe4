"""What a batch run in this process leaves outside the database: the journal it writes
around each mail, what the SMTP server sees per flight (PIPELINING), the statements it
runs while SMTP talks, and the language of a reader who has none."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select

from mailer.config import Settings
from mailer.sending import batch as sending
from mailer.sending import journal
from mailer.sending.models import Delivery
from tests.harness import factories
from tests.harness.smtp_faults import FaultSMTP
from tests.sending.test_batch import _start

pytestmark = pytest.mark.rolled_back


@pytest.fixture(scope="module")
def server() -> Iterator[FaultSMTP]:
    smtp = FaultSMTP()
    smtp.start()
    yield smtp
    smtp.stop()


@pytest.fixture
def settings(rt, server: FaultSMTP, tmp_path: Path) -> Iterator[Settings]:
    h = server.handler
    with h.cond:
        h.log.clear()
        h.flights.clear()
        h.reject_rcpt.clear()
        h.reject_data.clear()
        h.drop_after_data.clear()
    h.pipelining = False
    yield dataclasses.replace(rt.settings, smtp_port=server.port, journal_dir=tmp_path / "journal")
    h.pipelining = False


def _readers(session, count: int) -> tuple[int, list[int]]:
    for i in range(count):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    return issue.id, _start(session, issue.id)


class Crash(Exception):
    """The worker dies (as far as this batch can tell) before its fifth mail."""


class CrashAtTheFifthMail:
    def __init__(self) -> None:
        self.mails = 0

    def acquire(self) -> None:
        self.mails += 1
        if self.mails == 5:
            raise Crash


def test_a_batch_that_dies_leaves_a_journal_of_what_each_mail_got_to(session, rt, server, settings):
    """Mutants of ``batch._send_noted`` (survivors of `make mutate`): ``before_data``
    not passed (no "S" entry: after a crash a mail whose content went out would be taken
    for one never sent), the entry written for no delivery or without its Message-ID, the
    answer not noted or with another code (``250`` → ``251``, ``exc.code`` → None), and
    ``exc.code and journal.open_id == delivery_id`` → ``or`` / ``!=`` (an answer noted
    for a mail refused before its content, whose content never went out).

    Five readers: the first is taken, the second refused at RCPT (its content never
    goes out), the third refused after its content (552), the fourth's server hangs up
    after the content (in doubt), and the batch dies before the fifth."""
    issue_id, ids = _readers(session, 5)
    h = server.handler
    h.reject_rcpt["leser1@example.no"] = "550 5.1.1 No such user"
    h.reject_data["leser2@example.no"] = "552 5.2.2 Mailbox full"
    h.drop_after_data.add("leser3@example.no")

    with pytest.raises(Crash):
        sending.send_batch(
            session, settings, rt.tokens, issue_id, ids, limiter=CrashAtTheFifthMail()
        )

    [path] = journal.journal_paths(settings.journal_dir).values()
    header, *lines = path.read_text().splitlines()
    assert header.endswith(f"ids={','.join(map(str, ids))}")
    got = {e.recipient: e.message_id for e in server.logged()}
    assert set(got) == {"leser0@example.no", "leser2@example.no", "leser3@example.no"}
    assert lines == [
        f"S {ids[0]} {got['leser0@example.no']}",
        f"R {ids[0]} 250",
        f"S {ids[2]} {got['leser2@example.no']}",
        f"R {ids[2]} 552",
        f"S {ids[3]} {got['leser3@example.no']}",
    ]


@pytest.mark.parametrize(
    ("send_rate", "announced"),
    [(0.0, True), (0.05, False), (0.1, True)],
    ids=["unpaced", "too-slow-to-announce", "just-fast-enough"],
)
def test_with_pipelining_each_mail_carries_the_next_ones_envelope(
    session, rt, server, settings, send_rate, announced
):
    """Mutants of ``send_batch``'s pipelining (survivors of `make mutate`): ``following``
    never passed on (``following=None``, ``next_message`` left None), the condition
    ``smtp.pipelining and may_announce(settings)`` with ``or`` (a server waiting for
    content while pacing waits longer than it will), ``not in ready`` → ``in`` (the next
    copy never made). The server sees, behind each mail's content and before it answers,
    the next reader's envelope; never behind the group's last, nor behind the first mail
    of a connection (sent before its EHLO told whether the server pipelines), and never
    when the send rate is too slow to keep a server waiting (MIN_RATE_TO_ANNOUNCE)."""
    issue_id, ids = _readers(session, 4)
    server.handler.pipelining = True
    before = server.handler.connections
    settings = dataclasses.replace(settings, send_rate=send_rate)

    result = sending.send_batch(session, settings, rt.tokens, issue_id, ids)

    assert result.sent == 4
    readers = [f"leser{i}@example.no" for i in range(4)]
    behind = [None, readers[2], readers[3], None] if announced else [None] * 4
    assert server.handler.flights == list(zip(readers, behind, strict=True))
    assert server.handler.connections - before == 1
    assert sorted(server.delivered().items()) == [(r, 1) for r in readers]


def test_the_issue_and_its_newsletter_are_read_before_the_first_claim(session, rt, settings):
    """Mutants of ``send_batch``'s eager loads (survivors of `make mutate`):
    ``selectinload(Issue.items)…`` or ``selectinload(Issue.newsletter)`` dropped. Both
    are needed to compile the digest; loaded lazily, they are read in the middle of the
    first group's SMTP conversation, with a transaction open (see the comment there)."""
    issue_id, ids = _readers(session, 2)
    session.expire_all()  # nothing of the issue left in the session from drafting it
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(" ".join(statement.lower().split()))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert sending.send_batch(session, settings, rt.tokens, issue_id, ids).sent == 2
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    # The run's row is written once the issue is read, before the first claim.
    run = next(i for i, s in enumerate(statements) if s.startswith("insert into send_run"))
    reads = ("from newsletter", "from issue_article", "from article")
    late = [s for s in statements[run:] if any(r in s for r in reads)]
    assert late == []
    early = statements[:run]
    assert all(any(r in s for s in early) for r in reads)


def test_a_reader_without_a_language_gets_the_default_languages_digest(session, rt, smtp_sink):
    """Mutant of ``send_batch``'s ``prepare`` (a survivor of `make mutate`):
    ``recipient.language or DEFAULT_LANGUAGE`` → ``and``: a reader stored with no
    language (an old import) got a digest compiled for the language "" (``<html
    lang="">``) instead of Norwegian."""
    factories.subscription(session, "uten@example.no", "Uten", language="")
    issue = factories.drafted_issue(session)
    ids = _start(session, issue.id)

    assert sending.send_batch(session, rt.settings, rt.tokens, issue.id, ids).sent == 1

    [mail] = smtp_sink.messages
    assert '<html lang="nb">' in mail.part("text/html")
    assert "Meld deg av" in mail.part("text/plain")
    assert session.scalar(select(Delivery.status)) == "sent"


def test_a_refused_and_an_in_doubt_mail_are_logged_with_their_ids(
    session, rt, server, settings, caplog
):
    """Mutants of ``batch._ids`` and of the log calls in ``send_batch`` (survivors of
    `make mutate`): the field names (``issue_id``, ``delivery_id``, one JSON field each
    with MAILER_LOG_FORMAT=json, tests/test_logs.py) or their values changed, the lines'
    level or text. What an operator greps for when a reader asks where their mail went."""
    issue_id, ids = _readers(session, 3)
    server.handler.reject_rcpt["leser0@example.no"] = "550 5.1.1 No such user"
    server.handler.drop_after_data.add("leser1@example.no")

    with caplog.at_level(logging.INFO, logger="mailer.sending.batch"):
        result = sending.send_batch(session, settings, rt.tokens, issue_id, ids)

    assert (result.failed, result.in_doubt, result.sent) == (1, 1, 1)
    lines = [
        (r.levelname, r.getMessage(), getattr(r, "issue_id", None), getattr(r, "delivery_id", None))
        for r in caplog.records
        if r.name == "mailer.sending.batch"
    ]
    assert lines[0] == ("INFO", "refused for good: 550 5.1.1 No such user", issue_id, ids[0])
    level, message, *about = lines[1]
    assert (level, about) == ("WARNING", [issue_id, ids[1]])
    reason = session.scalar(select(Delivery.last_error).where(Delivery.id == ids[1]))
    assert message == f"in doubt: {reason}" and reason
    assert len(lines) == 2


def test_mails_in_doubt_in_a_row_pause_the_send_and_keep_their_message_ids(
    session, rt, server, settings, monkeypatch
):
    """Mutants of ``send_batch``'s in-doubt branch (survivors of `make mutate`):
    ``failures_in_row += 1`` → ``= 1`` / ``-= 1`` (a server that hangs up after every
    mail never pauses the send), ``in_doubt`` and ``smtp_errors["in_doubt"]`` ``+=`` →
    ``=``, the class's name, ``message_id=None`` (an in-doubt row without the Message-ID
    the server may have: what a bounce or an editor's check would match)."""
    monkeypatch.setattr(sending, "MAX_CONSECUTIVE_FAILURES", 2)
    issue_id, ids = _readers(session, 3)
    server.handler.drop_after_data.update({"leser0@example.no", "leser1@example.no"})

    result = sending.send_batch(session, settings, rt.tokens, issue_id, ids)

    assert (result.in_doubt, result.sent) == (2, 0)
    assert result.smtp_errors == {"in_doubt": 2}
    assert result.paused is not None and result.paused.startswith("2 failures in a row")
    got = {e.recipient: e.message_id for e in server.logged()}
    session.expire_all()
    rows = session.execute(
        select(Delivery.status, Delivery.message_id).where(Delivery.id.in_(ids[:2]))
    ).all()
    assert sorted(rows) == sorted(("in-doubt", got[f"leser{i}@example.no"]) for i in range(2))
