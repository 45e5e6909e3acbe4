"""RabbitMQ for tests: the machine's broker (127.0.0.1:5672, guest/guest), with a virtual
host of our own per test run, so that runs sharing the broker never take each other's
messages and the quorum queues a run declared go with its vhost."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from urllib.parse import quote, urlsplit, urlunsplit

from tests.harness.processes import TIMEOUT

AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")


def is_amqp(url: str) -> bool:
    return url.startswith(AMQP_SCHEMES)


def _rabbitmqctl(*args: str) -> str:
    exe = shutil.which("rabbitmqctl")
    if exe is None:
        raise AssertionError("rabbitmqctl is not installed; RabbitMQ tests need it")
    done = subprocess.run(
        [exe, "-q", *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if done.returncode:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed:\n{done.stderr}{done.stdout}")
    return done.stdout


def check_rabbitmq(url: str) -> None:
    """Fail, never skip, when the RabbitMQ at ``url`` does not answer."""
    from kombu import Connection

    with Connection(url, connect_timeout=10) as conn:
        conn.ensure_connection(max_retries=1)


class Vhost:
    """A virtual host ``<prefix>-<hex>`` on the broker of ``server_url``, guest allowed;
    ``delete()`` removes it with every queue and exchange in it."""

    def __init__(self, server_url: str, prefix: str = "mailer-test") -> None:
        self.name = f"{prefix}-{secrets.token_hex(4)}"
        parts = urlsplit(server_url)
        user = parts.username or "guest"
        _rabbitmqctl("add_vhost", self.name)
        _rabbitmqctl("set_permissions", "-p", self.name, user, ".*", ".*", ".*")
        self.url = urlunsplit((parts.scheme, parts.netloc, "/" + quote(self.name, safe=""), "", ""))

    def queues(self) -> dict[str, str]:
        """Queue name → type (classic, quorum) in this vhost."""
        out = _rabbitmqctl("list_queues", "-p", self.name, "--no-table-headers", "name", "type")
        rows = (line.split("\t") for line in out.splitlines() if line.strip())
        return {row[0]: row[1] for row in rows if len(row) == 2}

    def delete(self) -> None:
        _rabbitmqctl("delete_vhost", self.name)
