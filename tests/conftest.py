"""Fixtures over real components.

By default the suite runs on SQLite and the filesystem broker. With
MAILER_TEST_DATABASE_URL (PostgreSQL) and MAILER_TEST_BROKER_URL (Redis) it
runs the same tests against those servers; it fails, never skips, when they
cannot be reached.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from flask import Flask
from hypothesis import HealthCheck
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

import mailer.models  # noqa: F401  (every table on Base.metadata, for the clean-up below)
from mailer import queue
from mailer.app import create_app
from mailer.config import load_settings
from mailer.db import Base
from mailer.issues import newsletter_cache
from mailer.issues.models import Newsletter
from mailer.migrate import upgrade
from mailer.runtime import Runtime
from tests.harness import axe
from tests.harness.apps import other_app
from tests.harness.axe import AxeBrowser
from tests.harness.databases import ThrowawayDatabase, check_redis, rolled_back
from tests.harness.http import FeedServer
from tests.harness.rabbitmq import Vhost, check_rabbitmq, is_amqp
from tests.harness.smtp import SMTPSink
from tests.harness.workers import CeleryWorker

SECRET = "test-secret-key-0123456789"

# --- hypothesis: the profile is chosen explicitly, and the run says which -----------------
# MAILER_HYPOTHESIS_PROFILE=small (the default: `make test` on a workstation) or large
# (`.ci/run`). Every property test runs with the loaded profile's example count.
HYPOTHESIS_PROFILES = {"small": 200, "large": 2000}
_HYPOTHESIS_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # no .hypothesis/ directory in the repository
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,  # the fixtures hold for every example on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
}
for _name, _examples in HYPOTHESIS_PROFILES.items():
    hypothesis.settings.register_profile(
        _name, max_examples=_examples, print_blob=True, **_HYPOTHESIS_COMMON
    )


def hypothesis_profile() -> str:
    name = os.environ.get("MAILER_HYPOTHESIS_PROFILE", "").strip() or "small"
    if name not in HYPOTHESIS_PROFILES:
        raise pytest.UsageError(
            f"MAILER_HYPOTHESIS_PROFILE={name!r}: choose one of {', '.join(HYPOTHESIS_PROFILES)}"
        )
    return name


def pytest_configure(config: pytest.Config) -> None:
    hypothesis.settings.load_profile(hypothesis_profile())


def pytest_report_header(config: pytest.Config) -> str:
    name = hypothesis_profile()
    return (
        f"mailer: hypothesis profile {name!r} ({HYPOTHESIS_PROFILES[name]} examples per "
        "property; MAILER_HYPOTHESIS_PROFILE=small|large)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    name = hypothesis_profile()
    terminalreporter.write_line(
        f"mailer: property tests ran the {name!r} hypothesis profile "
        f"({hypothesis.settings().max_examples} examples each)"
    )


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SMTPSink]:
    sink = SMTPSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def test_env(
    tmp_path_factory: pytest.TempPathFactory, smtp_sink: SMTPSink
) -> Iterator[dict[str, str]]:
    var_dir: Path = tmp_path_factory.mktemp("var")
    pg_url = os.environ.get("MAILER_TEST_DATABASE_URL", "")
    broker_url = os.environ.get("MAILER_TEST_BROKER_URL", "")
    created: ThrowawayDatabase | None = None
    if pg_url:
        created = ThrowawayDatabase(pg_url)
        database_url = created.url
    else:
        database_url = f"sqlite:///{var_dir / 'mailer.db'}"
    redis_url = os.environ.get("MAILER_TEST_REDIS_URL", "")
    vhost: Vhost | None = None
    if is_amqp(broker_url):
        # RabbitMQ: a vhost of this run's own; shared state (pacer, limits) in Redis.
        check_rabbitmq(broker_url)
        vhost = Vhost(broker_url)
        broker_url = vhost.url
        if redis_url:
            check_redis(redis_url)
    elif broker_url:
        check_redis(broker_url)
    env = {
        "MAILER_VAR_DIR": str(var_dir),
        "MAILER_DATABASE_URL": database_url,
        "MAILER_BROKER_URL": broker_url or "filesystem://",
        # With RabbitMQ the store several processes share is a Redis of its own.
        "MAILER_REDIS_URL": redis_url if vhost is not None else "",
        "MAILER_SECRET_KEY": SECRET,
        "MAILER_BASE_URL": "https://nyhetsbrev.example.no",
        "MAILER_FROM": "Europakontoret – nyhetsbrev <nyhetsbrev@europakontor.example.no>",
        "MAILER_SMTP_HOST": "127.0.0.1",
        "MAILER_SMTP_PORT": str(smtp_sink.port),
        "MAILER_SMTP_SECURITY": "none",
        # The suite's own SMTP server, never the dev outbox, whatever the shell exported.
        "MAILER_DEV_OUTBOX": "",
        "MAILER_TOPICS": "Innovasjon,Klima,Forskning",
        # Our own queue: test runs sharing a Redis never take each other's tasks.
        "MAILER_QUEUE": f"mailer-test-{secrets.token_hex(4)}",
        # Test clients post a form the moment they fetched it; tests of the minimum fill
        # time (test_abuse.py) raise it on rt.settings.
        "MAILER_MIN_FILL_SECONDS": "0",
        # Every test feed is served on loopback; tests of the address rule turn this off
        # on their own settings (tests/test_outbound.py).
        "MAILER_FEED_ALLOW_PRIVATE": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    if created is None and "MUTANT_UNDER_TEST" in os.environ:
        _migrated_sqlite_copy(var_dir / "mailer.db")
    else:
        upgrade(database_url)
    yield {**os.environ, **env}
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if created:
        created.drop()
    if vhost is not None:
        vhost.delete()


# `make mutate` (mutmut) runs one pytest session per mutant, in a process forked from its
# own, where the first session ran: the migrations would run again for every mutant
# (seconds each). Under mutmut a SQLite database is migrated once, in that first session,
# and every later session starts from a copy of it.
_MIGRATED: list[Path] = []


def _migrated_sqlite_copy(target: Path) -> None:
    import atexit
    import shutil
    import tempfile

    if not _MIGRATED:
        upgrade(f"sqlite:///{target}")
        kept = Path(tempfile.mkdtemp(prefix="mailer-migrated-")) / "mailer.db"
        _copy_sqlite(target, kept)  # the sessions' copies never write to this one
        _MIGRATED.append(kept)
        # The process that made it removes it (mutmut's forked children leave by os._exit).
        atexit.register(shutil.rmtree, kept.parent, True)
        return
    _copy_sqlite(_MIGRATED[0], target)


def _copy_sqlite(source: Path, target: Path) -> None:
    import sqlite3

    # SQLite's backup API: also what the WAL file holds, never a torn copy.
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@pytest.fixture(scope="session")
def app(test_env: dict[str, str]) -> Flask:
    flask_app = create_app(load_settings())
    flask_app.config.update(TESTING=True)
    return flask_app


@pytest.fixture(scope="session")
def rt(app: Flask) -> Runtime:
    return app.extensions["mailer"]  # type: ignore[no-any-return]


@pytest.fixture
def session(
    request: pytest.FixtureRequest, app: Flask, rt: Runtime, smtp_sink: SMTPSink
) -> Iterator[Session]:
    """A session on the real database, and the tasks the test queued purged afterwards, so
    that no later test's worker runs them.

    In a module or test marked ``rolled_back`` (domain code, views through the test
    client, commands through the CLI runner: all in this thread, through ``rt.db``) the
    test runs in one transaction that is rolled back at its end. Otherwise (a worker, a
    subprocess, the live server, a second app or engine) it commits for real and every
    row it made is deleted afterwards. So does a test marked ``committed`` in a
    rolled_back module: one that holds two sessions at once, or rolls its own session
    back to see what a request committed meanwhile (one connection has one stack of
    savepoints: that rollback would undo the request too)."""
    from mailer.web.limits import limiter

    smtp_sink.clear()
    limiter.reset()  # request limits count per test, so no test is throttled by another's
    in_transaction = (
        request.node.get_closest_marker("rolled_back") is not None
        and request.node.get_closest_marker("committed") is None
    )
    if in_transaction:
        with rolled_back(rt.db) as s:
            yield s
    else:
        with rt.db.session() as s:
            yield s
            s.rollback()
    smtp_sink.release()
    app.extensions["celery"].control.purge()
    if not in_transaction:
        _delete_rows(rt)
    # A rolled-back test may have changed the newsletter's topics; this process's copy goes.
    newsletter_cache.clear()
    rt.site.invalidate()  # stored settings a test saved (or rolled back) are read afresh


def _delete_rows(rt: Runtime) -> None:
    with rt.db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != Newsletter.__tablename__:
                conn.execute(delete(table))
        # The one newsletter row stays; settings a test saved go back to the migration's seed.
        conn.execute(update(Newsletter).values(name="Nyhetsbrev", language="nb", topics=[]))


@pytest.fixture
def app_behind_proxy(app: Flask, session: Session) -> Iterator[Flask]:
    """The app as the factory builds it with MAILER_TRUSTED_PROXIES=1 (one proxy in front),
    on the same database and limiter storage; low admin limits for the tests of them."""
    rt: Runtime = app.extensions["mailer"]
    settings = dataclasses.replace(rt.settings, trusted_proxies=1)
    with other_app(app, settings, ADMIN_LOGIN_IP_LIMIT="2 per minute") as proxied:
        yield proxied


@pytest.fixture
def client(app: Flask, session: Session):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def cli(app: Flask, session: Session):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture(autouse=True)
def queued_tasks(request: pytest.FixtureRequest) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The tasks the code under test queued (sent after each commit, see mailer.queue).

    A test with a real worker (``celery_worker``) lets them go to the broker. Any other test
    keeps them here, so that a worker some earlier test started never runs a send this test
    drives by hand; the test can assert on what was queued. The sender is put back after
    every test, whatever apps the test built.
    """
    recorded: list[tuple[str, tuple[Any, ...]]] = []
    if "celery_worker" in request.fixturenames:
        previous = queue.set_sender(None)
        queue.set_sender(previous)
    else:
        previous = queue.set_sender(lambda name, args: recorded.append((name, args)))
    yield recorded
    queue.set_sender(previous)


@pytest.fixture(scope="session")
def celery_worker(
    test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    worker = CeleryWorker(test_env, tmp_path_factory.mktemp("worker") / "worker.log")
    worker.start().wait_ready()
    yield worker
    worker.stop()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    server.start()
    yield server
    server.stop()


SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs it with apt"
    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Every context and page it hands out runs axe-core on each page (tests/harness/axe.py).
        yield AxeBrowser(instance)
        instance.close()


@pytest.fixture(autouse=True)
def _axe_violations() -> Iterator[None]:
    """Fails a test whose pages axe-core found WCAG 2.1 A/AA violations in, also when a
    fixture (not the test) closed the context. Set up first, so torn down last."""
    axe.CONTEXTS.clear()
    yield
    found = axe.unreported()
    if found:
        pytest.fail("axe-core found WCAG 2.1 A/AA violations:\n" + "\n".join(found))


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The app on a real HTTP server on loopback, for the browser."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"
