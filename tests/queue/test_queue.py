"""Enqueue after commit, enforced: a task queued in a transaction leaves with its commit,
never before it and never after a rollback; every name the domain queues is a real task."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from mailer import queue
from mailer.celery_app import TASK_MODULES
from mailer.sending import ledger
from mailer.subscribers.consent import RequestContext
from mailer.subscribers.signup_requests import SignupRequest
from mailer.subscribers.subscriptions import subscribe
from tests.harness import factories

ROOT = Path(__file__).resolve().parents[2]


def test_a_task_leaves_only_with_the_commit(rt, queued_tasks):
    with rt.db.session() as session:
        session.execute(text("SELECT 1"))
        queue.enqueue(session, "mailer.start_send", 7)
        assert queued_tasks == []  # nothing before the commit: a worker would find no row
        session.commit()
        assert queued_tasks == [("mailer.start_send", (7,))]
        session.commit()  # a second commit sends nothing again
    assert queued_tasks == [("mailer.start_send", (7,))]


def test_a_rolled_back_transaction_queues_nothing(rt, queued_tasks):
    with rt.db.session() as session:
        queue.enqueue(session, "mailer.start_send", 1)
        session.rollback()
        session.commit()
    assert queued_tasks == []
    # An exception inside the session's block rolls back too.
    try:
        with rt.db.session() as session:
            queue.enqueue(session, "mailer.start_send", 2)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert queued_tasks == []


def test_a_task_queued_in_a_savepoint_waits_for_the_outermost_commit(rt, queued_tasks):
    with rt.db.session() as session:
        with session.begin_nested():
            queue.enqueue(session, "mailer.dispatch", 3)
        assert queued_tasks == []  # the savepoint's release is not the commit
        session.commit()
    assert queued_tasks == [("mailer.dispatch", (3,))]


def test_a_process_without_a_broker_says_so(rt):
    previous = queue.set_sender(None)
    try:
        with rt.db.session() as session:
            queue.enqueue(session, "mailer.start_send", 1)
            try:
                session.commit()
            except queue.NoSender as exc:
                assert "mailer.start_send" in str(exc)
            else:
                raise AssertionError("a queued task without a sender must not vanish silently")
    finally:
        queue.set_sender(previous)


def test_the_domain_queues_its_own_follow_up_tasks(session, queued_tasks):
    """No caller enqueues by hand: a signup queues its confirmation, a send its start task,
    each leaving with the commit."""
    issue = factories.drafted_issue(session)
    session.commit()
    outcome = subscribe(session, SignupRequest("ny@example.no", "", "nb", ()), RequestContext())
    assert ledger.request_send(session, issue.id)
    assert queued_tasks == []
    session.commit()
    assert queued_tasks == [
        ("mailer.send_confirmation", (outcome.subscription_id,)),
        ("mailer.start_send", (issue.id,)),
    ]
    queued_tasks.clear()
    subscribe(
        session,
        SignupRequest("importert@example.no", "", "nb", ()),
        RequestContext(),
        mail_confirmation=False,
    )
    session.commit()
    assert queued_tasks == []


def test_every_task_the_code_queues_is_registered(app):
    queued = set()
    for path in (ROOT / "mailer").rglob("*.py"):
        queued |= set(re.findall(r'enqueue\(\s*\w+,\s*"([a-z_.]+)"', path.read_text()))
    registered = set(app.extensions["celery"].tasks)
    assert queued, "the scan found no enqueue call"
    assert queued <= registered, queued - registered


def test_only_the_wiring_and_the_task_modules_import_celery():
    # The wiring: the Celery app, its direct Redis publisher, and the worker's process
    # built around it.
    allowed = {"mailer/celery_app.py", "mailer/redis_tasks.py", "mailer/worker_app.py"} | {
        m.replace(".", "/") + ".py" for m in TASK_MODULES
    }
    importing = {
        str(path.relative_to(ROOT))
        for path in (ROOT / "mailer").rglob("*.py")
        if re.search(r"^\s*(from|import) (celery|kombu)\b", path.read_text(), re.M)
    }
    assert importing - {"mailer/fs_broker.py"} <= allowed, importing - allowed
