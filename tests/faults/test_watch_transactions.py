"""No long transactions while a send is watched (PostgreSQL: a connection left `idle in
transaction` for the whole send holds back vacuum while every delivery row is updated two
or three times, and blocks DDL).

`mailer digest send` runs as a real process against a throwaway PostgreSQL cluster (so the
test runs whatever database the suite uses) while a real worker sends; the SMTP server
holds one reply, so the send stays in flight for as long as the test looks. The bound is
the scenario's lease (MAILER_CLAIM_LEASE_SECONDS, a few seconds): the test waits, by the
database's own clock, until the watcher has polled again after that much time, then asks
pg_stat_activity for the oldest open transaction of ours.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from sqlalchemy import create_engine, text

from tests.harness import factories

OURS = """
SELECT pid, application_name, state, now() - xact_start AS age, query
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL
ORDER BY xact_start
"""
WATCHER_POLLED_SINCE = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'mailer-watch'
  AND query_start > :since
"""


def test_watching_a_send_holds_no_transaction_open(make_scenario):
    s = make_scenario(own_postgres=True)
    with s.db.session() as own:
        s.readers(own, 40)
        issue = factories.drafted_issue(own)
    held = s.smtp.hold(12)
    s.start_worker(concurrency=1)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "mailer", "digest", "send", str(issue.id), "--yes"],
        env={**s.worker_env, "PGAPPNAME": "mailer-watch"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    bound = timedelta(seconds=s.settings.claim_lease_seconds)
    engine = create_engine(s.settings.database_url)
    try:
        s.arrived(held)
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            since = conn.execute(text("SELECT now()")).scalar_one()
            # The watcher still polls once the bound has passed (the database's clock).
            s.wait(
                lambda: (
                    conn.execute(text(WATCHER_POLLED_SINCE), {"since": since + bound}).scalar_one()
                    > 0
                ),
                "the watcher to poll after the bound",
                timeout=60,
            )
            open_ones = conn.execute(text(OURS)).all()
        assert watcher.poll() is None, watcher.stdout.read() if watcher.stdout else ""
        too_old = [row for row in open_ones if row.age >= bound]
        assert too_old == [], too_old
        s.smtp.release(held)
        s.wait_sent(issue.id)
        output, _ = watcher.communicate(timeout=60)
        assert watcher.returncode == 0, output
        assert b"is sent" in output, output
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        engine.dispose()
