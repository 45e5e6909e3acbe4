"""How long a connection to a server that stopped answering may live: the settings that let
a worker host cut off from the network (README "Growing past one machine") give up its
connections in bounded time, and let the servers give up the host's.

A cut link sends no reset: without these, a PostgreSQL backend of a vanished host waits
for its next command for ever (holding its locks if it was in a transaction), and the
host's own sockets wait for answers that never come.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, NoReturn

_SECONDS = r"\d+(\.\d*)?"


def _refuse(message: str) -> NoReturn:
    # mailer.config imports this module for its Settings field: its ConfigError is
    # imported when needed, not at module level, so the two never import each other.
    from mailer.config import ConfigError

    raise ConfigError(message)


@dataclass(frozen=True)
class NetworkSettings:
    # A peer that stops answering is given up within about this long: TCP keepalives and
    # TCP_USER_TIMEOUT on both ends of every PostgreSQL connection, on Redis and broker
    # connections, and the RabbitMQ heartbeat.
    dead_peer_seconds: float = 30.0
    # PostgreSQL's statement_timeout and idle_in_transaction_session_timeout for the
    # application's sessions (migrations run without them); 0 turns one off.
    statement_timeout_seconds: float = 300.0
    idle_in_transaction_seconds: float = 60.0
    # Opening a connection to PostgreSQL, Redis or the broker.
    connect_timeout_seconds: float = 10.0
    # The longest one SMTP step (connect, one reply) may take. Shorter than a send run's
    # lease (MAILER_CLAIM_LEASE_SECONDS, 60) with a pacing wait on top, so that a live
    # sender waiting on a slow server renews its lease before anyone may judge it gone.
    smtp_timeout_seconds: float = 30.0

    @property
    def keepalive(self) -> tuple[int, int, int]:
        """(idle, interval, count) in whole seconds: the last probe is unanswered by
        idle + interval × count ≤ dead_peer_seconds (at least 3 s: the kernel counts in
        whole seconds)."""
        interval = max(1, int(self.dead_peer_seconds / 6))
        idle = max(1, int(self.dead_peer_seconds) - 3 * interval)
        return idle, interval, 3

    def postgres_connect_args(self) -> dict[str, Any]:
        """libpq options for the client's side and, through ``options``, the server's
        (each session sets its own tcp_keepalives_* and timeouts; no server config needed)."""
        idle, interval, count = self.keepalive
        user_timeout_ms = int(self.dead_peer_seconds * 1000)
        server = {
            "statement_timeout": int(self.statement_timeout_seconds * 1000),
            "idle_in_transaction_session_timeout": int(self.idle_in_transaction_seconds * 1000),
            "tcp_keepalives_idle": idle,
            "tcp_keepalives_interval": interval,
            "tcp_keepalives_count": count,
            "tcp_user_timeout": user_timeout_ms,
        }
        return {
            # libpq takes whole seconds and treats 1 as 2.
            "connect_timeout": max(2, round(self.connect_timeout_seconds)),
            "keepalives": 1,
            "keepalives_idle": idle,
            "keepalives_interval": interval,
            "keepalives_count": count,
            "tcp_user_timeout": user_timeout_ms,
            "options": " ".join(f"-c {name}={value}" for name, value in server.items()),
        }

    def redis_options(self) -> dict[str, Any]:
        """redis-py (and kombu's Redis transport) socket options: every call returns or
        fails within dead_peer_seconds, and an idle connection is probed."""
        import socket

        idle, interval, count = self.keepalive
        options: dict[int, int] = {}
        for name, value in (
            ("TCP_KEEPIDLE", idle),
            ("TCP_KEEPINTVL", interval),
            ("TCP_KEEPCNT", count),
        ):
            if hasattr(socket, name):
                options[getattr(socket, name)] = value
        return {
            "socket_timeout": self.dead_peer_seconds,
            "socket_connect_timeout": self.connect_timeout_seconds,
            "socket_keepalive": True,
            "socket_keepalive_options": options,
        }

    @property
    def broker_heartbeat(self) -> int:
        """AMQP heartbeat in seconds: the broker drops a silent consumer (and gives its
        unacknowledged tasks to another) after two missed beats."""
        return max(1, int(self.dead_peer_seconds / 2))


def _seconds(name: str, default: float, *, off: bool) -> float:
    raw = os.environ.get(f"MAILER_{name}", "").strip() or repr(default)
    if not re.fullmatch(_SECONDS, raw) or float(raw) > 86400:
        _refuse(f"MAILER_{name} must be seconds, from 0 to 86400, not {raw!r}")
    value = float(raw)
    if value == 0 and not off:
        _refuse(f"MAILER_{name} must be above 0")
    return value


def load_network() -> NetworkSettings:
    """MAILER_DEAD_PEER_SECONDS (30), MAILER_DB_STATEMENT_TIMEOUT_SECONDS (300, 0 = off),
    MAILER_DB_IDLE_IN_TRANSACTION_SECONDS (60, 0 = off), MAILER_CONNECT_TIMEOUT_SECONDS (10),
    MAILER_SMTP_TIMEOUT_SECONDS (30)."""
    defaults = NetworkSettings()
    dead_peer = _seconds("DEAD_PEER_SECONDS", defaults.dead_peer_seconds, off=False)
    if dead_peer < 3:
        _refuse("MAILER_DEAD_PEER_SECONDS must be at least 3")
    return NetworkSettings(
        dead_peer_seconds=dead_peer,
        statement_timeout_seconds=_seconds(
            "DB_STATEMENT_TIMEOUT_SECONDS", defaults.statement_timeout_seconds, off=True
        ),
        idle_in_transaction_seconds=_seconds(
            "DB_IDLE_IN_TRANSACTION_SECONDS", defaults.idle_in_transaction_seconds, off=True
        ),
        connect_timeout_seconds=_seconds(
            "CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds, off=False
        ),
        smtp_timeout_seconds=_seconds(
            "SMTP_TIMEOUT_SECONDS", defaults.smtp_timeout_seconds, off=False
        ),
    )
