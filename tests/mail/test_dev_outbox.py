"""Issue 9, item 11: the dev outbox (every reader's links, no login) is on only with
MAILER_DEV_OUTBOX=true; with neither it nor MAILER_SMTP_HOST nothing starts, and the
message says what to set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mailer.config import ConfigError, load_settings
from tests.harness.apps import other_app
from tests.harness.processes import ROOT, free_port
from tests.harness.workers import celery_worker_command

BIN = Path(sys.executable).parent


@pytest.fixture
def no_smtp(monkeypatch, tmp_path, test_env) -> Path:
    monkeypatch.delenv("MAILER_SMTP_HOST", raising=False)
    monkeypatch.delenv("MAILER_SMTP_PORT", raising=False)
    monkeypatch.delenv("MAILER_DEV_OUTBOX", raising=False)
    monkeypatch.setenv("MAILER_VAR_DIR", str(tmp_path / "var"))
    return tmp_path


def test_without_smtp_host_or_dev_outbox_settings_refuse_and_name_both(no_smtp):
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "MAILER_SMTP_HOST" in str(refused.value)
    assert "MAILER_DEV_OUTBOX=true" in str(refused.value)


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
def test_dev_outbox_must_be_switched_on_explicitly(no_smtp, monkeypatch, value):
    monkeypatch.setenv("MAILER_DEV_OUTBOX", value)
    with pytest.raises(ConfigError, match="MAILER_DEV_OUTBOX"):
        load_settings()


def test_a_smtp_host_and_the_dev_outbox_together_are_refused(no_smtp, monkeypatch):
    monkeypatch.setenv("MAILER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("MAILER_DEV_OUTBOX", "true")
    with pytest.raises(ConfigError, match="MAILER_SMTP_HOST and MAILER_DEV_OUTBOX"):
        load_settings()


def test_with_dev_outbox_true_the_outbox_pages_exist(no_smtp, monkeypatch, app, session):
    monkeypatch.setenv("MAILER_DEV_OUTBOX", "true")
    settings = load_settings()
    assert settings.dev_outbox is True
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 8025)
    with other_app(app, settings) as dev:
        reply = dev.test_client().get("/outbox/")
    assert reply.status_code == 200


def test_with_a_smtp_host_the_outbox_is_404(app, client, rt):
    assert os.environ["MAILER_SMTP_HOST"] and not os.environ.get("MAILER_DEV_OUTBOX")
    assert rt.settings.dev_outbox is False
    assert client.get("/outbox/").status_code == 404
    assert client.get("/outbox/some-key").status_code == 404


def _refuses(command: list[str], tmp: Path) -> str:
    """Runs a service as Procfile would; it must exit on its own (not serve), non-zero."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAILER_SMTP_HOST", "MAILER_SMTP_PORT")}
    env.pop("MAILER_DEV_OUTBOX", None)
    log = tmp / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"{command[:4]} started with no SMTP host or outbox") from None
    output = log.read_text()
    assert code != 0, output
    assert "MAILER_SMTP_HOST" in output and "MAILER_DEV_OUTBOX=true" in output, output
    return output


def test_the_celery_worker_refuses_to_start(no_smtp):
    output = _refuses(celery_worker_command(1), no_smtp)
    assert "Traceback" not in output


def test_gunicorn_refuses_to_start(no_smtp):
    _refuses(
        [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "2",
            "mailer:create_app()",
        ],
        no_smtp,
    )


def test_mailer_run_refuses_to_start(no_smtp):
    output = _refuses(
        [str(BIN / "mailer"), "run", "--host", "127.0.0.1", "--port", str(free_port())], no_smtp
    )
    assert "Traceback" not in output
