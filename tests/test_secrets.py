"""Issue 9, item 13: secrets stay secret — no key or password in repr(Settings), private
files and folders from their creation, and no personal token in any access log."""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import smtplib
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from mailer.config import load_settings
from mailer.db import Database
from mailer.mail.links import personal_link
from mailer.mail.outbox import start_outbox
from mailer.tokens import Purpose
from tests.harness import factories
from tests.harness.processes import ROOT, free_port, wait_until


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask():
    """The usual 022: anything not made private on purpose comes out world-readable."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def fresh_var(monkeypatch, tmp_path, loose_umask, test_env) -> Path:
    var = tmp_path / "fresh" / "var"
    monkeypatch.setenv("MAILER_VAR_DIR", str(var))
    monkeypatch.delenv("MAILER_SECRET_KEY")
    monkeypatch.delenv("MAILER_DATABASE_URL")
    return var


def test_a_fresh_var_dir_and_secret_key_are_private_from_the_start(fresh_var, monkeypatch):
    chmodded: list[str] = []
    real_chmod = os.chmod

    def recording_chmod(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        chmodded.append(str(path))
        real_chmod(path, *args, **kwargs)

    monkeypatch.setattr(os, "chmod", recording_chmod)
    settings = load_settings()
    assert _mode(fresh_var) == 0o700
    key = fresh_var / "secret_key"
    assert _mode(key) == 0o600
    # Created 0600, never written and then chmod'ed.
    assert not [p for p in chmodded if p.endswith("secret_key")], chmodded
    assert settings.secret_keys == (key.read_text().strip(),)
    assert [p.name for p in fresh_var.iterdir()] == ["secret_key"]  # no temporary left
    assert load_settings().secret_keys == settings.secret_keys  # kept across restarts


def test_an_existing_world_readable_var_dir_is_tightened(fresh_var):
    fresh_var.mkdir(parents=True, mode=0o755)
    fresh_var.chmod(0o755)
    load_settings()
    assert _mode(fresh_var) == 0o700


def test_the_sqlite_file_and_its_wal_and_shm_are_private(fresh_var):
    settings = load_settings()
    db = Database(settings.database_url)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE probe (x TEXT)"))
        conn.execute(text("INSERT INTO probe VALUES ('a')"))
    with db.engine.connect() as conn:  # WAL and SHM exist while a connection is open
        conn.execute(text("SELECT * FROM probe")).all()
        files = {p.name: _mode(p) for p in fresh_var.glob("mailer.db*")}
    db.engine.dispose()
    assert files == {"mailer.db": 0o600, "mailer.db-wal": 0o600, "mailer.db-shm": 0o600}


def test_the_dev_outbox_keeps_mails_private(tmp_path, loose_umask):
    folder = tmp_path / "var" / "outbox"
    port = free_port()
    controller = start_outbox(folder, "127.0.0.1", port)
    try:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "a@example.no", "b@example.no", "Bekreft"
        mail.set_content("https://nyhetsbrev.example.no/confirm/secret-token")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(mail)
    finally:
        controller.stop()
    assert {sub: _mode(folder / sub) for sub in ("", "new", "cur", "tmp")} == dict.fromkeys(
        ("", "new", "cur", "tmp"), 0o700
    )
    stored = list((folder / "new").iterdir())
    assert len(stored) == 1 and _mode(stored[0]) == 0o600


def test_repr_of_settings_shows_no_secret(monkeypatch, rt):
    secrets = {
        "MAILER_SECRET_KEY": "first-signing-key-XYZ,second-old-key-XYZ",
        "MAILER_SMTP_PASSWORD": "smtp-pass-XYZ",
        "MAILER_DATABASE_URL": "postgresql+psycopg://mailer:db-pass-XYZ@db.internal:5432/mailer",
        "MAILER_BROKER_URL": "redis://:redis-pass-XYZ@redis.internal:6379/0",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = dataclasses.replace(load_settings(), dkim_private_key=b"-----BEGIN dkim-XYZ")
    for shown in (repr(settings), str(settings), f"{settings!r}"):
        assert "XYZ" not in shown, shown
        # What is not secret stays readable: hosts, user names, the rest of the settings.
        assert "db.internal:5432/mailer" in shown and "mailer:***@" in shown
        assert "redis://:***@redis.internal" in shown
        assert "smtp_password='***'" in shown and "secret_keys=('***', '***')" in shown
        assert "dkim_private_key='***'" in shown and "smtp_port=" in shown
    # The values themselves are untouched.
    assert settings.smtp_password == "smtp-pass-XYZ"
    assert "db-pass-XYZ" in settings.database_url


def _web_command(procfile: str) -> str:
    for line in (ROOT / procfile).read_text().splitlines():
        if line.startswith("web:"):
            # One gunicorn worker is enough to see its access log line.
            return line.removeprefix("web:").strip().replace("--workers 4", "--workers 1")
    raise AssertionError(f"no web process in {procfile}")


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.dev"])
def test_access_logs_record_no_tokens(procfile, session, rt, test_env, tmp_path):
    """The web process exactly as the Procfile starts it (gunicorn with its access log on
    stdout, or the dev server's werkzeug log), on a loopback port."""
    subscription = factories.subscription(session, "kari@example.no", "Kari")
    session.commit()
    links = [
        personal_link(rt.settings, rt.tokens, purpose, subscription.id, subscription.link_secret)
        for purpose in (Purpose.UNSUBSCRIBE, Purpose.CONFIRM, Purpose.PREFERENCES)
    ]
    tokens = [link.rpartition("/")[2] for link in links]
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**test_env, "PORT": str(port), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    log = tmp_path / "web.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", "exec " + _web_command(procfile)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{base}/healthz"), f"{shlex.quote(procfile)} web on {port}")
        for link, token in zip(links, tokens, strict=True):
            path = link.removeprefix(rt.settings.base_url)
            assert _answers(f"{base}{path}?lang=en")
            assert _answers(f"{base}/unsubscribe/{token}/extra")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    logged = log.read_text()
    for prefix in ("/unsubscribe/", "/confirm/", "/preferences/"):
        assert f"{prefix}[token]?lang=en" in logged, logged
    for token in tokens:
        assert token not in logged, logged


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10):
            return True
    except urllib.error.HTTPError:
        return True  # an answer, whatever the status
    except OSError:
        return False
