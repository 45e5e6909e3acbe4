"""Task messages to a Redis broker without Celery's per-call message building: the
message a web process sends after a commit (a signup's confirmation, above all), as
Celery 5's producer would put it in the queue's Redis list, prepared once per process and
task name and sent with one ``LPUSH`` on a pooled connection.

Why hand-written: ``send_task`` builds every message from scratch (the route, the
protocol-2 headers, kombu's producer with its retry wrapper, a redis-py client object per
publish, the base64 body) for what is, for one task name in one process, the same JSON
with two fresh uuids and the arguments. Measured (2026-11-28, this machine):
bench/task_publish.py, CPU per message in one process: ``send_task`` 0.34-0.42 ms, this
0.055-0.065 ms, a bare ``LPUSH`` of the same bytes 0.034-0.046 ms; bench/signup_profile.py
(cProfile of the JSON signup on PostgreSQL + Redis): ``send_task`` was 23-25 % of a
signup's CPU, this is ~7 %. bench/README.md, "Signup, fourth pass".

What it covers, and nothing else (Celery sends all the rest):
- a broker URL ``redis://`` (one host, no ``global_keyprefix``), the queue the app's
  routes give (``task_default_queue``: no ``task_routes`` here), priority 0;
- a task name not in this process's registry (the web's case: the worker's tasks modules
  are not imported there; a registered task adds its own options to the headers);
- positional arguments that are all ints (ids; argsrepr is then their JSON);
- no parent task (a worker's task sends through Celery: root and parent ids) and no
  receiver of Celery's before/after_task_publish signals.
It sends at the same point as before: after the commit (mailer.queue). A process that dies
between the commit and the LPUSH loses that confirmation, as it did with ``send_task``
(nothing re-queues it; the reader's next signup after the hour mails one); the window is
shorter by the CPU saved. When Redis refuses the LPUSH, Celery's path sends (and retries,
and fails) as it always did.
tests/queue/test_redis_tasks.py compares the bytes with what ``send_task`` puts in the
list (same uuids), and shows a real worker consuming a message sent this way.
"""

from __future__ import annotations

import json
import logging
import os
from base64 import b64encode
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from celery.utils.nodenames import anon_nodename

log = logging.getLogger(__name__)

# Placeholders in a prepared message; none can occur in a task name or queue name we use.
_TASK_ID = "@@mailer-task-id@@"
_ARGS_REPR = "@@mailer-args-repr@@"
_REPLY_TO = "@@mailer-reply-to@@"
_BODY = "@@mailer-body@@"
_TAG = "@@mailer-delivery-tag@@"
# Protocol 2's third body element when no canvas is involved.
_EMBED = ', {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'


@dataclass(frozen=True)
class _Prepared:
    pid: int
    # The message's JSON cut at the per-call fields, in order: see _template().
    parts: tuple[str, ...]
    fields: tuple[str, ...]


def _template(name: str, queue: str) -> _Prepared:
    """kombu's JSON of the message Celery's ``send_task(name, args=[…])`` builds (headers
    of ``amqp.as_task_v2``, properties of the virtual channel's ``prepare_message`` and
    ``basic_publish`` with the anonymous exchange), with placeholders for what differs
    from one call to the next."""
    message = {
        "body": _BODY,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": name,
            "id": _TASK_ID,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": _TASK_ID,
            "parent_id": None,
            "argsrepr": _ARGS_REPR,
            "kwargsrepr": "{}",
            "origin": anon_nodename(),
            "ignore_result": None,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": _TASK_ID,
            "reply_to": _REPLY_TO,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": _TAG,
        },
    }
    text = json.dumps(message)
    parts: list[str] = []
    fields: list[str] = []
    placeholders = (_TASK_ID, _ARGS_REPR, _REPLY_TO, _BODY, _TAG)
    while True:
        found = [(text.find(p), p) for p in placeholders if p in text]
        if not found:
            parts.append(text)
            break
        at, placeholder = min(found)
        parts.append(text[:at])
        fields.append(placeholder)
        text = text[at + len(placeholder) :]
    return _Prepared(os.getpid(), tuple(parts), tuple(fields))


def usable(celery: Celery) -> bool:
    """Whether this app's broker and routes are ones the prepared messages are right for."""
    conf = celery.conf
    return (
        conf.broker_url.startswith("redis://")
        and ";" not in conf.broker_url
        and "global_keyprefix" not in conf.broker_transport_options
        and not conf.task_routes
        and conf.task_protocol == 2
    )


class RedisTaskPublisher:
    """Sends a Celery app's task messages to its Redis broker, one ``LPUSH`` each."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self.queue: str = celery.conf.task_default_queue
        self._client: Any = None
        self._prepared: dict[str, _Prepared] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            import redis  # here: a worker on another broker never loads it (its memory)

            # The options kombu's transport gets (timeouts, keepalive). redis-py's pool
            # notices a fork and opens new connections in the child.
            self._client = redis.Redis.from_url(
                self.celery.conf.broker_url, **self.celery.conf.broker_transport_options
            )
        return self._client

    def covers(self, name: str, args: tuple[Any, ...]) -> bool:
        """False where Celery's own message would differ from the prepared one."""
        if any(type(arg) is not int for arg in args):
            return False
        if self.celery._tasks.get(name) is not None:  # what send_task itself looks up
            return False
        return not (before_task_publish.receivers or after_task_publish.receivers)

    def message(self, name: str, args: tuple[Any, ...], task_id: str, tag: str) -> str:
        """The message's JSON, as kombu would write it to the list."""
        prepared = self._prepared.get(name)
        if prepared is None or prepared.pid != os.getpid():
            prepared = self._prepared[name] = _template(name, self.queue)
        arguments = json.dumps(list(args))
        body = "[" + arguments + _EMBED
        values = {
            _TASK_ID: task_id,
            _ARGS_REPR: arguments,
            _REPLY_TO: self.celery.thread_oid,
            _BODY: b64encode(body.encode()).decode("ascii"),
            _TAG: tag,
        }
        pieces = [prepared.parts[0]]
        for field, part in zip(prepared.fields, prepared.parts[1:], strict=True):
            pieces.append(values[field])
            pieces.append(part)
        return "".join(pieces)

    def publish(self, name: str, args: tuple[Any, ...]) -> bool:
        """Send ``name(*args)``; False when it is not one this covers, or Redis failed (the
        caller then sends through Celery, with its retries, as before)."""
        if not self.covers(name, args):
            return False
        from redis import RedisError

        payload = self.message(name, args, str(uuid4()), str(uuid4()))
        try:
            self.client.lpush(self.queue, payload)
        except RedisError as exc:
            log.warning(
                "task %s not sent to Redis directly (%s); sending through Celery", name, exc
            )
            return False
        return True
