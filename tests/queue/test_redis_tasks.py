"""Task messages sent to Redis with one LPUSH (mailer/redis_tasks.py): the bytes are the
ones Celery's ``send_task`` writes, a real worker runs them, and every other broker keeps
Celery's own path. Each test has a private Redis, so it runs the same on both backends."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from mailer import celery_app
from mailer.redis_tasks import RedisTaskPublisher
from mailer.runtime import Runtime
from mailer.subscribers.models import Subscriber, Subscription
from tests.harness.apps import other_app
from tests.harness.databases import RedisServer
from tests.harness.workers import CeleryWorker

CONFIRMATION = "mailer.send_confirmation"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_app(app: Flask, rt: Runtime, session, redis_server: RedisServer) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    """The suite's app on the private Redis as broker, sending with its own sender."""
    settings = dataclasses.replace(rt.settings, broker_url=redis_server.url)
    with other_app(app, settings, keep_sender=True) as built:
        yield built


def _publisher(flask_app: Flask) -> RedisTaskPublisher:
    publisher = celery_app._publishers.get(flask_app.extensions["celery"])
    assert publisher is not None
    return publisher


@pytest.mark.parametrize("args", [(123,), (1, 2, 98765432109)])
def test_the_prepared_message_is_byte_for_byte_the_one_send_task_writes(
    redis_app: Flask, redis_server: RedisServer, args: tuple[int, ...]
) -> None:
    celery = redis_app.extensions["celery"]
    publisher = _publisher(redis_app)
    assert publisher.covers(CONFIRMATION, args)
    client = redis_server.client()
    celery.send_task(CONFIRMATION, args=list(args))
    [written] = client.lrange(publisher.queue, 0, -1)
    # The two uuids are the only fields drawn per message: ours are given Celery's.
    sent = json.loads(written)
    task_id, tag = sent["headers"]["id"], sent["properties"]["delivery_tag"]
    assert publisher.message(CONFIRMATION, args, task_id, tag).encode() == written


def test_a_signup_published_with_one_lpush_reaches_the_reader_through_a_real_worker(
    redis_app: Flask,
    redis_server: RedisServer,
    session,  # type: ignore[no-untyped-def]
    smtp_sink,  # type: ignore[no-untyped-def]
    test_env: dict[str, str],
    tmp_path: Path,
) -> None:
    publisher = _publisher(redis_app)
    client = redis_server.client()
    response = redis_app.test_client().post(
        "/api/v1/subscribers",
        json={"email": "rask@example.no", "name": "Rask Leser", "consent": True},
    )
    assert response.status_code == 202
    # Sent our way: the message is in the list, and Celery's producer never ran (it would
    # have declared the queue's binding on this connection's first publish).
    [written] = client.lrange(publisher.queue, 0, -1)
    assert json.loads(written)["headers"]["task"] == CONFIRMATION
    assert client.keys("_kombu.binding*") == []

    worker = CeleryWorker({**test_env, "MAILER_BROKER_URL": redis_server.url}, tmp_path / "w.log")
    worker.start().wait_ready()
    try:
        [mail] = smtp_sink.wait_for(1)
    finally:
        worker.stop()
    assert mail.rcpt_tos == ["rask@example.no"]
    assert "/confirm/" in mail.part("text/plain")
    subscription = session.scalars(
        select(Subscription).join(Subscriber).where(Subscriber.email == "rask@example.no")
    ).one()
    assert subscription.status == "pending" and subscription.confirmation_sent_at is not None
    assert client.llen(publisher.queue) == 0


def test_other_brokers_and_registered_tasks_keep_celerys_path(app: Flask, redis_app: Flask) -> None:
    if not app.extensions["mailer"].settings.broker_url.startswith("redis://"):
        # The suite's filesystem or RabbitMQ broker: no publisher at all.
        assert celery_app._publishers.get(app.extensions["celery"]) is None
    publisher = _publisher(redis_app)
    assert not publisher.covers(CONFIRMATION, ("12",))  # not an id: Celery's repr decides

    # In a process with the tasks registered (a worker), the task's own options (time
    # limits, ignore_result) go into the headers: Celery builds those.
    import mailer.subscribers.tasks  # noqa: F401  (registers the shared tasks on finalize)

    redis_app.extensions["celery"].finalize()
    assert not publisher.covers(CONFIRMATION, (1,))


def test_with_redis_down_the_publish_leaves_it_to_celery(
    redis_app: Flask, redis_server: RedisServer
) -> None:
    """No retries of its own: Celery's path (with its publish retries, then its error, as
    before) decides what a signup answers when the broker is down."""
    publisher = _publisher(redis_app)
    assert publisher.publish(CONFIRMATION, (1,))
    redis_server.kill()
    assert not publisher.publish(CONFIRMATION, (2,))
