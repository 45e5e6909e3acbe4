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


def test_a_server_a_test_started_dies_with_the_test_process(tmp_path: Path) -> None:
    """A test session killed outright (mutmut kills a mutant's session that runs out of
    time) leaves no worker behind: the harness starts its servers with ``die_with_parent``.
    Without it, this test's grandchild lives on (``pid_alive`` stays true)."""
    import subprocess
    import sys

    from tests.harness.processes import wait_until

    def running(pid: int) -> bool:  # a zombie waiting for init to reap it has stopped
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    pid_file = tmp_path / "pid"
    script = (
        "import signal, subprocess\n"
        "from tests.harness.processes import die_with_parent\n"
        "p = subprocess.Popen(['sleep', '600'], preexec_fn=die_with_parent)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "signal.pause()  # until the test kills this process\n"
    )
    session = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent.parent)
    try:
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), "the server's pid")
        server = int(pid_file.read_text())
        assert running(server)
        session.kill()
        session.wait()
        wait_until(lambda: not running(server), "the server to die with its parent")
    finally:
        session.kill()
