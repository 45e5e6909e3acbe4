#!/usr/bin/env python
"""CPU per task message sent to a Redis broker: Celery's ``send_task`` against the prepared
message of mailer/redis_tasks.py, and a bare ``LPUSH`` of a message as long for scale.

    .venv/bin/python bench/task_publish.py --redis-url redis://127.0.0.1:6379/10

Same process, same Redis, interleaved rounds; prints the median of each (process time).
The Redis db is flushed at start and end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness.databases import flush_redis  # noqa: E402

NAME = "mailer.send_confirmation"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--n", type=int, default=2000, help="messages a round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mailer-task-publish-"))
    for key in [k for k in os.environ if k.startswith("MAILER_")]:
        del os.environ[key]
    os.environ.update(
        MAILER_DATABASE_URL=f"sqlite:///{work / 'mailer.db'}",
        MAILER_BROKER_URL=args.redis_url,
        MAILER_QUEUE="bench-task-publish",
        MAILER_SECRET_KEY="bench-secret-key-0123456789abcdef",
        MAILER_BASE_URL="https://nyhetsbrev.europakontor.example.no",
        MAILER_FROM="Europakontoret <nyhetsbrev@europakontor.example.no>",
        MAILER_SMTP_HOST="127.0.0.1",
        MAILER_SMTP_PORT="2525",
        MAILER_VAR_DIR=str(work / "var"),
    )
    flush_redis(args.redis_url)
    try:
        from mailer import celery_app
        from mailer.app import create_app

        celery = create_app().extensions["celery"]
        publisher = celery_app._publishers[celery]
        sample = publisher.message(NAME, (123456,), "0" * 36, "0" * 36)
        ways: dict[str, Callable[[], object]] = {
            "send_task": lambda: celery.send_task(NAME, args=[123456]),
            "prepared": lambda: publisher.publish(NAME, (123456,)),
            "bare LPUSH": lambda: publisher.client.lpush(publisher.queue, sample),
        }
        taken: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                way()
                c0 = time.process_time()
                for _ in range(args.n):
                    way()
                taken[name].append((time.process_time() - c0) / args.n * 1000)
                publisher.client.delete(publisher.queue)
        for name, values in taken.items():
            print(f"{name}: {statistics.median(values):.3f} ms CPU per message")
    finally:
        flush_redis(args.redis_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
