"""Metrics and JSON logs across real processes: gunicorn's workers add up (prometheus
multiprocess mode, each request served by a different worker process), a Celery worker
counts the mails it sends where the web app's /metrics and its own MAILER_METRICS_LISTEN
show them, and with MAILER_LOG_FORMAT=json every log line of both is one JSON object with
the ids of what it is about."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailer.app import create_app
from mailer.config_metrics import MetricsSettings
from mailer.issues.models import Issue
from mailer.runtime import Runtime
from mailer.sending import service
from tests.harness import factories
from tests.harness.databases import RedisServer
from tests.harness.processes import free_port, wait_until
from tests.harness.workers import CeleryWorker
from tests.web.test_metrics import TOKEN, value
from tests.web.test_web_processes import CONFIG, Gunicorn, _env

REQUESTS = 4
# Celery's own text format, "[2026-11-28 09:00:00,000: INFO/MainProcess] …": must not appear.
CELERY_TEXT_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+: [A-Z]+/")


def _get(port: int, path: str, token: str | None = TOKEN) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def test_gunicorn_workers_add_up_and_log_json(test_env, tmp_path, redis_server) -> None:
    access_log = tmp_path / "access.log"
    env = _env(
        test_env,
        tmp_path,
        MAILER_REDIS_URL=redis_server.url,
        MAILER_METRICS_TOKEN=TOKEN,
        MAILER_LOG_FORMAT="json",
    )
    server = Gunicorn(
        [
            *CONFIG,
            "--workers",
            "2",
            # Each worker process serves one request and is replaced by a fresh one: every
            # request below is counted by a different process, most of them gone by the scrape.
            "--max-requests",
            "1",
            "--logger-class",
            "mailer.web.access_log.RedactingLogger",
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
        for _ in range(REQUESTS):
            assert server.request("GET", "/healthz")[0] == 200
        status, text = _get(server.port, "/metrics")
        assert status == 200, text
        assert _get(server.port, "/metrics", token=None)[0] == 401

        def healthz_lines() -> list[list[str]]:
            lines = [entry["message"].split() for entry in _json_lines(access_log)]
            return [line for line in lines if line[1:3] == ["GET", "/healthz"]]

        wait_until(lambda: len(healthz_lines()) >= REQUESTS, "the access log lines")
    finally:
        server.stop()

    served = healthz_lines()
    assert len({pid for pid, *_ in served}) == len(served)  # one process each
    counted = value(
        text, "mailer_http_requests_total", method="GET", endpoint="public.healthz", status="200"
    )
    assert counted == len(served)
    # Every line gunicorn wrote (its own log and the access log) is one JSON object.
    for log in (tmp_path / "gunicorn.log", access_log):
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines and all(isinstance(json.loads(line), dict) for line in lines), log


@pytest.fixture
def worker_host(
    app: Flask, rt: Runtime, test_env: dict[str, str], tmp_path: Path
) -> Iterator[tuple[Flask, CeleryWorker, int]]:
    """A Celery worker as on a host of its own: its own var/ (metrics, journals, and the
    embedded broker's folder), its own queue, JSON logs and MAILER_METRICS_LISTEN; and
    the app as a web process on that host would build it."""
    port = free_port()
    queue = f"mailer-metrics-{secrets.token_hex(4)}"
    var_dir = tmp_path / "host-var"
    env = {
        **test_env,
        "MAILER_VAR_DIR": str(var_dir),
        "MAILER_QUEUE": queue,
        "MAILER_METRICS_TOKEN": TOKEN,
        "MAILER_METRICS_LISTEN": f"127.0.0.1:{port}",
        "MAILER_LOG_FORMAT": "json",
    }
    worker = CeleryWorker(env, tmp_path / "worker.log", concurrency=2)
    web = create_app(
        dataclasses.replace(
            rt.settings,
            var_dir=var_dir,
            queue=queue,
            journal_dir=var_dir / "journal",
            metrics=MetricsSettings(token=TOKEN),
        )
    )
    web.config.update(TESTING=True)
    worker.start().wait_ready()
    try:
        yield web, worker, port
    finally:
        worker.stop()
        web.extensions["mailer"].db.engine.dispose()
        app.extensions["celery"].set_default()


def test_a_worker_counts_what_it_sends_and_exports_it(
    worker_host, session: Session, smtp_sink, queued_tasks
) -> None:
    web, worker, port = worker_host

    def scrape_web() -> str:
        answer = web.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    # This test process may have counted sends of its own (tests that call the task's code):
    # the web app adds those to the worker's.
    before = value(scrape_web(), "mailer_mails_total", outcome="sent")
    for i in range(3):
        factories.subscription(session, f"leser{i}@example.no")
    issue = factories.drafted_issue(session)
    assert service.start(session, issue.id)
    session.commit()
    for name, args in queued_tasks:  # what the web process would have sent to the broker
        web.extensions["celery"].send_task(name, args=list(args))

    def sent() -> bool:
        session.expire_all()
        return session.scalar(select(Issue.status).where(Issue.id == issue.id)) == "sent"

    wait_until(sent, "the issue sent by the worker")
    # The task counts once the batch returned, a moment after the issue is marked sent.
    wait_until(
        lambda: value(_get(port, "/metrics")[1], "mailer_mails_total", outcome="sent") == 3,
        "the worker's count of mails sent",
    )
    own = scrape_web()
    status, exported = _get(port, "/metrics")

    assert status == 200
    assert value(exported, "mailer_mails_total", outcome="sent") == 3
    assert value(own, "mailer_mails_total", outcome="sent") == before + 3
    for text in (own, exported):
        assert value(text, "mailer_deliveries", state="sent", issue_state="sent") == 3
    assert _get(port, "/metrics", token="wrong-token-0123456789")[0] == 401

    log_lines = worker.log_path.read_text().splitlines()
    assert not [line for line in log_lines if CELERY_TEXT_LINE.match(line)]
    entries = _json_lines(worker.log_path)
    batch = [e for e in entries if "batch of 3" in e["message"]]
    assert batch and batch[0]["issue_id"] == issue.id and batch[0]["level"] == "INFO"
