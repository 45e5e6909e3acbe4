"""MAILER_SEND_RATE is one rate for every host: a real worker takes its slots from the same
Redis timeline as any other host's sender (issue 14).

Mutants this pins (each applied by hand and seen to fail): the worker ignores
MAILER_SEND_RATE (``limiter_for`` → ``Unlimited()``), or paces per host (the Redis branch
dropped, so a file in the worker's var/ holds its slot, or a key per host).
"""

from __future__ import annotations

import redis

from mailer.sending.pacing import RedisRateLimiter
from tests.harness import factories

RATE = 10.0  # mails a second: 0.1 s between slots, for every host together
INTERVAL_US = 100_000


def test_a_worker_with_a_send_rate_shares_one_timeline_with_other_hosts(make_scenario, session):
    s = make_scenario(own_redis=True)
    assert s.redis is not None
    s.worker_env["MAILER_SEND_RATE"] = str(RATE)
    s.worker_env["MAILER_REDIS_URL"] = s.redis.url
    readers = s.readers(session, 4)
    issue = factories.drafted_issue(session)
    client = redis.Redis.from_url(s.redis.url)
    seconds, micros = client.time()
    before_us = seconds * 1_000_000 + micros

    # Another host sends 5 mails first (its waits recorded, not spent).
    other_host_waits: list[float] = []
    other_host = RedisRateLimiter(s.redis.url, RATE, sleep=other_host_waits.append)
    for _ in range(5):
        other_host.acquire()
    assert len(other_host_waits) == 4

    s.start_worker(concurrency=1)
    s.send(issue.id)
    s.wait_sent(issue.id)

    assert sorted(s.smtp.delivered()) == sorted(readers)
    # The worker's four mails took the next four slots of the same timeline: it moved on
    # by 5 + 4 intervals at least (more only if real time overtook it between mails).
    slot_us = int(client.get("mailer:send-rate:slot"))
    assert slot_us >= before_us + (5 + 4) * INTERVAL_US
    # Nothing per host: the worker kept no slot file of its own.
    assert not (s.settings.var_dir / "send-rate.slot").exists()
    client.close()
