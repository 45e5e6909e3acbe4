"""The harness keeps its promises: a rolled-back test leaves nothing behind though the
code under test committed, and the worker launcher says so when a worker cannot start."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailer.db import make_engine
from mailer.runtime import Runtime
from mailer.subscribers.models import Subscriber
from tests.harness import factories
from tests.harness.databases import rolled_back
from tests.harness.workers import CeleryWorker


def _subscribers_seen_by_another_connection(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(Subscriber)) or 0)
    finally:
        engine.dispose()


def test_what_the_code_committed_in_a_rolled_back_test_is_gone_afterwards(rt: Runtime) -> None:
    with rolled_back(rt.db) as test_session:
        with rt.db.session() as s:  # as a view or a domain function opens it
            factories.subscription(s, "kari@example.no")
            s.commit()
        with rt.db.session() as s:
            factories.subscription(s, "per@example.no")
            s.rollback()  # a domain function's own rollback undoes only its own work
        with rt.db.session() as s:
            emails = s.scalars(select(Subscriber.email)).all()
        assert emails == ["kari@example.no"]
        assert test_session.scalar(select(func.count()).select_from(Subscriber)) == 1
    # On SQLite this fails without the BEGIN of the pysqlite recipe: the released
    # savepoint would have been committed.
    assert _subscribers_seen_by_another_connection(rt.db.url) == 0
    with rt.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Subscriber)) == 0


def test_the_worker_launcher_reports_a_worker_that_exits_before_it_is_ready(
    test_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in test_env.items() if k != "MAILER_SMTP_HOST"}  # it refuses
    worker = CeleryWorker(env, tmp_path / "worker.log", 1)
    try:
        with pytest.raises(AssertionError, match="exited"):
            worker.start().wait_ready()
    finally:
        worker.stop()
    assert "MAILER_SMTP_HOST" in worker.log_text()
