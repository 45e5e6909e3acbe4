"""The network settings (mailer/config_network.py): a session the application opens on
PostgreSQL carries its statement and idle-in-transaction timeouts and keepalives, so the
server ends what a vanished host left; bad values name their variable."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.config import ConfigError, load_settings
from mailer.config_network import NetworkSettings, load_network
from mailer.db import Database
from tests.harness.databases import ThrowawayDatabase
from tests.harness.processes import wait_until

SERVER = os.environ.get(
    "MAILER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SHORT = NetworkSettings(
    dead_peer_seconds=6, statement_timeout_seconds=0.5, idle_in_transaction_seconds=0.5
)


@pytest.fixture
def database() -> Iterator[Database]:
    made = ThrowawayDatabase(SERVER)
    db = Database(made.url, SHORT.postgres_connect_args())
    yield db
    db.engine.dispose()
    made.drop()


def test_sessions_carry_the_timeouts_and_keepalives(database):
    with database.engine.connect() as conn:
        shown = {
            name: conn.execute(text(f"SHOW {name}")).scalar()
            for name in (
                "statement_timeout",
                "idle_in_transaction_session_timeout",
                "tcp_keepalives_idle",
                "tcp_keepalives_interval",
                "tcp_keepalives_count",
                "tcp_user_timeout",
            )
        }
    assert shown["statement_timeout"] == "500ms"
    assert shown["idle_in_transaction_session_timeout"] == "500ms"
    idle, interval, count = SHORT.keepalive
    assert idle + interval * count <= SHORT.dead_peer_seconds
    # The server reports its keepalives only for TCP sessions (0 on a Unix socket).
    assert shown["tcp_keepalives_count"] == str(count)
    assert shown["tcp_keepalives_idle"] == str(idle)
    assert shown["tcp_user_timeout"] == "6000"  # ms


def test_a_statement_past_its_timeout_is_cancelled(database):
    with database.engine.connect() as conn, pytest.raises(OperationalError, match="statement"):
        conn.execute(text("SELECT pg_sleep(30)"))


def test_the_server_ends_a_session_left_idle_in_a_transaction(database):
    conn = database.engine.connect()
    try:
        conn.begin()
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()

        # A host that vanished now would hold this transaction (and its locks) for ever.
        # (Each look in a transaction of its own: pg_stat_activity is a snapshot per
        # transaction.)
        def gone() -> bool:
            with database.engine.connect() as watcher:
                query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
                return watcher.execute(query, {"pid": pid}).scalar() == 0

        wait_until(gone, "the server to end the idle transaction")
    finally:
        conn.invalidate()
        conn.close()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEAD_PEER_SECONDS", "2"),
        ("DEAD_PEER_SECONDS", "soon"),
        ("DB_STATEMENT_TIMEOUT_SECONDS", "-1"),
        ("CONNECT_TIMEOUT_SECONDS", "0"),
        ("SMTP_TIMEOUT_SECONDS", "0"),
        ("SMTP_TIMEOUT_SECONDS", "half a minute"),
    ],
)
def test_bad_values_name_their_variable(monkeypatch, name, value):
    monkeypatch.setenv(f"MAILER_{name}", value)
    with pytest.raises(ConfigError, match=f"MAILER_{name}"):
        load_network()


def test_zero_turns_the_database_timeouts_off(monkeypatch):
    monkeypatch.setenv("MAILER_DB_STATEMENT_TIMEOUT_SECONDS", "0")
    options = load_network().postgres_connect_args()["options"]
    assert "-c statement_timeout=0" in options


def test_a_sender_renews_its_lease_before_one_slow_smtp_step_could_outlast_it(
    test_env, monkeypatch
):
    """DECISIONS: a lease is longer than the SMTP timeout plus a pacing wait. With the
    defaults, a live sender waiting the longest one SMTP step may take, then one pacing
    wait at one mail a second, is still inside the lease it renewed before the mail.

    Mutant: the SMTP timeout as long as the lease (60 s, as it was)."""
    for name in ("SMTP_TIMEOUT_SECONDS", "CLAIM_LEASE_SECONDS", "SEND_RATE"):
        monkeypatch.delenv(f"MAILER_{name}", raising=False)
    settings = load_settings()
    timeout = settings.network.smtp_timeout_seconds
    assert timeout == 30.0
    assert settings.claim_lease_seconds > timeout + 1.0


def test_the_smtp_connection_waits_as_long_as_the_setting_says(monkeypatch, rt):
    """MAILER_SMTP_TIMEOUT_SECONDS reaches the socket of every SMTP connection (sends,
    previews, one-off mails) and the task time limits grow with it."""
    from mailer.celery_app import task_time_limits
    from mailer.mail.smtp import SMTPConnection

    monkeypatch.setenv("MAILER_SMTP_TIMEOUT_SECONDS", "7.5")
    network = load_network()
    assert network.smtp_timeout_seconds == 7.5
    settings = dataclasses.replace(rt.settings, network=network)
    with SMTPConnection(settings) as smtp:
        opened = smtp._open()  # the suite's SMTP sink
        assert opened.sock is not None and opened.sock.gettimeout() == 7.5
        opened.quit()
    assert SMTPConnection(settings, timeout=2.0).timeout == 2.0
    slow = dataclasses.replace(
        rt.settings, network=dataclasses.replace(network, smtp_timeout_seconds=300.0)
    )
    for name in ("mailer.send_batch", "mailer.send_confirmation", "mailer.notify_paused"):
        assert task_time_limits(slow)[name][0] > task_time_limits(settings)[name][0] + 250
