"""One send rate shared by every worker process and host (MAILER_SEND_RATE mails a second).

Celery's own ``rate_limit`` is per worker, so it cannot hold a global rate.
Both limiters keep one shared "next free slot" time: each acquire takes the
slot and moves it 1/rate seconds on, atomically (a Lua script in Redis, or an
flock'ed file for the single-machine embedded setup), then waits for its slot.

The wait (and the file limiter's clock) can be given: tests check the waits a limiter asks
for without spending them, and several processes against one slot without real time.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from mailer.config import Settings


class RateLimiter(Protocol):
    def acquire(self) -> None: ...


class Unlimited:
    def acquire(self) -> None:
        return None


# KEYS[1]: the slot key. ARGV[1]: interval in microseconds. Returns the wait in microseconds.
_REDIS_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', 60000)
return slot - now
"""


class RedisRateLimiter:
    def __init__(
        self,
        url: str,
        rate: float,
        key: str = "mailer:send-rate:slot",
        options: dict[str, Any] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import redis

        # options: socket timeouts and keepalives (mailer/config_network.py), so a pacer
        # cut off from Redis fails the batch instead of waiting for ever.
        self.client = redis.Redis.from_url(url, **(options or {}))
        self.interval_us = int(1_000_000 / rate)
        self.key = key
        self.script = self.client.register_script(_REDIS_SLOT)
        self.sleep = sleep

    def acquire(self) -> None:
        wait_us = int(self.script(keys=[self.key], args=[self.interval_us]))
        if wait_us > 0:
            self.sleep(wait_us / 1_000_000)


class FileRateLimiter:
    def __init__(
        self,
        path: Path,
        rate: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)

    def acquire(self) -> None:
        with open(self.path, "r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                now = self.clock()
                text = handle.read().strip()
                slot = max(float(text) if text else 0.0, now)
                handle.seek(0)
                handle.truncate()
                handle.write(repr(slot + self.interval))
                handle.flush()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        if slot > now:
            self.sleep(slot - now)


def limiter_for(settings: Settings) -> RateLimiter:
    if settings.send_rate <= 0:
        return Unlimited()
    if settings.redis_url:
        return RedisRateLimiter(
            settings.redis_url, settings.send_rate, options=settings.network.redis_options()
        )
    return FileRateLimiter(settings.var_dir / "send-rate.slot", settings.send_rate)


# An announced mail's DATA has been answered 354: the server waits for its content while
# the sender paces. A server gives up on a silent client after minutes (Postfix: 300 s);
# announce only when pacing waits seconds at most, so that a content never goes to a
# server that has hung up (which would make it look in doubt).
MIN_RATE_TO_ANNOUNCE = 0.1  # mails a second


def may_announce(settings: Settings) -> bool:
    return settings.send_rate == 0 or settings.send_rate >= MIN_RATE_TO_ANNOUNCE
