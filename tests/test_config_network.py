"""The network settings (mailer/config_network.py): a session the application opens on
PostgreSQL carries its statement and idle-in-transaction timeouts and keepalives, so the
server ends what a vanished host left; bad values name their variable."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from mailer.config import ConfigError
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
