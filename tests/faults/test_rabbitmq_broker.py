"""RabbitMQ as the broker, whatever broker the suite runs on: the machine's RabbitMQ with a
virtual host of this test's own. Celery's recommended settings hold (a quorum queue,
publisher confirms, heartbeats) and acks_late keeps its meaning: a batch whose worker
process is killed mid-send is redelivered by RabbitMQ and finishes, with only the mail in
flight in doubt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mailer.celery_app import rabbitmq_settings
from mailer.sending import batch as sending
from tests.harness import factories
from tests.harness.rabbitmq import Vhost, check_rabbitmq
from tests.harness.send_scenario import assert_one_copy_or_in_doubt, in_flight

RABBITMQ = os.environ.get("MAILER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def vhost() -> Iterator[Vhost]:
    check_rabbitmq(RABBITMQ)
    made = Vhost(RABBITMQ)
    yield made
    made.delete()


def test_a_batch_killed_mid_send_is_redelivered_by_rabbitmq(make_scenario, session, vhost):
    s = make_scenario(broker_url=vhost.url)
    conf = s.app.extensions["celery"].conf
    assert conf.broker_transport_options == {"confirm_publish": True}
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.task_default_queue_type == "quorum"
    assert conf.broker_heartbeat == s.settings.network.broker_heartbeat > 0

    readers = s.readers(session, 60)
    issue = factories.drafted_issue(session)
    held = s.smtp.hold(sending.COMMIT_GROUP + 5)
    worker = s.start_worker(concurrency=2)
    s.send(issue.id)

    peer = s.arrived(held)
    # The queue the worker reads is a quorum queue in our vhost.
    assert vhost.queues()[s.settings.queue] == "quorum"
    assert len(in_flight(s.rows(issue.id))) == sending.COMMIT_GROUP
    worker.kill_child(worker.child_talking_from(peer, s.smtp.port))
    s.smtp.release(held)

    # Unacknowledged (acks_late), the batch goes back to the quorum queue when its process
    # dies; the worker takes it again, replays the dead child's journal and finishes.
    s.wait_sent(issue.id)
    in_doubt = assert_one_copy_or_in_doubt(s, issue.id, readers, connections=1)
    rows = {r.email: r for r in s.rows(issue.id)}
    assert in_doubt == {rows[held.recipient].id}


def test_redis_and_the_filesystem_broker_get_no_rabbitmq_settings(rt):
    import dataclasses

    for url in ("redis://127.0.0.1:6379/3", "filesystem://"):
        assert rabbitmq_settings(dataclasses.replace(rt.settings, broker_url=url)) == {}
    amqp = dataclasses.replace(rt.settings, broker_url="amqp://guest:guest@mq:5672/mailer")
    assert rabbitmq_settings(amqp)["task_create_missing_queue_type"] == "quorum"
