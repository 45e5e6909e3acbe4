"""The production profile, end to end: the `Procfile` (gunicorn with four workers, a Celery
worker, beat) started by honcho as the README says, on PostgreSQL, Redis and a real SMTP
server; a reader signs up on the form, confirms from the mail, an editor pushes an article
and sends the issue through the API, and the reader leaves with the mail's one-click
unsubscribe (RFC 8058). Whatever the suite runs on, this test runs on PostgreSQL (a
throwaway database) and a private redis-server."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parseaddr
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from mailer.subscribers.models import Subscriber, Subscription
from tests.harness.databases import RedisServer, ThrowawayDatabase
from tests.harness.pages import csrf_token, links
from tests.harness.processes import ROOT, free_port, wait_until
from tests.harness.smtp import SMTPSink

BIN = Path(sys.executable).parent
SERVER = os.environ.get(
    "MAILER_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
READER = "kari.nordmann@example.no"
EDITOR = "redaktor@example.no"
WEB_WORKERS = 4  # the Procfile's --workers


class Production:
    def __init__(self, tmp: Path, database_url: str, redis_url: str, smtp_port: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "honcho.log"
        # Only what an operator sets (README "Production"), nothing the suite exported.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
        self.env.update(
            PATH=f"{BIN}:{os.environ['PATH']}",
            MAILER_DATABASE_URL=database_url,
            MAILER_BROKER_URL=redis_url,
            MAILER_SECRET_KEY=secrets.token_urlsafe(48),
            MAILER_BASE_URL=self.base,
            MAILER_FROM="Europakontoret – nyhetsbrev <nyhetsbrev@europakontor.example.no>",
            MAILER_SMTP_HOST="127.0.0.1",
            MAILER_SMTP_PORT=str(smtp_port),
            MAILER_SMTP_SECURITY="none",
            MAILER_VAR_DIR=str(tmp / "var"),
            # A person fills the form in more than 3 s; this test does not.
            MAILER_MIN_FILL_SECONDS="0",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def mailer(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(BIN / "mailer"), *args],
            env=self.env,
            cwd=ROOT,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"mailer {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done.stdout

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "honcho"), "-f", "Procfile", "start", "--port", str(self.port)],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self._healthy, "the production web process on /healthz", timeout=120)

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"honcho exited:\n{self.log.read_text(errors='replace')}")
        try:
            return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or still booting its workers
            return False

    def processes(self) -> list[str]:
        assert self.proc is not None
        found = []
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                if child.name() not in ("sh", "bash", "dash"):  # honcho's shell wrappers
                    found.append(" ".join(child.cmdline()))
            except psutil.NoSuchProcess:
                continue
        return found

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # honcho stops web, worker and beat
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def production(tmp_path: Path) -> Iterator[tuple[Production, SMTPSink, Engine]]:
    database = ThrowawayDatabase(SERVER)
    redis = RedisServer(tmp_path / "redis")
    sink = SMTPSink()
    engine = create_engine(database.url)
    try:
        redis.start()
        sink.start()
        profile = Production(tmp_path, database.url, redis.url, sink.port)
        try:
            yield profile, sink, engine
        finally:
            profile.stop()
    finally:
        engine.dispose()
        sink.stop()
        redis.kill()
        database.drop()


def _status(engine: Engine, email: str) -> str:
    with engine.connect() as conn:
        query = select(Subscription.status).join(Subscriber).where(Subscriber.email == email)
        return str(conn.execute(query).scalar_one())


def test_signup_confirm_send_unsubscribe_on_the_production_profile(production) -> None:
    app, sink, engine = production
    app.mailer("db", "upgrade")
    app.mailer("editor", "create", EDITOR, "--role", "admin", "--password-stdin", stdin="x" * 12)
    token = app.mailer("editor", "token", EDITOR).strip().splitlines()[-1]
    app.start()
    commands = app.processes()
    assert sum("gunicorn" in c and "create_app" in c for c in commands) == 1 + WEB_WORKERS
    # The worker's main process: its command line, or the title Celery gives it once it runs.
    assert any("-m worker --loglevel" in c or ":MainProcess]" in c for c in commands)
    assert any("worker.app beat" in c for c in commands)

    # Signup on the form, as a browser does it (its cookie and CSRF token).
    browser = requests.Session()
    form = browser.get(f"{app.base}/subscribe", timeout=30)
    assert form.status_code == 200 and "Meld deg på vårt nyhetsbrev" in form.text
    signup = browser.post(
        f"{app.base}/subscribe",
        data={
            "email": READER,
            "name": "Kari Nordmann",
            "consent": "on",
            "language": "nb",
            "csrf_token": csrf_token(form.text),
        },
        timeout=30,
    )
    assert signup.status_code == 200, signup.text
    [confirmation] = sink.wait_for(1)
    assert _status(engine, READER) == "pending"

    # Confirm from the mail: the link points at this web process.
    [url] = set(links(confirmation.part("text/plain"), "/confirm/"))
    assert url.startswith(app.base)
    assert requests.post(url, timeout=30).status_code == 200
    assert _status(engine, READER) == "active"

    # An editor pushes an article and sends the issue drafted from it.
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    article = api.post(
        f"{app.base}/api/v1/articles",
        json={
            "url": "https://www.example.no/nyheter/1",
            "title": "Ny avtale om grønn skipsfart – «et løft for kysten»",
            "published_at": datetime.now(UTC).isoformat(),
        },
        timeout=30,
    )
    assert article.status_code == 201, article.text
    draft = api.post(f"{app.base}/api/v1/issues", timeout=30)
    assert draft.status_code == 201, draft.text
    issue_id = draft.json()["id"]
    send = api.post(f"{app.base}/api/v1/issues/{issue_id}/send", timeout=30)
    assert send.status_code == 202, send.text

    wait_until(
        lambda: (
            api.get(f"{app.base}/api/v1/issues/{issue_id}", timeout=30).json()["status"] == "sent"
        ),
        "the issue to be sent",
    )
    [digest] = [m for m in sink.messages if m.message["List-Id"]]
    assert parseaddr(str(digest.message["To"]))[1] == READER
    assert "grønn skipsfart" in digest.part("text/plain")

    # One click from the mail client: a POST to the List-Unsubscribe URL, no cookie.
    assert digest.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [https_url] = [
        part.strip(" <>")
        for part in str(digest.message["List-Unsubscribe"]).split(",")
        if part.strip(" <>").startswith("http")
    ]
    assert https_url.startswith(f"{app.base}/unsubscribe/")
    one_click = requests.post(https_url, data={"List-Unsubscribe": "One-Click"}, timeout=30)
    assert one_click.status_code == 200
    assert _status(engine, READER) == "unsubscribed"
