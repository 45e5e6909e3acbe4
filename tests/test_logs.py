"""MAILER_LOG_FORMAT=json: the app factory (which the web, the workers and every CLI
command run) makes each log line one JSON object, with the ids of the issue, delivery or
subscriber it is about, from the call, the task's context or the request's URL."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from mailer.app import create_app
from mailer.config import ConfigError
from mailer.config_metrics import MetricsSettings, load_metrics
from mailer.logs import log_context
from mailer.runtime import Runtime


@pytest.fixture
def json_app(app: Flask, rt: Runtime) -> Iterator[Flask]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    other = create_app(dataclasses.replace(rt.settings, metrics=MetricsSettings(log_format="json")))
    yield other
    root.handlers, root.level = handlers, level
    other.extensions["mailer"].db.engine.dispose()
    app.extensions["celery"].set_default()


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_each_line_is_one_json_object_with_the_ids(json_app: Flask, capsys) -> None:
    log = logging.getLogger("mailer.sending.batch")
    with log_context(issue_id=7):
        log.warning("in doubt: «451 prøv igjen»", extra={"delivery_id": 42})
        with log_context(subscriber_id=3):
            log.info("to linjer\ni én melding")
    with json_app.test_request_context("/api/v1/issues/12/send", method="POST"):
        logging.getLogger("mailer.web").info("from a request")
    logging.getLogger("mailer").info("no ids here")

    first, second, third, fourth = _lines(capsys.readouterr().err)

    assert first["message"] == "in doubt: «451 prøv igjen»"
    assert (first["issue_id"], first["delivery_id"], first["level"]) == (7, 42, "WARNING")
    assert first["logger"] == "mailer.sending.batch"
    assert first["time"].endswith("+00:00")
    assert (second["issue_id"], second["subscriber_id"]) == (7, 3)
    assert second["message"] == "to linjer\ni én melding"
    assert third["issue_id"] == 12
    assert "issue_id" not in fourth and "delivery_id" not in fourth


def test_building_the_app_twice_writes_each_line_once(json_app: Flask, rt: Runtime, capsys):
    again = create_app(dataclasses.replace(rt.settings, metrics=MetricsSettings(log_format="json")))
    try:
        logging.getLogger("mailer").warning("én gang")
        assert len(_lines(capsys.readouterr().err)) == 1
    finally:
        again.extensions["mailer"].db.engine.dispose()


@pytest.mark.parametrize(
    ("variable", "given", "named"),
    [
        ("MAILER_LOG_FORMAT", "xml", "MAILER_LOG_FORMAT must be text or json"),
        ("MAILER_METRICS_TOKEN", "kort", "MAILER_METRICS_TOKEN must be at least 16"),
        ("MAILER_METRICS_LISTEN", "9464", "MAILER_METRICS_LISTEN must be host:port"),
    ],
)
def test_bad_settings_name_the_variable(monkeypatch, variable, given, named) -> None:
    monkeypatch.setenv(variable, given)
    with pytest.raises(ConfigError, match=named):
        load_metrics()


def test_settings_never_show_the_metrics_token(monkeypatch) -> None:
    monkeypatch.setenv("MAILER_METRICS_TOKEN", "hemmelig-token-0123456789")
    monkeypatch.setenv("MAILER_METRICS_LISTEN", "[::1]:9464")
    loaded = load_metrics()
    assert loaded.worker_listen == ("::1", 9464)
    assert "hemmelig" not in repr(loaded)
