"""Request limits hold across gunicorn's worker processes (Redis), and gunicorn with more
than one worker refuses to start while limits are kept per process."""

from __future__ import annotations

import http.client
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.harness.databases import RedisServer
from tests.harness.processes import ROOT, free_port, wait_until

GUNICORN = str(Path(sys.executable).parent / "gunicorn")
APP = "mailer:create_app()"
CONFIG = ["-c", "python:mailer.web.gunicorn_conf"]
LIMIT = 3
DEADLINE = 60


def _env(test_env: dict[str, str], tmp_path: Path, **changes: str) -> dict[str, str]:
    """The test settings with a private var/ and the embedded broker, so that nothing
    shared (a Redis broker) stands in for the limit store unless a test sets one."""
    env = {
        **test_env,
        "MAILER_VAR_DIR": str(tmp_path / "var"),
        "MAILER_BROKER_URL": "filesystem://",
    }
    for name in ("MAILER_REDIS_URL", "MAILER_RATELIMIT_STORAGE_URL", "SERVER_SOFTWARE"):
        env.pop(name, None)
    env.update(changes)
    return env


class Gunicorn:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.proc = subprocess.Popen(
            [GUNICORN, *args, "--bind", f"127.0.0.1:{self.port}", APP],
            env=env,
            cwd=ROOT,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log.read_text()}")
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def wait_ready(self) -> None:
        wait_until(self._answers, f"gunicorn on port {self.port}", timeout=DEADLINE)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        # A new connection each time: gunicorn's sync workers take connections in turn.
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=DEADLINE)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(DEADLINE)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def test_the_signup_limit_holds_across_gunicorn_workers(test_env, tmp_path, redis_server):
    access_log = tmp_path / "access.log"
    env = _env(
        test_env,
        tmp_path,
        MAILER_REDIS_URL=redis_server.url,
        MAILER_SIGNUP_LIMITS=f"{LIMIT}/minute",
    )
    server = Gunicorn(
        [
            *CONFIG,
            "--workers",
            "3",
            # Each worker process serves one request and is replaced by a fresh one:
            # every request below is counted by a different process.
            "--max-requests",
            "1",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
        ],
        env,
        tmp_path / "gunicorn.log",
    )
    try:
        server.wait_ready()
        answers = [
            server.request("POST", "/api/v1/subscribers", body="[]")[0] for _ in range(LIMIT + 1)
        ]
        wait_until(
            lambda: access_log.read_text().count("POST") == LIMIT + 1, "the access log lines"
        )
    finally:
        server.stop()
    assert answers == [400] * LIMIT + [429]
    posts = [line.split() for line in access_log.read_text().splitlines() if " POST " in line]
    pids = {pid for pid, *_ in posts}
    assert len(pids) == LIMIT + 1, posts


@pytest.mark.parametrize("config", [True, False], ids=["procfile-config", "plain-gunicorn"])
def test_gunicorn_with_two_workers_and_per_process_limits_refuses_to_start(
    test_env, tmp_path, config
):
    port = free_port()
    args = [*CONFIG] if config else []
    result = subprocess.run(
        [GUNICORN, *args, "--workers", "2", "--bind", f"127.0.0.1:{port}", APP],
        env=_env(test_env, tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "MAILER_REDIS_URL=redis://" in output, output
    if config:
        # Refused by the master, before any worker was forked.
        assert "gunicorn would run 2 workers" in output
        assert "Booting worker" not in output


def test_one_worker_with_per_process_limits_starts_and_refuses_a_second(test_env, tmp_path):
    log = tmp_path / "gunicorn.log"
    server = Gunicorn([*CONFIG, "--workers", "1"], _env(test_env, tmp_path), log)
    try:
        server.wait_ready()
        workers = psutil.Process(server.proc.pid).children()
        assert len(workers) == 1
        # TTIN asks the master for one worker more: refused, and it keeps serving.
        server.proc.send_signal(signal.SIGTTIN)
        wait_until(lambda: "not adding a worker" in log.read_text(), "the refusal in the log")
        assert "MAILER_REDIS_URL=redis://" in log.read_text()
        assert server.request("GET", "/healthz")[0] == 200
        assert psutil.Process(server.proc.pid).children() == workers
    finally:
        server.stop()
